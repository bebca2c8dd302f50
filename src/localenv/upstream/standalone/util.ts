/** Small helpers the standalone upstream controllers share. */
import { createHash } from 'node:crypto';
import type { HttpClient } from '../../../runtime/client/client.ts';
import { isAlreadyExists, isNotFound } from '../../../runtime/client/errors.ts';
import type { Condition, KubeObject, ResourceType } from '../../../runtime/client/types.ts';
import type { ReconcileContext, Reconciler, Request, Result } from '../../../runtime/controller/reconcile.ts';
import type { Manager } from '../../../runtime/manager/manager.ts';
import { type ConditionInput, setCondition } from '../../../runtime/util/conditions.ts';

/** What every stand-in controller shares: the manager whose clusters it reconciles. */
export abstract class UpstreamReconciler implements Reconciler {
  protected readonly mgr: Manager;
  constructor(mgr: Manager) {
    this.mgr = mgr;
  }
  abstract reconcile(req: Request, rc: ReconcileContext): Promise<Result | undefined>;
}

export const COMPUTE = 'compute.datumapis.com/v1alpha';
export const WORKLOAD_FINALIZER = 'compute.datumapis.com/workload-controller';
export const NETWORK_FINALIZER = 'networking.datumapis.com/network-controller';
export const LABEL_WORKLOAD_UID = 'compute.datumapis.com/workload-uid';
export const LABEL_WD_UID = 'compute.datumapis.com/workload-deployment-uid';
export const LABEL_INSTANCE_INDEX = 'compute.datumapis.com/instance-index';

export function conditionOf(o: KubeObject | undefined, type: string): Condition | undefined {
  return (o?.status?.conditions as Condition[] | undefined)?.find((c) => c.type === type);
}

export const isTrue = (o: KubeObject | undefined, type: string) => conditionOf(o, type)?.status === 'True';

/** A stable short hash of a template (compute uses FNV-32a over a Go dump; any stable hash will do). */
export function templateHash(template: unknown): string {
  return createHash('sha256').update(stableJson(template)).digest('hex').slice(0, 10);
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

export async function createIfMissing(c: HttpClient, r: ResourceType, obj: KubeObject): Promise<void> {
  try {
    await c.create(r, obj);
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
}

export async function deleteIfExists(
  c: HttpClient,
  r: ResourceType,
  name: string,
  ns?: string,
): Promise<void> {
  try {
    await c.delete(r, name, ns, { propagationPolicy: 'Background' });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** Status patch that sets the given conditions (merged by type) and fields, guarded by resourceVersion. */
export async function patchStatus(
  c: HttpClient,
  r: ResourceType,
  obj: KubeObject,
  conds: ConditionInput[],
  fields: Record<string, unknown> = {},
): Promise<void> {
  let list: Condition[] = obj.status?.conditions ?? [];
  for (const cond of conds) list = setCondition(list, cond);
  const next = { ...(obj.status ?? {}), ...fields, conditions: list };
  if (JSON.stringify(next) === JSON.stringify(obj.status ?? {})) return;
  await c.patchStatus(r, obj.metadata.name!, obj.metadata.namespace, {
    type: 'merge',
    patch: {
      metadata: { resourceVersion: obj.metadata.resourceVersion },
      status: { ...fields, conditions: list },
    },
  });
}

export function ownerRef(owner: KubeObject, kind: string, apiVersion: string, controller = true) {
  return {
    apiVersion,
    kind,
    name: owner.metadata.name!,
    uid: owner.metadata.uid!,
    controller,
    blockOwnerDeletion: true,
  };
}
