/**
 * ProviderConfig resolution: which ProviderConfig serves a Location, and the credentials it names.
 * Secret values go to the backend only; errors name the Secret, never its data, and every resolved value
 * is registered with the redactor so it cannot leak into a log line, event or condition message.
 */
import type { HttpClient } from '../runtime/client/client.ts';
import { isNotFound } from '../runtime/client/errors.ts';
import type { Condition, KubeObject, ResourceType } from '../runtime/client/types.ts';
import { setCondition } from '../runtime/util/conditions.ts';
import type { Location } from './api/types.ts';
import type { Credentials } from './backend.ts';
import { CITY_CODE_KEY } from './classic.ts';
import { Redactor, registerSecretData } from './redact.ts';
import { PROVIDER_GROUP, type ProviderSettings } from './settings.ts';

export const PROVIDER_CONFIG: ResourceType = {
  group: PROVIDER_GROUP,
  version: 'v1alpha1',
  kind: 'ProviderConfig',
  plural: 'providerconfigs',
  namespaced: false,
};
const SECRET: ResourceType = {
  group: '',
  version: 'v1',
  kind: 'Secret',
  plural: 'secrets',
  namespaced: true,
};

export interface ProviderConfig extends KubeObject {
  spec: {
    credentials: {
      source: 'Secret' | 'InjectedIdentity';
      secretRef?: { namespace: string; name: string; key?: string };
    };
    region?: string;
    config?: Record<string, string>;
    locations?: { names?: string[]; cityCodes?: string[] };
  };
}

export interface ResolvedConfig {
  name: string;
  credentials: Credentials;
  region?: string;
  config: Record<string, string>;
}

export class CredentialsError extends Error {
  override name = 'CredentialsError';
}

export class ProviderConfigResolver {
  private readonly home: HttpClient;
  private readonly settings: ProviderSettings;
  readonly redactor: Redactor;

  constructor(home: HttpClient, settings: ProviderSettings, redactor = new Redactor()) {
    this.home = home;
    this.settings = settings;
    this.redactor = redactor;
  }

  /** The ProviderConfig for a Location: one that lists it (by name or city code), else the default. */
  async forLocation(loc: Location): Promise<ResolvedConfig> {
    const all = (
      await this.home
        .list<ProviderConfig>(PROVIDER_CONFIG)
        .catch((err) => (isNotFound(err) ? { items: [] } : Promise.reject(err)))
    ).items;
    const key = `${loc.metadata.namespace}/${loc.metadata.name}`;
    const city = loc.spec?.topology?.[CITY_CODE_KEY];
    const pc =
      all.find((p) => p.spec.locations?.names?.includes(key)) ??
      all.find((p) => city && p.spec.locations?.cityCodes?.includes(city)) ??
      all.find((p) => p.metadata.name === this.settings.defaultProviderConfig);
    if (!pc) return { name: '(none)', credentials: { source: 'InjectedIdentity' }, config: {} };
    return this.resolve(pc);
  }

  /** Resolves and records the outcome on the ProviderConfig's `Ready` condition (reason, never a value). */
  async resolve(pc: ProviderConfig): Promise<ResolvedConfig> {
    try {
      const rc = await this.resolveCredentials(pc);
      await this.report(
        pc,
        'True',
        'CredentialsResolved',
        `credentials from ${pc.spec.credentials.source} resolve`,
      );
      return rc;
    } catch (err) {
      if (err instanceof CredentialsError)
        await this.report(pc, 'False', 'CredentialsUnavailable', err.message);
      throw err;
    }
  }

  private async report(
    pc: ProviderConfig,
    status: 'True' | 'False',
    reason: string,
    message: string,
  ): Promise<void> {
    const cur = (pc.status?.conditions as Condition[] | undefined)?.find((c) => c.type === 'Ready');
    if (cur?.status === status && cur.reason === reason && cur.message === message) return;
    const conditions = setCondition(pc.status?.conditions, {
      type: 'Ready',
      status,
      reason,
      message: this.redactor.redact(message),
      observedGeneration: pc.metadata.generation,
    });
    await this.home
      .patchStatus(PROVIDER_CONFIG, pc.metadata.name!, undefined, {
        type: 'merge',
        patch: { status: { conditions } },
      })
      .catch(() => {});
  }

  private async resolveCredentials(pc: ProviderConfig): Promise<ResolvedConfig> {
    const base = { name: pc.metadata.name!, region: pc.spec.region, config: pc.spec.config ?? {} };
    if (pc.spec.credentials.source === 'InjectedIdentity')
      return { ...base, credentials: { source: 'InjectedIdentity' } };
    const ref = pc.spec.credentials.secretRef;
    if (!ref)
      throw new CredentialsError(
        `ProviderConfig ${pc.metadata.name}: credentials.source is Secret but secretRef is missing`,
      );
    let secret: KubeObject;
    try {
      secret = await this.home.get(SECRET, ref.name, ref.namespace);
    } catch (err) {
      if (isNotFound(err))
        throw new CredentialsError(
          `ProviderConfig ${pc.metadata.name}: Secret ${ref.namespace}/${ref.name} not found`,
        );
      throw new CredentialsError(
        `ProviderConfig ${pc.metadata.name}: cannot read Secret ${ref.namespace}/${ref.name} (${(err as Error).name})`,
      );
    }
    const data: Record<string, string> = {};
    for (const [k, v] of Object.entries<string>(secret.data ?? {}))
      data[k] = Buffer.from(v, 'base64').toString('utf8');
    for (const [k, v] of Object.entries<string>(secret.stringData ?? {})) data[k] = v;
    let out = data;
    if (ref.key) {
      if (!(ref.key in data))
        throw new CredentialsError(
          `ProviderConfig ${pc.metadata.name}: Secret ${ref.namespace}/${ref.name} has no key '${ref.key}'`,
        );
      out = parseKeyed(data[ref.key]!);
    }
    // Every key of the Secret (not only the ones used) and each line of multi-line values (PEM keys).
    registerSecretData(this.redactor, secret);
    this.redactor.addAll(Object.values(out));
    return { ...base, credentials: { source: 'Secret', data: out } };
  }
}

/** A single Secret key holding `k=v` lines or a JSON object (as AWS credential files and tooling produce). */
function parseKeyed(text: string): Record<string, string> {
  const t = text.trim();
  if (t.startsWith('{')) {
    try {
      return Object.fromEntries(Object.entries(JSON.parse(t)).map(([k, v]) => [k, String(v)]));
    } catch {
      throw new CredentialsError('credential key holds malformed JSON');
    }
  }
  const out: Record<string, string> = {};
  for (const line of t.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}
