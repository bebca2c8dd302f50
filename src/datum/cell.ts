/**
 * Everything specific to Datum's cell generation (compute v0.8+, NSO v0.26+) in one place, as classic.ts is
 * for the classic one: condition types and reasons, the ownership rule (runtime class, not Location class),
 * scheduling gates, suspension, where an Instance lives, and when the provider writes addresses.
 */
import type { Condition } from '../runtime/client/types.ts';
import type { ConditionInput } from '../runtime/util/conditions.ts';
import type { CellInstance, RuntimeClass } from './api/cell-types.ts';
import type { Location } from './api/types.ts';
import type { BackendCapabilities, PowerState } from './backend.ts';
import { REASON as CLASSIC } from './classic.ts';
import type { CellSettings, ProviderSettings } from './settings.ts';

export const GENERATION = 'cell';

export const CONDITION = {
  Ready: 'Ready',
  Programmed: 'Programmed',
  Available: 'Available',
  Accepted: 'Accepted',
} as const;

/** The only reasons we write in a cell: compute propagates them verbatim into Ready. */
export const REASON = {
  // Programmed
  Programmed: 'Programmed',
  ProgrammingInProgress: 'ProgrammingInProgress',
  ConfigurationError: 'ConfigurationError',
  InstanceCrashing: 'InstanceCrashing',
  // Available (and Programmed for Stopped)
  Available: 'Available',
  Starting: 'Starting',
  Stopping: 'Stopping',
  Stopped: 'Stopped',
  Provisioning: 'Provisioning',
  ImageUnavailable: 'ImageUnavailable',
  // RuntimeClass Accepted
  Accepted: 'Accepted',
  UnsupportedFeature: 'UnsupportedFeature',
} as const;

/** compute labels every Instance with its runtime class (InstanceRuntimeClassSelector). */
export const RUNTIME_CLASS_LABEL = 'compute.datumapis.com/runtime-class';
/** ConfigMaps and Secrets an Instance references arrive in the cell as companions with this label. */
export const REFERENCED_DATA_LABEL = 'compute.datumapis.com/referenced-data';
/** compute's cell gates: the provider does nothing while any (or any other) gate remains. */
export const GATES = ['Quota', 'ReferencedData', 'Network'] as const;

export function schedulingGates(inst: CellInstance): string[] {
  return (inst.spec?.controller?.schedulingGates ?? []).map((g) => g.name);
}

/** The class an Instance asks for: compute's label, else `spec.runtime.class`; undefined = the default. */
export function runtimeClassOf(inst: CellInstance): string | undefined {
  return inst.metadata.labels?.[RUNTIME_CLASS_LABEL] || inst.spec?.runtime.class || undefined;
}

/** The name of the RuntimeClass marked `default` (at most one upstream), if any. */
export function defaultRuntimeClass(classes: RuntimeClass[]): string | undefined {
  return classes.find((c) => c.spec?.default === true)?.metadata.name;
}

/** Cell ownership: an Instance is ours when its runtime class (or, unset, the default class) is ours. */
export function ownsInstance(
  inst: CellInstance,
  cell: CellSettings,
  defaultClass: string | undefined,
): boolean {
  return (runtimeClassOf(inst) ?? defaultClass) === cell.runtimeClass;
}

/** A RuntimeClass is ours to accept when it names our controller. */
export function ownsRuntimeClass(rc: RuntimeClass, cell: CellSettings): boolean {
  return rc.spec?.controllerName === cell.controllerName;
}

/** compute sets `status.suspended`: the workload stops, everything else stays, no conditions are written. */
export function isSuspended(inst: CellInstance): boolean {
  return inst.status?.suspended === true;
}

/**
 * A cell is one point of presence: an Instance's `spec.location` is `{name}` of a cluster-scoped Location.
 * The provider's placement machinery (ProviderConfig by location, recorded placement) sees it as a Location
 * with an empty namespace: a ProviderConfig selects it with `locations.names: ['/<name>']`, or is the default.
 */
export function cellLocation(inst: CellInstance, settings: ProviderSettings): Location {
  return {
    metadata: { name: inst.spec?.location?.name || 'cell', namespace: '' },
    spec: { locationClassName: settings.locationClassName, topology: {}, provider: {} },
  };
}

/**
 * Addresses are the provider's to write only in a cell without tenant VPC networking, and only while no
 * interface has a NetworkInterface attached (then compute publishes them from NSO's NetworkInterface).
 */
export function providerWritesAddresses(inst: CellInstance, cell: CellSettings): boolean {
  return !cell.tenantNetworking && !(inst.status?.networkInterfaces ?? []).some((n) => n.networkInterfaceRef);
}

const AVAILABLE: Record<PowerState, [ConditionInput['status'], string, string]> = {
  pending: ['False', REASON.Starting, 'Instance is starting'],
  running: ['True', REASON.Available, 'Instance is available'],
  stopping: ['False', REASON.Stopping, 'Instance is stopping'],
  stopped: ['False', REASON.Stopped, 'Instance is stopped'],
  terminated: ['False', REASON.Stopped, 'Instance was terminated'],
};

/** Available for a power state; like classic Running, a machine-only view says so for sandboxes. */
export function availableCondition(
  state: PowerState,
  inst: CellInstance,
  caps: BackendCapabilities,
): [ConditionInput['status'], string, string] {
  const [status, reason, message] = AVAILABLE[state];
  if (state === 'running' && inst.spec?.runtime.sandbox && !caps.reportsContainerState)
    return [status, reason, `${message} (the machine; container state is not reported by this backend)`];
  return [status, reason, message];
}

/**
 * A refusal or failure in the cell catalogue: the classic reason (kept at the start of the message, so the
 * detail is not lost) becomes ConfigurationError, ImageUnavailable, or, when it may pass, ProgrammingInProgress.
 */
export function cellReason(
  classicReason: string,
  transient: boolean,
): { programmed: string; available: string } {
  if (classicReason === CLASSIC.UnknownImage || classicReason === CLASSIC.InvalidImage)
    return { programmed: REASON.ImageUnavailable, available: REASON.ImageUnavailable };
  if (transient) return { programmed: REASON.ProgrammingInProgress, available: REASON.Provisioning };
  return { programmed: REASON.ConfigurationError, available: REASON.ConfigurationError };
}

export function conditionOf(
  obj: { status?: { conditions?: Condition[] } },
  type: string,
): Condition | undefined {
  return obj.status?.conditions?.find((c) => c.type === type);
}
