/**
 * The GCP backend's settings: operator-level options (constructor) overlaid by the ProviderConfig's `config`
 * map per call. Maps are `key=value` pairs separated by commas or newlines, or a JSON object. See docs/gcp.md.
 */
import { BackendError } from '../../datum/backend.ts';
import { parseBool, parseIntIn, parseMap } from '../common/config.ts';

export interface GcpSettings {
  /** Project id; else the service-account key's `project_id`, else GOOGLE_CLOUD_PROJECT. */
  project?: string;
  region: string;
  /** Zone for a Location no `zones` entry names; default `<region>-a`. */
  zone?: string;
  /** Location city code, topology value or `namespace/name` → zone. */
  zones: Record<string, string>;
  /** Endpoint override: `http://127.0.0.1:PORT` (emulator, no credentials sent) or an https endpoint. */
  endpoint?: string;
  /** Datum image → GCE image (`projects/…/global/images/…` or `…/images/family/…`). */
  images: Record<string, string>;
  /** Datum instance type → GCE machine type. */
  instanceTypes: Record<string, string>;
  /** Image of the host running sandbox containers: Container-Optimized OS (cloud-init and docker). */
  containerHostImage: string;
  containerHostDiskGiB: number;
  /** A public IPv4 (ONE_TO_ONE_NAT) on each instance's first interface (feature `externalIP`). */
  assignExternalIp: boolean;
  /** Service account attached to instances (needed to read Secret Manager at boot). */
  serviceAccount?: string;
  /** Sensitive files and env go through Secret Manager (needs `serviceAccount`); else they are refused. */
  secretManager: boolean;
  /** How long one reconcile waits for an operation before reporting "in progress" (seconds). */
  operationWaitSeconds: number;
  /** Attempts per API call for throttling and server errors (every mutation carries a requestId). */
  maxAttempts: number;
}

export const DEFAULT_REGION = 'us-central1';
export const DEFAULT_IMAGES: Record<string, string> = {
  'datumcloud/ubuntu-2204-lts': 'projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts',
};
export const DEFAULT_INSTANCE_TYPES: Record<string, string> = { 'datumcloud/d1-standard-2': 'n2-standard-2' };
export const DEFAULT_CONTAINER_HOST = 'projects/cos-cloud/global/images/family/cos-stable';

export type GcpBackendOptions = Partial<Omit<GcpSettings, 'images' | 'instanceTypes' | 'zones'>> & {
  images?: Record<string, string>;
  instanceTypes?: Record<string, string>;
  zones?: Record<string, string>;
  /** Value identifying this installation on every resource; default: the installation identity. */
  managedBy?: string;
};

const invalid = (msg: string) => new BackendError('InvalidConfiguration', msg);

const ZONE = /^[a-z]+-[a-z]+\d+-[a-z]$/;
const REGION = /^[a-z]+-[a-z]+\d+$/;

/** Options + ProviderConfig `config` + the context's region → effective settings. */
export function resolveSettings(
  opts: GcpBackendOptions,
  config: Readonly<Record<string, string>>,
  ctxRegion: string | undefined,
): GcpSettings {
  const s: GcpSettings = {
    project: config.project || opts.project,
    region: ctxRegion || config.region || opts.region || DEFAULT_REGION,
    zone: config.zone || opts.zone,
    zones: { ...(opts.zones ?? {}) },
    endpoint: config.endpoint || opts.endpoint,
    images: { ...DEFAULT_IMAGES, ...(opts.images ?? {}) },
    instanceTypes: { ...DEFAULT_INSTANCE_TYPES, ...(opts.instanceTypes ?? {}) },
    containerHostImage: config.containerHostImage || opts.containerHostImage || DEFAULT_CONTAINER_HOST,
    containerHostDiskGiB: opts.containerHostDiskGiB ?? 20,
    assignExternalIp: opts.assignExternalIp ?? true,
    serviceAccount: config.serviceAccount || opts.serviceAccount,
    secretManager: opts.secretManager ?? false,
    operationWaitSeconds: opts.operationWaitSeconds ?? 20,
    maxAttempts: opts.maxAttempts ?? 4,
  };
  if (config.zones) Object.assign(s.zones, parseMap(config.zones, 'zones'));
  if (config.images) Object.assign(s.images, parseMap(config.images, 'images'));
  if (config.instanceTypes) Object.assign(s.instanceTypes, parseMap(config.instanceTypes, 'instanceTypes'));
  if (config.containerHostDiskGiB)
    s.containerHostDiskGiB = parseIntIn(config.containerHostDiskGiB, 'containerHostDiskGiB', 10, 65536);
  if (config.assignExternalIp) s.assignExternalIp = parseBool(config.assignExternalIp, 'assignExternalIp');
  if (config.secretManager) s.secretManager = parseBool(config.secretManager, 'secretManager');
  if (config.operationWaitSeconds)
    s.operationWaitSeconds = parseIntIn(config.operationWaitSeconds, 'operationWaitSeconds', 0, 120);
  if (config.maxAttempts) s.maxAttempts = parseIntIn(config.maxAttempts, 'maxAttempts', 1, 10);
  for (const z of [s.zone, ...Object.values(s.zones)])
    if (z !== undefined && !ZONE.test(z)) throw invalid(`zone "${z}" is not a GCE zone name`);
  if (s.project !== undefined && !/^[a-z][-a-z0-9]{4,28}[a-z0-9]$/.test(s.project))
    throw invalid(`project "${s.project}" is not a GCP project id`);
  if (s.endpoint) checkEndpoint(s.endpoint);
  return s;
}

/** Plain http only on loopback (an emulator): credentials must never travel unencrypted. */
export function checkEndpoint(endpoint: string): URL {
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    throw invalid(`config "endpoint" is not a URL`);
  }
  if (u.protocol === 'http:' && !['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname))
    throw invalid('config "endpoint": plain http is only allowed on loopback (an emulator)');
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw invalid('config "endpoint" must be http(s)');
  return u;
}

/** The zone a Location's resources go to: the first `zones` entry naming it, else the default zone. */
export function zoneFor(
  s: GcpSettings,
  loc: { namespace: string; name: string; cityCode?: string; topology: Record<string, string> },
): string {
  const keys = [loc.cityCode, `${loc.namespace}/${loc.name}`, ...Object.values(loc.topology ?? {})].filter(
    (k): k is string => !!k,
  );
  for (const k of keys) if (s.zones[k]) return s.zones[k]!;
  if (s.zone) return s.zone;
  // The region (a Location's topology region overrides the ProviderConfig's) matters only here.
  if (!REGION.test(s.region))
    throw invalid(
      `region "${s.region}" is not a GCE region name, and config "zones" maps no zone for Location ${loc.namespace}/${loc.name}`,
    );
  return `${s.region}-a`;
}

export const regionOfZone = (zone: string) => zone.replace(/-[a-z]$/, '');
