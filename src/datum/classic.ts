/**
 * Everything specific to the classic Datum generation (compute main + NSO <= v0.21.9) in one place: condition
 * types and reasons, names upstream derives, where Locations live, and the ownership rule. A newer
 * generation (NSO head, newest compute) gets a sibling module implementing the same `Generation` shape.
 */
import type { Instance, Location, LocationReference, WorkloadDeployment } from './api/types.ts';

export const GENERATION = 'classic';

export const CONDITION = {
  Ready: 'Ready',
  Programmed: 'Programmed',
  Running: 'Running',
  Allocated: 'Allocated',
} as const;

/** Reasons we write. Catalogue, with the message a person can act on, in docs/provider-contract.md. */
export const REASON = {
  // Programmed
  Programmed: 'Programmed',
  ProgrammingInProgress: 'ProgrammingInProgress',
  NotProgrammed: 'NotProgrammed',
  PendingProgramming: 'PendingProgramming',
  NetworkFailedToCreate: 'NetworkFailedToCreate',
  UnsupportedRuntime: 'UnsupportedRuntime',
  UnknownInstanceType: 'UnknownInstanceType',
  UnsupportedVolume: 'UnsupportedVolume',
  UnknownImage: 'UnknownImage',
  InvalidConfiguration: 'InvalidConfiguration',
  UnsupportedFeature: 'UnsupportedFeature',
  InvalidImage: 'InvalidImage',
  NetworkNotReady: 'NetworkNotReady',
  ReferencedDataNotFound: 'ReferencedDataNotFound',
  ReferencedDataForbidden: 'ReferencedDataForbidden',
  CredentialsUnavailable: 'CredentialsUnavailable',
  ProviderConfigNotPermitted: 'ProviderConfigNotPermitted',
  QuotaExceeded: 'QuotaExceeded',
  BackendError: 'BackendError',
  WaitingForAllocation: 'WaitingForAllocation',
  AddressesNotAllocated: 'AddressesNotAllocated',
  // Running
  Running: 'Running',
  Starting: 'Starting',
  Stopping: 'Stopping',
  Stopped: 'Stopped',
} as const;

/** NSO names a NetworkContext `<network>-<location namespace>-<location name>` in the network's namespace. */
export function networkContextName(network: string, loc: LocationReference): string {
  return `${network}-${loc.namespace}-${loc.name}`;
}

/** compute claims one subnet per context: `<networkcontext>-0`. */
export function subnetName(networkContext: string): string {
  return `${networkContext}-0`;
}

/**
 * The only city codes classic NSO (v0.6.1 .. v0.21.9) allocates subnet addresses for; any other city's Subnet
 * is marked Allocated with an empty startAddress, which no provider can program.
 */
export const NSO_ALLOCATED_CITIES = ['DFW', 'DLS', 'LHR'] as const;

/**
 * Where an Instance runs: its spec.location, or, when compute v0.6.0 dropped that on a template update (it
 * replaces the whole spec with the template's), the location its owning WorkloadDeployment was scheduled to.
 */
export function instanceLocation(
  inst: Instance,
  deployment: (namespace: string, name: string) => WorkloadDeployment | undefined,
): LocationReference | undefined {
  if (inst.spec?.location) return inst.spec.location;
  const owner = inst.metadata.ownerReferences?.find(
    (o) => o.kind === 'WorkloadDeployment' && o.apiVersion.startsWith('compute.datumapis.com/'),
  );
  if (!owner) return undefined;
  const wd = deployment(inst.metadata.namespace!, owner.name);
  return wd && wd.metadata.uid === owner.uid ? (wd.status?.location ?? undefined) : undefined;
}

export const SSH_KEYS_ANNOTATION = 'compute.datumapis.com/ssh-keys';
export const CITY_CODE_KEY = 'topology.datum.net/city-code';
export const REGION_KEY = 'topology.datum.net/region';

/** Classic ownership: a Location is ours when its class is the one we serve. */
export function ownsLocation(loc: Location | undefined, locationClassName: string): boolean {
  return !!loc?.spec && loc.spec.locationClassName === locationClassName;
}

export function schedulingGates(inst: Instance): string[] {
  return (inst.spec?.controller?.schedulingGates ?? []).map((g) => g.name);
}

/** `user:key` lines of the ssh-keys annotation; malformed lines are reported, not dropped silently. */
export function parseSshKeys(value: string | undefined): {
  keys: { user: string; key: string }[];
  invalid: string[];
} {
  const keys: { user: string; key: string }[] = [];
  const invalid: string[] = [];
  for (const raw of (value ?? '').split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const i = line.indexOf(':');
    if (i <= 0) invalid.push(line.slice(0, 40));
    else keys.push({ user: line.slice(0, i), key: line.slice(i + 1).trim() });
  }
  return { keys, invalid };
}
