/**
 * The Proxmox backend's settings: the ProviderConfig `config` map (over the provider's `backendConfig`) plus
 * the credentials Secret. Maps are `key=value` pairs separated by commas or newlines. See docs/proxmox.md.
 */
import { BackendError, type Credentials } from '../../datum/backend.ts';
import { parseIntIn, parseMap } from '../common/config.ts';
import type { TlsTrust } from './transport.ts';

export interface InstanceShape {
  cores: number;
  memoryMiB: number;
}

export interface ProxmoxSettings {
  endpoint: string;
  /** Datum image → VM template id. */
  images: Record<string, number>;
  /** Datum instance type → cores and memory. */
  instanceTypes: Record<string, InstanceShape>;
  /** OCI image reference → LXC OS template volume; empty: sandboxes are not offered. */
  containerImages: Record<string, string>;
  /** Location topology value (of `placementKey`) → candidate nodes. */
  placement: Record<string, string[]>;
  placementKey: string;
  /** Nodes for a Location with no placement entry; empty: such a Location is refused. */
  defaultNodes: string[];
  storage: string;
  bridge: string;
  /** `bridge`: a VLAN tag on `bridge`; `sdn`: an SDN vnet in `sdnZone` (see sdn.ts). */
  networkMode: 'bridge' | 'sdn';
  sdnZone?: string;
  vlanRange: [number, number];
  vmidRange: [number, number];
  ciUser: string;
  containerDiskGiB: number;
  shutdownTimeoutSeconds: number;
  maxAttempts: number;
  requestTimeoutMs: number;
}

export const DEFAULT_INSTANCE_TYPES: Record<string, InstanceShape> = {
  'datumcloud/d1-standard-2': { cores: 2, memoryMiB: 8192 },
};

export const PLACEMENT_KEY = 'topology.datum.net/city-code';

function invalid(msg: string): BackendError {
  return new BackendError('InvalidConfiguration', msg);
}

function range(text: string, what: string, min: number, max: number): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(text.trim());
  if (!m) throw invalid(`config "${what}" must be a range like ${min}-${max}`);
  const lo = parseIntIn(m[1]!, what, min, max);
  const hi = parseIntIn(m[2]!, what, min, max);
  if (hi < lo) throw invalid(`config "${what}": the range is empty`);
  return [lo, hi];
}

const nodeList = (v: string) =>
  v
    .split('|')
    .map((s) => s.trim())
    .filter(Boolean);

export function resolveSettings(config: Readonly<Record<string, string>>): ProxmoxSettings {
  const images: Record<string, number> = {};
  for (const [k, v] of Object.entries(parseMap(config.images ?? '', 'images')))
    images[k] = parseIntIn(v, `images.${k}`, 100, 999_999_999);
  const instanceTypes = { ...DEFAULT_INSTANCE_TYPES };
  for (const [k, v] of Object.entries(parseMap(config.instanceTypes ?? '', 'instanceTypes'))) {
    const m = /^(\d+):(\d+)$/.exec(v);
    if (!m) throw invalid(`config "instanceTypes": "${k}" must map to <cores>:<memory MiB>, e.g. 2:4096`);
    instanceTypes[k] = { cores: Number(m[1]), memoryMiB: Number(m[2]) };
  }
  const placement: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(parseMap(config.placement ?? '', 'placement')))
    placement[k] = nodeList(v);
  const s: ProxmoxSettings = {
    endpoint: config.endpoint ?? '',
    images,
    instanceTypes,
    containerImages: parseMap(config.containerImages ?? '', 'containerImages'),
    placement,
    placementKey: config.placementKey || PLACEMENT_KEY,
    defaultNodes: nodeList(config.nodes ?? ''),
    storage: config.storage || 'local-lvm',
    bridge: config.bridge || 'vmbr0',
    networkMode: config.networkMode === 'sdn' ? 'sdn' : 'bridge',
    sdnZone: config.sdnZone || undefined,
    vlanRange: config.vlanRange ? range(config.vlanRange, 'vlanRange', 2, 4094) : [100, 3999],
    vmidRange: config.vmidRange ? range(config.vmidRange, 'vmidRange', 100, 999_999_999) : [100_000, 899_999],
    ciUser: config.ciUser || 'datum',
    containerDiskGiB: config.containerDiskGiB
      ? parseIntIn(config.containerDiskGiB, 'containerDiskGiB', 1, 65536)
      : 8,
    shutdownTimeoutSeconds: config.shutdownTimeoutSeconds
      ? parseIntIn(config.shutdownTimeoutSeconds, 'shutdownTimeoutSeconds', 1, 3600)
      : 60,
    maxAttempts: config.maxAttempts ? parseIntIn(config.maxAttempts, 'maxAttempts', 1, 10) : 4,
    requestTimeoutMs: config.requestTimeoutMs
      ? parseIntIn(config.requestTimeoutMs, 'requestTimeoutMs', 100, 600_000)
      : 30_000,
  };
  if (config.networkMode && config.networkMode !== 'bridge' && config.networkMode !== 'sdn')
    throw invalid(`config "networkMode" must be "bridge" (Linux bridge + VLAN tag) or "sdn" (SDN vnets)`);
  if (s.networkMode === 'sdn' && !s.sdnZone)
    throw invalid(
      'config "sdnZone" is required with networkMode=sdn: the VLAN (or QinQ/VXLAN) zone vnets go in',
    );
  // PVE checks the zone itself (it must exist); here only that it is safe in a URL and a form.
  if (s.sdnZone !== undefined && !/^[A-Za-z0-9_.-]{1,32}$/.test(s.sdnZone))
    throw invalid('config "sdnZone" is not an SDN zone id');
  if (!/^[A-Za-z][A-Za-z0-9._-]*$/.test(s.bridge)) throw invalid(`config "bridge" is not a bridge name`);
  if (!/^[A-Za-z][A-Za-z0-9._-]*$/.test(s.storage)) throw invalid(`config "storage" is not a storage id`);
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(s.ciUser)) throw invalid(`config "ciUser" is not a user name`);
  return s;
}

export interface ProxmoxCredentials {
  tokenId: string;
  tokenSecret: string;
  trust: TlsTrust;
}

/** Secret keys `tokenId`, `tokenSecret`, and optionally `fingerprint` / `caBundle` (which win over config). */
export function resolveCredentials(
  creds: Credentials,
  config: Readonly<Record<string, string>>,
): ProxmoxCredentials {
  if (creds.source !== 'Secret')
    throw invalid('the Proxmox backend needs a credentials Secret with tokenId and tokenSecret');
  const { tokenId, tokenSecret } = creds.data;
  if (!tokenId || !tokenSecret)
    throw invalid('the credentials Secret must hold tokenId (user@realm!name) and tokenSecret');
  if (!/^[^\s!@]+@[^\s!@]+![A-Za-z][A-Za-z0-9._-]*$/.test(tokenId))
    throw invalid('the credentials Secret: tokenId must look like user@realm!tokenname');
  const fingerprint = creds.data.fingerprint || config.fingerprint;
  const ca = creds.data.caBundle || config.caBundle;
  const trust: TlsTrust = fingerprint
    ? { kind: 'fingerprint', sha256: fingerprint }
    : ca
      ? { kind: 'ca', ca }
      : { kind: 'system' };
  return { tokenId, tokenSecret, trust };
}
