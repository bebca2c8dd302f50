/**
 * What a backend can do, enforced before anything is created. Input the backend cannot honour is refused
 * with a reason (never dropped or ignored), capabilities come from the ProviderConfig that serves the
 * Location (instance types and images it adds count), and Running claims no more than the backend observes.
 */
import type { ConditionInput } from '../../runtime/util/conditions.ts';
import type { Instance, Location } from '../api/types.ts';
import {
  type Backend,
  type BackendCapabilities,
  BackendError,
  type BackendFeature,
  type PowerState,
} from '../backend.ts';
import { parseSshKeys, REASON, SSH_KEYS_ANNOTATION } from '../classic.ts';
import { parseImageReference } from '../imageref.ts';
import { CredentialsError, type ProviderConfigResolver } from '../providerconfig.ts';
import type { ProviderSettings } from '../settings.ts';
import { Refusal } from './refusal.ts';

/**
 * The backend's capabilities under the ProviderConfig serving `loc` (or the one named, e.g. where the
 * resource was recorded), for the project (the cluster name; one it may not use is refused): its `config`
 * over `backendConfig`, as the backend will see it in `ctx.config`.
 * A missing or broken ProviderConfig is a Refusal re-checked on a timer (it can be fixed without touching
 * the Instance).
 */
export async function capabilitiesFor(
  p: { backend: Backend; settings: ProviderSettings; resolver: ProviderConfigResolver },
  loc: Location,
  providerConfig?: string,
  project?: string,
): Promise<BackendCapabilities> {
  let pc: Awaited<ReturnType<ProviderConfigResolver['configFor']>>;
  try {
    pc = await p.resolver.configFor(loc, providerConfig, project);
  } catch (err) {
    if (err instanceof CredentialsError) throw new Refusal(err.reason, err.message, true);
    throw err;
  }
  try {
    return p.backend.capabilities({ ...p.settings.backendConfig, ...pc.config });
  } catch (err) {
    if (err instanceof BackendError)
      throw new Refusal(REASON.InvalidConfiguration, `ProviderConfig ${pc.name}: ${err.message}`, true);
    throw err;
  }
}

function requireFeature(caps: BackendCapabilities, f: BackendFeature, backend: string, what: string): void {
  if (!caps.features.includes(f))
    throw new Refusal(
      REASON.UnsupportedFeature,
      `${what} is not supported by the ${backend} backend (feature '${f}'; it offers: ${caps.features.join(', ') || 'none'}) and would be ignored; remove it`,
    );
}

/** Refuses every part of the spec that needs a feature the backend does not declare. */
export function checkFeatures(inst: Instance, caps: BackendCapabilities, backend: string): void {
  inst.spec?.networkInterfaces.forEach((nic, i) => {
    if (!nic.networkPolicy) return;
    requireFeature(caps, 'networkPolicy', backend, `spec.networkInterfaces[${i}].networkPolicy`);
    for (const rule of nic.networkPolicy.ingress ?? [])
      for (const port of rule.ports ?? [])
        if (typeof port.port === 'string' && !/^\d+$/.test(port.port))
          requireFeature(caps, 'namedPorts', backend, `named port '${port.port}' in a network policy`);
  });
  if ((inst.spec?.runtime.sandbox?.imagePullSecrets ?? []).length > 0)
    requireFeature(caps, 'imagePullSecrets', backend, 'spec.runtime.sandbox.imagePullSecrets');
  if (parseSshKeys(inst.metadata.annotations?.[SSH_KEYS_ANNOTATION]).keys.length > 0)
    requireFeature(caps, 'sshKeys', backend, `annotation ${SSH_KEYS_ANNOTATION}`);
}

/** Every container image must be a well-formed reference: a bad one would only fail on the machine. */
export function checkImages(inst: Instance): void {
  for (const c of inst.spec?.runtime.sandbox?.containers ?? []) {
    const r = parseImageReference(c.image);
    if ('error' in r)
      throw new Refusal(
        REASON.InvalidImage,
        `container '${c.name}': image '${c.image}' is not a valid image reference: ${r.error}`,
      );
  }
}

const RUNNING: Record<PowerState, [ConditionInput['status'], string, string]> = {
  pending: ['False', REASON.Starting, 'Instance is starting'],
  running: ['True', REASON.Running, 'Instance is running'],
  stopping: ['False', REASON.Stopping, 'Instance is stopping'],
  stopped: ['False', REASON.Stopped, 'Instance is stopped'],
  terminated: ['False', REASON.Stopped, 'Instance was terminated'],
};

export const MACHINE_ONLY_NOTE = '(the machine; container state is not reported by this backend)';

/**
 * The Running condition for a power state. For a sandbox on a backend that cannot see its containers,
 * `running` is the machine's state, and the message says so rather than claiming the containers run.
 */
export function runningCondition(
  state: PowerState,
  inst: Instance,
  caps: BackendCapabilities,
  why?: { reason?: string; message?: string },
): [ConditionInput['status'], string, string] {
  const [status, reason, message] = RUNNING[state];
  // A backend that knows why the Instance is not running (a crash loop, an image pull failure) says so.
  if (state !== 'running' && why?.reason && /^[A-Za-z][A-Za-z0-9_]{0,127}$/.test(why.reason))
    return [status, why.reason, why.message || message];
  if (state === 'running' && inst.spec?.runtime.sandbox && !caps.reportsContainerState)
    return [status, reason, `${message} ${MACHINE_ONLY_NOTE}`];
  return [status, reason, message];
}
