/**
 * A cell Instance's checks and desired state, as one sequence the reconciler and `datum-provider plan` share:
 * capabilities for its placement, the served RuntimeClass's verdict, the InstanceType catalog, the cell-only
 * fields, the classic checks; then the classic translation plus envFrom, sizing and suspension. The namespace
 * network is filled in by the caller (the reconciler ensures it, plan only names it).
 */
import type { HttpClient } from '../../runtime/client/client.ts';
import type { CellInstance, InstanceType, RuntimeClass } from '../api/cell-types.ts';
import type { Location } from '../api/types.ts';
import type { BackendCapabilities, InstanceDesired } from '../backend.ts';
import { isSuspended, REASON } from '../cell.ts';
import { acceptance } from '../cell-runtimeclass.ts';
import { registerDesiredSecrets } from '../redact.ts';
import { defaultCellSettings } from '../settings.ts';
import {
  asClassic,
  checkCellFields,
  expandEnvFrom,
  type ResolvedType,
  resolveInstanceType,
} from './cell-desired.ts';
import type { ProviderContext } from './common.ts';
import { ownerOf } from './instance.ts';
import { buildDesired, capabilitiesFor, Refusal, validate } from './instance-desired.ts';
import { recordedPlacement } from './placement.ts';

/** The cell cluster as these steps see it: its name (the project), client, and InstanceType catalog. */
export interface CellView {
  name: string;
  client: HttpClient;
  instanceType(name: string): InstanceType | undefined;
}

/** Everything checked before the desired state is built; throws a Refusal for the first problem. */
export async function cellChecks(
  p: ProviderContext,
  cluster: CellView,
  inst: CellInstance,
  loc: Location,
  classes: RuntimeClass[],
): Promise<{ caps: BackendCapabilities; type: ResolvedType }> {
  const cell = p.settings.cell ?? defaultCellSettings();
  const caps = await capabilitiesFor(p, loc, recordedPlacement(inst)?.providerConfig, cluster.name);
  const served = classes.find((c) => c.metadata.name === cell.runtimeClass);
  if (served) {
    const verdict = acceptance(served, caps, p.backend.name);
    if (!verdict.accepted)
      throw new Refusal(REASON.UnsupportedFeature, `RuntimeClass ${cell.runtimeClass}: ${verdict.message}`);
  }
  const type = resolveInstanceType(
    inst.spec!.runtime.resources.instanceType,
    (n) => cluster.instanceType(n),
    caps,
  );
  checkCellFields(inst);
  validate(asClassic(inst, type.backendType), caps, p.backend.name);
  return { caps, type };
}

/** The desired state, with placeholder interfaces until the namespace network is known (cellInterfaces). */
export async function cellDesired(
  p: ProviderContext,
  cluster: CellView,
  inst: CellInstance,
  type: ResolvedType,
): Promise<InstanceDesired> {
  const desired = await buildDesired(
    asClassic(inst, type.backendType),
    ownerOf(cluster.name, inst, 'Instance'),
    inst.spec!.networkInterfaces.map(() => ({ networkId: '', subnetId: '' })),
    cluster.client,
  );
  await expandEnvFrom(inst, desired, cluster.client);
  desired.resources = type.resources;
  if (isSuspended(inst)) desired.suspended = true;
  registerDesiredSecrets(p.redactor, desired);
  return desired;
}

/** Every interface of the Instance in the namespace network, keeping each one's ingress rules. */
export function cellInterfaces(
  inst: CellInstance,
  desired: InstanceDesired,
  net: { networkId: string; subnetId: string },
): InstanceDesired['interfaces'] {
  return inst.spec!.networkInterfaces.map((_, i) => ({
    ...net,
    ingress: desired.interfaces[i]?.ingress ?? [],
  }));
}
