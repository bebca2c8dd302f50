/**
 * Turns a Datum Instance into the backend's `InstanceDesired`, checking it against what the backend can do.
 * Pure except for reading referenced ConfigMaps/Secrets; every refusal is a catalogue reason plus a message
 * telling the user what to change.
 */
import { createHash } from 'node:crypto';
import type { HttpClient } from '../../runtime/client/client.ts';
import { ForbiddenError, isNotFound } from '../../runtime/client/errors.ts';
import type { KubeObject } from '../../runtime/client/types.ts';
import { CONFIGMAP, SECRET } from '../api/resources.ts';
import type { Instance, InstanceVolume, NetworkPolicyIngressRule } from '../api/types.ts';
import type {
  BackendCapabilities,
  ContainerDesired,
  FileContent,
  IngressRule,
  InstanceDesired,
  InterfaceDesired,
  PortRule,
  RuntimeDesired,
} from '../backend.ts';
import { parseSshKeys, REASON, SSH_KEYS_ANNOTATION } from '../classic.ts';
import { checkFeatures, checkImages } from './capabilities.ts';
import { checkIpBlock, checkItemPath, checkPortRange, checkSshKey, diskSizeGiB } from './input-checks.ts';
import { Refusal } from './refusal.ts';

export { capabilitiesFor, runningCondition } from './capabilities.ts';
export { Refusal };

type Protocol = 'TCP' | 'UDP' | 'SCTP';
const protocolOf = (p?: string): Protocol => {
  const u = (p ?? 'TCP').toUpperCase();
  if (u !== 'TCP' && u !== 'UDP' && u !== 'SCTP')
    throw new Refusal(REASON.InvalidConfiguration, `protocol '${p}' is not one of TCP, UDP, SCTP`);
  return u;
};

export function instanceId(inst: { metadata: { uid?: string } }): string {
  return `inst-${inst.metadata.uid}`;
}

export function templateHashOf(inst: Instance): string {
  return (
    inst.spec?.controller?.templateHash ??
    createHash('sha256')
      .update(JSON.stringify(inst.spec?.runtime ?? {}))
      .digest('hex')
      .slice(0, 16)
  );
}

/**
 * Checks the Instance against the backend's capabilities (for per-ProviderConfig instance types and images,
 * pass `capabilitiesFor(...)`); throws a Refusal for the first problem. Nothing the backend cannot honour
 * passes: unsupported features are refused, not dropped.
 */
export function validate(inst: Instance, caps: BackendCapabilities, backendName: string): void {
  const rt = inst.spec?.runtime;
  if (!rt) throw new Refusal(REASON.InvalidConfiguration, 'spec.runtime is missing');
  const kinds = [rt.sandbox && 'sandbox', rt.virtualMachine && 'virtualMachine'].filter(Boolean) as (
    | 'sandbox'
    | 'virtualMachine'
  )[];
  if (kinds.length !== 1)
    throw new Refusal(
      REASON.InvalidConfiguration,
      'exactly one of spec.runtime.sandbox and spec.runtime.virtualMachine must be set',
    );
  const kind = kinds[0]!;
  if (!caps.runtimes.includes(kind)) {
    throw new Refusal(
      REASON.UnsupportedRuntime,
      `the ${kind} runtime is not supported by the ${backendName} backend; supported: ${caps.runtimes.join(', ')}`,
    );
  }
  const type = rt.resources.instanceType;
  if (!caps.instanceTypes.includes(type)) {
    throw new Refusal(
      REASON.UnknownInstanceType,
      `instance type '${type}' is not offered by this provider; use one of: ${caps.instanceTypes.join(', ')}`,
    );
  }
  for (const v of inst.spec?.volumes ?? []) {
    const vk = v.disk ? 'disk' : v.configMap ? 'configMap' : v.secret ? 'secret' : undefined;
    if (!vk)
      throw new Refusal(
        REASON.InvalidConfiguration,
        `volume '${v.name}' sets none of disk, configMap, secret`,
      );
    if (!caps.volumeKinds.includes(vk))
      throw new Refusal(
        REASON.UnsupportedVolume,
        `volume '${v.name}': ${vk} volumes are not supported by the ${backendName} backend`,
      );
  }
  if (kind === 'virtualMachine') {
    const image = bootImage(inst);
    if (!image)
      throw new Refusal(
        REASON.InvalidConfiguration,
        'the first volume attachment of a virtual machine must be a disk with an image populator (the boot disk)',
      );
    if (caps.images && !caps.images.includes(image)) {
      throw new Refusal(
        REASON.UnknownImage,
        `image '${image}' is not available; use one of: ${caps.images.join(', ')}`,
      );
    }
  }
  const ssh = parseSshKeys(inst.metadata.annotations?.[SSH_KEYS_ANNOTATION]);
  if (ssh.invalid.length)
    throw new Refusal(
      REASON.InvalidConfiguration,
      `annotation ${SSH_KEYS_ANNOTATION} has lines not of the form user:key (starting '${ssh.invalid[0]}')`,
    );
  for (const k of ssh.keys) checkSshKey(k.user, k.key);
  checkFeatures(inst, caps, backendName);
  checkImages(inst);
}

function volumeByName(inst: Instance, name: string): InstanceVolume | undefined {
  return inst.spec?.volumes?.find((v) => v.name === name);
}

export function bootImage(inst: Instance): string | undefined {
  const first = inst.spec?.runtime.virtualMachine?.volumeAttachments[0];
  return first ? volumeByName(inst, first.name)?.disk?.template.spec.populator?.image?.name : undefined;
}

function bootDiskGiB(inst: Instance): number {
  const first = inst.spec?.runtime.virtualMachine?.volumeAttachments[0];
  const q = first
    ? volumeByName(inst, first.name)?.disk?.template.spec.resources?.requests?.storage
    : undefined;
  return q === undefined ? 25 : diskSizeGiB(q); // the ubuntu image populator implies 25Gi upstream
}

/** Reads ConfigMap/Secret data referenced by volumes and env, from the project cluster (not cached). */
class DataReader {
  private readonly client: HttpClient;
  private readonly ns: string;
  private readonly seen = new Map<string, Record<string, string> | undefined>();
  constructor(client: HttpClient, ns: string) {
    this.client = client;
    this.ns = ns;
  }
  async read(
    kind: 'ConfigMap' | 'Secret',
    name: string,
    optional: boolean | undefined,
  ): Promise<Record<string, string> | undefined> {
    // An empty name would make the GET a LIST of the namespace: refuse it before any request.
    if (!name) throw new Refusal(REASON.InvalidConfiguration, `a ${kind} reference has an empty name`);
    const key = `${kind}/${name}`;
    if (this.seen.has(key)) return this.seen.get(key);
    let data: Record<string, string> | undefined;
    try {
      const obj: KubeObject = await this.client.get(kind === 'Secret' ? SECRET : CONFIGMAP, name, this.ns);
      data = {};
      for (const [k, v] of Object.entries<string>(obj.data ?? {}))
        data[k] = kind === 'Secret' ? Buffer.from(v, 'base64').toString('utf8') : v;
    } catch (err) {
      // The provider may read Instance data only where a RoleBinding grants it (never cluster-wide).
      if (err instanceof ForbiddenError)
        throw new Refusal(
          REASON.ReferencedDataForbidden,
          `the provider may not read ${kind} ${this.ns}/${name}: bind ClusterRole datum-provider-instance-data ` +
            `in namespace ${this.ns} (deploy/rbac/project-namespace.yaml)`,
          true,
        );
      if (!isNotFound(err)) throw err;
      if (!optional)
        throw new Refusal(REASON.ReferencedDataNotFound, `${kind} ${this.ns}/${name} does not exist`, true);
    }
    this.seen.set(key, data);
    return data;
  }
}

async function filesFor(
  inst: Instance,
  attachments: { name: string; mountPath?: string }[],
  reader: DataReader,
): Promise<FileContent[]> {
  const files: FileContent[] = [];
  for (const att of attachments) {
    const vol = volumeByName(inst, att.name);
    if (!vol)
      throw new Refusal(REASON.InvalidConfiguration, `volume attachment '${att.name}' names no volume`);
    if (!att.mountPath || vol.disk) continue;
    const src = vol.configMap ?? vol.secret;
    const secret = !!vol.secret;
    const name = vol.configMap?.name ?? vol.secret?.secretName ?? '';
    const data = await reader.read(secret ? 'Secret' : 'ConfigMap', name, src?.optional);
    for (const item of src?.items ?? []) {
      checkItemPath(vol.name, item.path);
      if (data && !(item.key in data) && !src?.optional)
        throw new Refusal(
          REASON.ReferencedDataNotFound,
          `volume '${vol.name}': key '${item.key}' not found in ${secret ? 'Secret' : 'ConfigMap'} ${name}`,
          true,
        );
    }
    for (const [k, v] of Object.entries(data ?? {})) {
      const item = src?.items?.find((i) => i.key === k);
      if (src?.items && !item) continue;
      files.push({
        path: `${att.mountPath.replace(/\/$/, '')}/${item?.path ?? k}`,
        data: Buffer.from(v).toString('base64'),
        mode: item?.mode ?? src?.defaultMode,
        sensitive: secret,
      });
    }
  }
  return files;
}

function ingressRules(
  rules: NetworkPolicyIngressRule[] | undefined,
  ports: Map<string, { port: number; protocol: Protocol }>,
): IngressRule[] {
  return (rules ?? []).map((r) => ({
    from: (r.from ?? []).flatMap((f) => {
      if (!f.ipBlock) return [];
      checkIpBlock(f.ipBlock.cidr, f.ipBlock.except);
      return [{ cidr: f.ipBlock.cidr, except: f.ipBlock.except }];
    }),
    ports: (r.ports ?? []).map((p): PortRule => {
      if (typeof p.port === 'string' && !/^\d+$/.test(p.port)) {
        const named = ports.get(p.port);
        if (!named)
          throw new Refusal(
            REASON.InvalidConfiguration,
            `network policy refers to port '${p.port}', which no container or VM port declares`,
          );
        if (p.endPort !== undefined)
          throw new Refusal(
            REASON.InvalidConfiguration,
            `network policy: endPort needs a numeric port, not '${p.port}'`,
          );
        return {
          protocol: p.protocol ? protocolOf(p.protocol) : named.protocol,
          port: named.port,
          endPort: p.endPort,
        };
      }
      if (p.port !== undefined) checkPortRange(Number(p.port), p.endPort);
      return {
        protocol: protocolOf(p.protocol),
        port: p.port === undefined ? undefined : Number(p.port),
        endPort: p.endPort,
      };
    }),
  }));
}

export async function buildDesired(
  inst: Instance,
  owner: InstanceDesired['owner'],
  nics: { networkId: string; subnetId: string }[],
  client: HttpClient,
): Promise<InstanceDesired> {
  const spec = inst.spec!;
  const reader = new DataReader(client, inst.metadata.namespace!);
  const declared = new Map<string, { port: number; protocol: Protocol }>();
  let runtime: RuntimeDesired;
  if (spec.runtime.sandbox) {
    const containers: ContainerDesired[] = [];
    for (const c of spec.runtime.sandbox.containers) {
      const env: ContainerDesired['env'] = [];
      for (const e of c.env ?? []) {
        if (e.value !== undefined || !e.valueFrom)
          env.push({ name: e.name, value: e.value ?? '', sensitive: false });
        else if (e.valueFrom.configMapKeyRef || e.valueFrom.secretKeyRef) {
          const ref = (e.valueFrom.configMapKeyRef ?? e.valueFrom.secretKeyRef)!;
          const secret = !!e.valueFrom.secretKeyRef;
          const data = await reader.read(secret ? 'Secret' : 'ConfigMap', ref.name ?? '', ref.optional);
          const v = data?.[ref.key];
          if (v === undefined && !ref.optional)
            throw new Refusal(
              REASON.ReferencedDataNotFound,
              `env ${e.name}: key '${ref.key}' not found in ${secret ? 'Secret' : 'ConfigMap'} ${ref.name}`,
              true,
            );
          if (v !== undefined) env.push({ name: e.name, value: v, sensitive: secret });
        } else
          throw new Refusal(
            REASON.InvalidConfiguration,
            `env ${e.name}: only value, configMapKeyRef and secretKeyRef are supported`,
          );
      }
      const ports = (c.ports ?? []).map((p) => ({
        name: p.name,
        port: p.port,
        protocol: protocolOf(p.protocol),
      }));
      for (const p of ports) declared.set(p.name, p);
      containers.push({
        name: c.name,
        image: c.image,
        env,
        ports,
        files: await filesFor(inst, c.volumeAttachments ?? [], reader),
      });
    }
    runtime = { kind: 'sandbox', containers };
  } else {
    const vm = spec.runtime.virtualMachine!;
    const ports = (vm.ports ?? []).map((p) => ({
      name: p.name,
      port: p.port,
      protocol: protocolOf(p.protocol),
    }));
    for (const p of ports) declared.set(p.name, p);
    runtime = {
      kind: 'virtualMachine',
      image: bootImage(inst)!,
      diskSizeGiB: bootDiskGiB(inst),
      ports,
      files: await filesFor(inst, vm.volumeAttachments, reader),
    };
  }
  const interfaces: InterfaceDesired[] = spec.networkInterfaces.map((nic, i) => ({
    networkId: nics[i]!.networkId,
    subnetId: nics[i]!.subnetId,
    ingress: ingressRules(nic.networkPolicy?.ingress, declared),
  }));
  return {
    id: instanceId(inst),
    owner,
    instanceType: spec.runtime.resources.instanceType,
    runtime,
    interfaces,
    sshKeys: parseSshKeys(inst.metadata.annotations?.[SSH_KEYS_ANNOTATION]).keys,
    templateHash: templateHashOf(inst),
  };
}
