/**
 * Provider-wide settings: a versioned file (`kind: ProviderSettings`) plus flags, with defaults that work.
 * Validation errors name the field and what is accepted.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

export const PROVIDER_GROUP = 'infra.provider-ts.io';
export const SETTINGS_API_VERSION = `${PROVIDER_GROUP}/v1alpha1`;

export type Generation = 'classic' | 'cell';

export interface ProviderSettings {
  /**
   * Which Datum generation the provider speaks: `classic` (compute <= v0.6, NSO <= v0.21: Locations by class,
   * networks programmed) or `cell` (compute v0.8+, NSO v0.26+: a controller inside a cell serving a
   * RuntimeClass). Unset: classic.
   */
  generation?: Generation;
  /** Cell generation: the RuntimeClass served and the controller name its RuntimeClass objects carry. */
  cell?: CellSettings;
  /** Locations of this class are ours (classic ownership rule). */
  locationClassName: string;
  /** Which backend realizes resources: `inmemory` or `aws`. */
  backend: string;
  discovery: {
    mode: 'single' | 'milo';
    projectKubeconfig?: string;
    discoveryKubeconfig?: string;
    labelSelector?: string;
  };
  /** Where ProviderConfigs and credential Secrets live; default: the project cluster in single mode. */
  homeKubeconfig?: string;
  /** ProviderConfig used when none names the Location (may be absent: then injected identity). */
  defaultProviderConfig: string;
  /**
   * Project (cluster name) -> the ProviderConfig serving its objects, for projects whose Milo Project carries
   * no `infra.provider-ts.io/provider-config` label (src/datum/project-providerconfig.ts).
   */
  projectProviderConfigs?: Record<string, string>;
  /**
   * This installation's identity, tagged on every backend resource; the orphan sweep only ever looks at
   * resources with it. Default: derived from the home cluster's kube-system UID and the leader-election
   * Lease (namespace/name), so two installations never share one, even in the same account.
   */
  installationId?: string;
  metricsBindAddress?: string;
  healthProbeBindAddress?: string;
  leaderElection: {
    enabled: boolean;
    namespace: string;
    name: string;
    leaseDurationSeconds: number;
    renewDeadlineSeconds: number;
    retryPeriodSeconds: number;
  };
  /** Datum image name -> platform image (e.g. an AMI id). */
  imageMap: Record<string, string>;
  /** Datum instance type -> platform instance type. */
  instanceTypeMap: Record<string, string>;
  /** How often the orphan sweep runs, and how often a converged object is re-checked for drift. */
  sweepIntervalSeconds: number;
  resyncSeconds: number;
  maxConcurrentReconciles: number;
  /** Backend-specific settings (e.g. `endpoint` for an emulator). */
  backendConfig: Record<string, string>;
}

export interface CellSettings {
  /** RuntimeClasses whose `spec.controllerName` is this are ours: we write their Accepted condition. */
  controllerName: string;
  /** The RuntimeClass (name) this installation serves; its Instances are ours. */
  runtimeClass: string;
  /**
   * Whether the cell has tenant VPC networking (NSO's NetworkInterfaces): then compute publishes addresses
   * and the provider writes none. Default false.
   */
  tenantNetworking: boolean;
}

export function defaultCellSettings(): CellSettings {
  return {
    controllerName: `${PROVIDER_GROUP}/datum-provider-ts`,
    runtimeClass: 'datum-provider-ts',
    tenantNetworking: false,
  };
}

/** The generation a settings object selects (classic unless it says otherwise). */
export function generationOf(s: Pick<ProviderSettings, 'generation'>): Generation {
  return s.generation ?? 'classic';
}

export function defaultSettings(): ProviderSettings {
  return {
    locationClassName: 'datum-provider-ts',
    backend: 'inmemory',
    discovery: { mode: 'single' },
    defaultProviderConfig: 'default',
    leaderElection: {
      enabled: false,
      namespace: 'datum-provider-system',
      name: 'datum-provider-ts-leader',
      leaseDurationSeconds: 15,
      renewDeadlineSeconds: 10,
      retryPeriodSeconds: 2,
    },
    imageMap: {},
    instanceTypeMap: {},
    sweepIntervalSeconds: 300,
    resyncSeconds: 600,
    maxConcurrentReconciles: 4,
    backendConfig: {},
  };
}

export class SettingsError extends Error {
  override name = 'SettingsError';
}

/** The shape of a settings document: a leaf type, a free map of one leaf type, or a nested object. */
type Leaf = 'string' | 'boolean' | 'integer';
type Shape = Leaf | { mapOf: Leaf | 'scalar' } | { [key: string]: Shape };

const SCHEMA: Record<string, Shape> = {
  apiVersion: 'string',
  kind: 'string',
  generation: 'string',
  cell: { controllerName: 'string', runtimeClass: 'string', tenantNetworking: 'boolean' },
  locationClassName: 'string',
  backend: 'string',
  discovery: {
    mode: 'string',
    projectKubeconfig: 'string',
    discoveryKubeconfig: 'string',
    labelSelector: 'string',
  },
  homeKubeconfig: 'string',
  defaultProviderConfig: 'string',
  projectProviderConfigs: { mapOf: 'string' },
  installationId: 'string',
  metricsBindAddress: 'string',
  healthProbeBindAddress: 'string',
  leaderElection: {
    enabled: 'boolean',
    namespace: 'string',
    name: 'string',
    leaseDurationSeconds: 'integer',
    renewDeadlineSeconds: 'integer',
    retryPeriodSeconds: 'integer',
  },
  imageMap: { mapOf: 'string' },
  instanceTypeMap: { mapOf: 'string' },
  sweepIntervalSeconds: 'integer',
  resyncSeconds: 'integer',
  maxConcurrentReconciles: 'integer',
  // Backend-specific, so its keys are free; YAML numbers and booleans become the strings backends read.
  backendConfig: { mapOf: 'scalar' },
};

const isMapping = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks `value` against `shape` at `path` and returns it cleaned: null fields dropped (YAML `key:` with no
 * value means "not set"), backendConfig scalars as strings. Every error names the full path of the field.
 */
function check(value: unknown, shape: Shape, path: string, fail: (m: string) => never): unknown {
  const show = (v: unknown) => JSON.stringify(v) ?? String(v);
  if (shape === 'string' || shape === 'boolean') {
    if (typeof value !== shape) fail(`${path} must be a ${shape}, not ${show(value)}`);
    return value;
  }
  if (shape === 'integer') {
    if (!Number.isInteger(value)) fail(`${path} must be an integer, not ${show(value)}`);
    return value;
  }
  if (!isMapping(value)) return fail(`${path} must be a mapping, not ${show(value)}`);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const at = path ? `${path}.${k}` : k;
    if (v === null) continue;
    if ('mapOf' in shape && typeof shape.mapOf === 'string') {
      if (shape.mapOf !== 'scalar') out[k] = check(v, shape.mapOf, at, fail);
      else if (['string', 'number', 'boolean'].includes(typeof v)) out[k] = String(v);
      else fail(`${at} must be a string, number or boolean, not ${show(v)}`);
      continue;
    }
    const sub = (shape as Record<string, Shape>)[k];
    if (!sub)
      fail(`unknown field '${at}' (${path || 'the top level'} accepts: ${Object.keys(shape).join(', ')})`);
    out[k] = check(v, sub as Shape, at, fail);
  }
  return out;
}

/** Parses and validates a settings document; unknown fields are errors (a typo must not pass silently). */
export function parseSettings(text: string, source = 'settings'): ProviderSettings {
  let doc: Record<string, unknown>;
  try {
    doc = (parse(text) ?? {}) as Record<string, unknown>;
  } catch (err) {
    throw new SettingsError(`${source}: not valid YAML: ${(err as Error).message}`);
  }
  if (!isMapping(doc) || doc.apiVersion !== SETTINGS_API_VERSION || doc.kind !== 'ProviderSettings') {
    throw new SettingsError(
      `${source}: expected apiVersion ${SETTINGS_API_VERSION} and kind ProviderSettings`,
    );
  }
  const fail = (m: string): never => {
    throw new SettingsError(`${source}: ${m}`);
  };
  const clean = check(doc, SCHEMA, '', fail) as Partial<ProviderSettings>;
  const d = defaultSettings();
  const s: ProviderSettings = {
    ...d,
    ...clean,
    discovery: { ...d.discovery, ...clean.discovery },
    ...(clean.cell ? { cell: { ...defaultCellSettings(), ...clean.cell } } : {}),
    leaderElection: { ...d.leaderElection, ...clean.leaderElection },
  };
  validateSettings(s, source);
  return s;
}

export function loadSettings(path: string): ProviderSettings {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SettingsError(`cannot read settings file ${path}: ${(err as Error).message}`);
  }
  return parseSettings(text, path);
}

/** Kubernetes object names (RFC 1123 subdomain): projects and ProviderConfigs. */
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function validateSettings(s: ProviderSettings, source = 'settings'): void {
  const fail = (m: string) => {
    throw new SettingsError(`${source}: ${m}`);
  };
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(s.locationClassName))
    fail(`locationClassName '${s.locationClassName}' must be a DNS-style name`);
  if (s.generation !== undefined && !['classic', 'cell'].includes(s.generation))
    fail(`generation must be 'classic' or 'cell', not '${s.generation}'`);
  if (s.cell) {
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(s.cell.runtimeClass))
      fail(`cell.runtimeClass '${s.cell.runtimeClass}' must be a DNS-style name`);
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(\/[-a-zA-Z0-9_.]+)+$/.test(s.cell.controllerName))
      fail(
        `cell.controllerName '${s.cell.controllerName}' must be a domain-prefixed path (example.com/name)`,
      );
  }
  for (const [project, pc] of Object.entries(s.projectProviderConfigs ?? {})) {
    if (!DNS_SUBDOMAIN.test(project))
      fail(`projectProviderConfigs: '${project}' is not a project name (a lowercase DNS name)`);
    if (!DNS_SUBDOMAIN.test(pc))
      fail(`projectProviderConfigs.${project}: '${pc}' is not a ProviderConfig name (a lowercase DNS name)`);
  }
  if (!['single', 'milo'].includes(s.discovery.mode))
    fail(`discovery.mode must be 'single' or 'milo', not '${s.discovery.mode}'`);
  if (s.discovery.mode === 'milo' && !s.discovery.discoveryKubeconfig)
    fail('discovery.discoveryKubeconfig is required in milo mode');
  for (const [k, v] of Object.entries({
    sweepIntervalSeconds: s.sweepIntervalSeconds,
    resyncSeconds: s.resyncSeconds,
    maxConcurrentReconciles: s.maxConcurrentReconciles,
  })) {
    if (!Number.isInteger(v) || v <= 0) fail(`${k} must be a positive integer`);
  }
  const le = s.leaderElection;
  if (
    le.enabled &&
    !(le.renewDeadlineSeconds < le.leaseDurationSeconds && le.retryPeriodSeconds < le.renewDeadlineSeconds)
  ) {
    fail('leaderElection needs retryPeriodSeconds < renewDeadlineSeconds < leaseDurationSeconds');
  }
}
