/**
 * The standalone cell upstream: our controllers playing compute's cell part where the newest compute cannot
 * run (its module versions are not available). WorkloadDeployment → Instances (labels, gates, template hash,
 * location, suspension); the gate keepers; Instance Ready. Development and tests only.
 */
import type { CellInstance, CellWorkloadDeployment } from '../../../datum/api/cell-types.ts';
import {
  CONFIGMAP,
  INSTANCE,
  RUNTIME_CLASS,
  SECRET,
  SERVING_LOCATION,
  WORKLOAD_DEPLOYMENT,
} from '../../../datum/api/resources.ts';
import type { KubeObject } from '../../../runtime/client/types.ts';
import { ControllerBuilder } from '../../../runtime/controller/builder.ts';
import type { ReconcileContext, Request, Result } from '../../../runtime/controller/reconcile.ts';
import type { Manager } from '../../../runtime/manager/manager.ts';
import { patchStatus, UpstreamReconciler } from '../standalone/util.ts';
import { CellWorkloadDeploymentReconciler } from './deployment.ts';
import { evaluateGates } from './gates.ts';
import { deriveCellReady } from './ready.ts';

/** Lifts what gates it can, then derives Ready: one status write and at most one spec write per pass. */
class CellInstanceReconciler extends UpstreamReconciler {
  async reconcile(req: Request, _rc: ReconcileContext): Promise<Result | undefined> {
    const cluster = this.mgr.cluster(req.cluster);
    const inst = cluster.cache.informerFor<CellInstance>(INSTANCE).get(req.name, req.namespace);
    if (!inst?.spec || inst.metadata.deletionTimestamp) return;
    const gates = inst.spec.controller?.schedulingGates ?? [];
    const { lift, conditions } = evaluateGates(cluster, inst);
    if (gates.length) {
      await patchStatus(cluster.client, INSTANCE, inst, conditions);
      const left = gates.filter((g) => !lift.has(g.name));
      if (left.length !== gates.length)
        await cluster.client.patch(INSTANCE, inst.metadata.name!, inst.metadata.namespace, {
          type: 'merge',
          patch: { spec: { controller: { ...inst.spec.controller, schedulingGates: left } } },
        });
      return left.length ? { requeueAfter: 2000 } : undefined;
    }
    const ready = deriveCellReady(inst);
    await patchStatus(cluster.client, INSTANCE, inst, [
      { type: 'Ready', ...ready, observedGeneration: inst.metadata.generation },
    ]);
    return;
  }
}

export function registerCellUpstream(mgr: Manager): void {
  const opts = { needLeaderElection: false, maxConcurrentReconciles: 2 };
  const deployments = (_o: KubeObject, cluster: string): Request[] =>
    mgr
      .cluster(cluster)
      .cache.informerFor<CellWorkloadDeployment>(WORKLOAD_DEPLOYMENT)
      .list()
      .map((o) => ({ cluster, namespace: o.metadata.namespace, name: o.metadata.name! }));
  const instancesIn = (o: KubeObject, cluster: string): Request[] =>
    mgr
      .cluster(cluster)
      .cache.informerFor<CellInstance>(INSTANCE)
      .list({ namespace: o.metadata.namespace })
      .map((i) => ({ cluster, namespace: i.metadata.namespace, name: i.metadata.name! }));
  new ControllerBuilder(mgr, 'cell-workloaddeployment')
    .for(WORKLOAD_DEPLOYMENT)
    .owns(INSTANCE)
    .watches(SERVING_LOCATION, deployments)
    .watches(RUNTIME_CLASS, deployments)
    .withOptions(opts)
    .complete(new CellWorkloadDeploymentReconciler(mgr));
  new ControllerBuilder(mgr, 'cell-instance')
    .for(INSTANCE)
    .watches(CONFIGMAP, instancesIn)
    .watches(SECRET, instancesIn)
    .withOptions(opts)
    .complete(new CellInstanceReconciler(mgr));
}
