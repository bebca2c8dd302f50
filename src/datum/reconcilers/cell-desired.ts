/**
 * What the cell generation adds to turning an Instance into `InstanceDesired`: the InstanceType catalog
 * (sizing, lifecycle phase, the backend's type), envFrom (expanded into env here), and refusals for cell
 * fields no backend shape carries. The rest is the classic translation (instance-desired.ts), unchanged.
 */
import type { HttpClient } from '../../runtime/client/client.ts';
import { isNotFound } from '../../runtime/client/errors.ts';
import type { KubeObject } from '../../runtime/client/types.ts';
import type { CellInstance, InstanceType } from '../api/cell-types.ts';
import { CONFIGMAP, SECRET } from '../api/resources.ts';
import type { Instance } from '../api/types.ts';
import type { BackendCapabilities, ContainerDesired, InstanceDesired } from '../backend.ts';
import { REASON } from '../classic.ts';
import { Refusal } from './refusal.ts';

export interface ResolvedType {
  /** The backend's name for it (as its capabilities list it). */
  backendType: string;
  resources: { cpu: string; memory: string };
}

/**
 * The Instance's type from the cell's InstanceType catalog. Catalog names are DNS labels
 * (`datumcloud-d1-standard-2`); backends list Datum's older form (`datumcloud/d1-standard-2`): either matches.
 */
export function resolveInstanceType(
  name: string,
  catalog: (name: string) => InstanceType | undefined,
  caps: BackendCapabilities,
): ResolvedType {
  const it = catalog(name);
  if (!it?.spec)
    throw new Refusal(
      REASON.UnknownInstanceType,
      `InstanceType '${name}' is not in this cell's catalog`,
      true, // the catalog may still be arriving: look again when it changes
    );
  if (it.spec.lifecycle.phase === 'Disabled')
    throw new Refusal(
      REASON.UnknownInstanceType,
      `InstanceType '${name}' is Disabled${it.spec.lifecycle.replacementInstanceType ? `; use ${it.spec.lifecycle.replacementInstanceType}` : ''}`,
    );
  const slashed = name.replace('-', '/');
  const backendType = [name, slashed].find((n) => caps.instanceTypes.includes(n));
  if (!backendType)
    throw new Refusal(
      REASON.UnknownInstanceType,
      `InstanceType '${name}' is not offered by this provider; it offers: ${caps.instanceTypes.join(', ')}`,
    );
  return {
    backendType,
    resources: { cpu: String(it.spec.resources.cpu), memory: String(it.spec.resources.memory) },
  };
}

/** Cell fields with no place in the backend shapes: refused, never dropped. */
export function checkCellFields(inst: CellInstance): void {
  for (const c of inst.spec?.runtime.sandbox?.containers ?? []) {
    if (c.command?.length || c.args?.length)
      throw new Refusal(
        REASON.UnsupportedFeature,
        `container '${c.name}': command and args are not supported by this provider; bake them into the image`,
      );
    for (const e of c.env ?? [])
      if (e.valueFrom?.fileKeyRef)
        throw new Refusal(
          REASON.UnsupportedFeature,
          `container '${c.name}': env ${e.name} uses fileKeyRef, which this provider does not support`,
        );
  }
}

/** The Instance in the classic shape the shared translation reads, with the backend's instance type. */
export function asClassic(inst: CellInstance, backendType: string): Instance {
  const spec = inst.spec!;
  return {
    ...inst,
    spec: {
      ...spec,
      location: undefined,
      runtime: { ...spec.runtime, resources: { ...spec.runtime.resources, instanceType: backendType } },
    },
  } as Instance;
}

async function readData(
  client: HttpClient,
  kind: 'ConfigMap' | 'Secret',
  name: string,
  ns: string,
  optional: boolean | undefined,
): Promise<Record<string, string> | undefined> {
  try {
    const obj: KubeObject = await client.get(kind === 'Secret' ? SECRET : CONFIGMAP, name, ns);
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries<string>(obj.data ?? {}))
      out[k] = kind === 'Secret' ? Buffer.from(v, 'base64').toString('utf8') : v;
    return out;
  } catch (err) {
    if (!isNotFound(err)) throw err;
    if (optional) return undefined;
    throw new Refusal(REASON.ReferencedDataNotFound, `${kind} ${ns}/${name} does not exist`, true);
  }
}

/**
 * envFrom, expanded into each container's env as Kubernetes does: every key, with the prefix, before the
 * container's own env (which wins on a clash). Secret values stay marked sensitive.
 */
export async function expandEnvFrom(
  inst: CellInstance,
  desired: InstanceDesired,
  client: HttpClient,
): Promise<void> {
  if (desired.runtime.kind !== 'sandbox') return;
  for (const c of inst.spec?.runtime.sandbox?.containers ?? []) {
    if (!c.envFrom?.length) continue;
    const target: ContainerDesired | undefined = desired.runtime.containers.find((x) => x.name === c.name);
    if (!target) continue;
    const expanded: ContainerDesired['env'] = [];
    for (const src of c.envFrom) {
      const ref = src.configMapRef ?? src.secretRef;
      if (!ref?.name)
        throw new Refusal(REASON.InvalidConfiguration, `container '${c.name}': envFrom names no source`);
      const secret = !!src.secretRef;
      const data = await readData(
        client,
        secret ? 'Secret' : 'ConfigMap',
        ref.name,
        inst.metadata.namespace!,
        ref.optional,
      );
      for (const [k, v] of Object.entries(data ?? {}))
        expanded.push({ name: `${src.prefix ?? ''}${k}`, value: v, sensitive: secret });
    }
    const own = new Set(target.env.map((e) => e.name));
    target.env = [...expanded.filter((e) => !own.has(e.name)), ...target.env];
  }
}
