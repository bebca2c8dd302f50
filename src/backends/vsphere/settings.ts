/**
 * Backend settings from the provider's `backendConfig` merged with a ProviderConfig's `config` (the same keys;
 * docs/vsphere.md). Placement keys take a per-location override `<key>.<CITY>` (e.g. `datacenter.LON`), chosen
 * by the Location's city code.
 */
import { BackendError } from '../../datum/backend.ts';
import type { TlsOptions } from './transport.ts';

export interface InstanceShape {
  cpus: number;
  memoryMiB: number;
}

export interface Placement {
  datacenter: string;
  /** Inventory path of the resource pool, absolute or relative to `<datacenter>/host/`. */
  resourcePool: string;
  /** Datastore name (in `<datacenter>/datastore/`). */
  datastore: string;
  /** VM folder, relative to `<datacenter>/vm/` ('' = the datacenter's VM folder). */
  vmFolder: string;
  /** Distributed switch name (in `<datacenter>/network/`), for `portgroupType: distributed`. */
  dvSwitch: string;
  /** Standard switch on every host of the resource pool's cluster, for `portgroupType: standard`. */
  vswitch: string;
}

export type PortgroupType = 'distributed' | 'standard';

export interface VsphereSettings {
  endpoint: string;
  tls: TlsOptions;
  placement: Placement;
  portgroupType: PortgroupType;
  /** Datum image → template VM path (relative to `<datacenter>/vm/`, or absolute). */
  images: Record<string, string>;
  instanceTypes: Record<string, InstanceShape>;
  vlanRange: [number, number];
  maxAttempts?: number;
}

export const DEFAULT_INSTANCE_TYPES: Record<string, InstanceShape> = {
  'datumcloud/d1-standard-2': { cpus: 2, memoryMiB: 8192 },
};

const PLACEMENT_KEYS = [
  'datacenter',
  'resourcePool',
  'datastore',
  'vmFolder',
  'dvSwitch',
  'vswitch',
] as const;

function invalid(msg: string): BackendError {
  return new BackendError('InvalidConfiguration', `vsphere: ${msg}`);
}

/** `a=b,c=d` (commas or newlines) → record. */
export function parseMap(s: string, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of s.split(/[,\n]/)) {
    const t = part.trim();
    if (!t) continue;
    const i = t.indexOf('=');
    if (i <= 0) throw invalid(`${what}: '${t}' is not key=value`);
    out[t.slice(0, i).trim()] = t.slice(i + 1).trim();
  }
  return out;
}

/** `datumcloud/d1-standard-2=2x8192` (vCPUs x MiB). */
export function parseInstanceTypes(s: string): Record<string, InstanceShape> {
  const out: Record<string, InstanceShape> = {};
  for (const [k, v] of Object.entries(parseMap(s, 'instanceTypes'))) {
    const m = /^(\d+)x(\d+)$/.exec(v);
    if (!m) throw invalid(`instanceTypes: '${k}=${v}' must be <vCPUs>x<MiB>, e.g. 2x8192`);
    out[k] = { cpus: Number(m[1]), memoryMiB: Number(m[2]) };
  }
  return out;
}

export function resolveSettings(
  config: Readonly<Record<string, string>>,
  cityCode?: string,
): VsphereSettings {
  const get = (k: string) => (cityCode ? config[`${k}.${cityCode}`] : undefined) ?? config[k];
  const endpoint = config.endpoint ?? '';
  if (endpoint && !/^https:\/\//.test(endpoint))
    throw invalid(`endpoint '${endpoint}' must be an https:// URL (e.g. https://vcenter.example/sdk)`);
  const placement = {} as Placement;
  const defaults: Placement = {
    datacenter: 'DC0',
    resourcePool: 'DC0_C0/Resources',
    datastore: 'LocalDS_0',
    vmFolder: '',
    dvSwitch: 'DVS0',
    vswitch: 'vSwitch0',
  };
  for (const k of PLACEMENT_KEYS) placement[k] = get(k) ?? defaults[k];
  const range = (config.vlanRange ?? '100-3999').split('-').map(Number);
  if (range.length !== 2 || !(range[0]! >= 1 && range[1]! <= 4094 && range[0]! <= range[1]!))
    throw invalid(`vlanRange '${config.vlanRange}' must be <first>-<last> within 1-4094`);
  const portgroupType = (config.portgroupType ?? 'distributed') as PortgroupType;
  if (portgroupType !== 'distributed' && portgroupType !== 'standard')
    throw invalid(`portgroupType '${config.portgroupType}' must be 'distributed' or 'standard'`);
  return {
    endpoint,
    portgroupType,
    tls: {
      caPem: config.caBundle || undefined,
      fingerprintSha256: config.fingerprintSha256 || undefined,
    },
    placement,
    images: config.images ? parseMap(config.images, 'images') : {},
    instanceTypes: {
      ...DEFAULT_INSTANCE_TYPES,
      ...(config.instanceTypes ? parseInstanceTypes(config.instanceTypes) : {}),
    },
    vlanRange: [range[0]!, range[1]!],
    maxAttempts: config.maxAttempts ? Number(config.maxAttempts) : undefined,
  };
}

export function requireEndpoint(s: VsphereSettings): string {
  if (!s.endpoint) throw invalid("no 'endpoint' in the backend config (the vCenter SDK URL)");
  return s.endpoint;
}
