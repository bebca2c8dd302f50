/**
 * compute's instance control for a WorkloadDeployment (classic, OrderedReady), as the standalone upstream
 * plays it. Split from compute.ts: the one place that decides which Instance to create, update or delete next.
 */
import { INSTANCE } from '../../../datum/api/resources.ts';
import type { Instance, WorkloadDeployment } from '../../../datum/api/types.ts';
import type { Cluster } from '../../../runtime/manager/cluster.ts';
import {
  COMPUTE,
  createIfMissing,
  deleteIfExists,
  isTrue,
  LABEL_INSTANCE_INDEX,
  LABEL_WD_UID,
  LABEL_WORKLOAD_UID,
  ownerRef,
} from './util.ts';

/**
 * compute's stateful instance control with the OrderedReady policy: creates and waits (lowest ordinal
 * first), then updates and deletes (highest first), and only the first of them runs per pass. An update
 * replaces labels, annotations and the whole spec with the template's (spec.location and spec.controller
 * are gone afterwards, so the same Instance "needs" the update again on every pass and lower ordinals never
 * get their turn).
 */
export async function runInstanceActions(
  cluster: Cluster,
  wd: WorkloadDeployment,
  instances: Instance[],
  hash: string,
  location: { name: string; namespace: string },
): Promise<void> {
  const c = cluster.client;
  const spec = wd.spec!;
  const ns = wd.metadata.namespace!;
  const min = spec.scaleSettings.minReplicas;
  const ordinal = (i: Instance) => Number(i.metadata.name!.slice(i.metadata.name!.lastIndexOf('-') + 1));
  const labels = (i: number) => ({
    ...spec.template.metadata?.labels,
    [LABEL_INSTANCE_INDEX]: String(i),
    [LABEL_WORKLOAD_UID]: spec.workloadRef.uid,
    [LABEL_WD_UID]: wd.metadata.uid!,
  });
  type Action = { ordinal: number; run: () => Promise<unknown> };
  const createOrWait: Action[] = [];
  const updates: Action[] = [];
  const deletes: Action[] = [];
  const byOrdinal = new Map<number, Instance>();
  for (const inst of instances) {
    const i = ordinal(inst);
    if (i >= min)
      deletes.push({ ordinal: i, run: () => deleteIfExists(c, INSTANCE, inst.metadata.name!, ns) });
    else byOrdinal.set(i, inst);
  }
  for (let i = 0; i < min; i++) {
    const inst = byOrdinal.get(i);
    if (!inst) {
      createOrWait.push({
        ordinal: i,
        run: () =>
          createIfMissing(c, INSTANCE, {
            metadata: {
              name: `${wd.metadata.name}-${i}`,
              namespace: ns,
              labels: labels(i),
              annotations: spec.template.metadata?.annotations,
              ownerReferences: [ownerRef(wd, 'WorkloadDeployment', COMPUTE)],
            },
            spec: {
              ...spec.template.spec,
              location,
              // compute always adds the gate and removes it on a later pass.
              controller: { templateHash: hash, schedulingGates: [{ name: 'Network' }] },
            },
          }),
      });
    } else if (inst.metadata.deletionTimestamp || !isTrue(inst, 'Ready')) {
      createOrWait.push({ ordinal: i, run: async () => {} });
    } else if (inst.spec?.controller?.templateHash !== hash) {
      updates.push({
        ordinal: i,
        run: () =>
          c.update(INSTANCE, {
            ...inst,
            metadata: {
              ...inst.metadata,
              labels: labels(i),
              annotations: spec.template.metadata?.annotations,
            },
            spec: spec.template.spec,
          }),
      });
    }
  }
  const first = [
    ...createOrWait.sort((a, b) => a.ordinal - b.ordinal),
    ...updates.sort((a, b) => b.ordinal - a.ordinal),
    ...deletes.sort((a, b) => b.ordinal - a.ordinal),
  ][0];
  await first?.run();
}
