/**
 * Wires the cell generation onto a manager: the Instance controller for our RuntimeClass, the RuntimeClass
 * Accepted controller, and the orphan sweeper. No NetworkContext, Subnet or Network controllers: a cell's
 * networking belongs to NSO's cell manager. Chosen by `registerProvider` when `generation: cell`.
 */
import type { KubeObject } from '../runtime/client/types.ts';
import { ControllerBuilder } from '../runtime/controller/builder.ts';
import {
  annotationsChangedIgnoring,
  generationChanged,
  labelsChanged,
  or,
  type Predicate,
} from '../runtime/controller/predicates.ts';
import type { Request } from '../runtime/controller/reconcile.ts';
import type { Manager } from '../runtime/manager/manager.ts';
import type { CellInstance } from './api/cell-types.ts';
import { INSTANCE, INSTANCE_TYPE, NAMESPACE, RUNTIME_CLASS } from './api/resources.ts';
import { CellInstanceReconciler } from './reconcilers/cell-instance.ts';
import { RuntimeClassReconciler } from './reconcilers/cell-runtimeclass.ts';
import type { ProviderContext } from './reconcilers/common.ts';
import { PLACEMENT_ANNOTATION } from './reconcilers/placement.ts';
import { OrphanSweeper } from './reconcilers/sweeper.ts';

/** compute propagates suspension through the status: a change there must reach the reconciler. */
const suspendedChanged: Predicate = (ev) =>
  ev.type !== 'update' || (ev.old?.status?.suspended === true) !== (ev.obj.status?.suspended === true);

const toRequests = (cluster: string, objs: KubeObject[]): Request[] =>
  objs.map((o) => ({ cluster, namespace: o.metadata.namespace, name: o.metadata.name! }));

export function registerCellControllers(mgr: Manager, p: ProviderContext): OrphanSweeper {
  const concurrency = { maxConcurrentReconciles: p.settings.maxConcurrentReconciles };
  const instances = (cluster: string) =>
    mgr.cluster(cluster).cache.informerFor<CellInstance>(INSTANCE).list();
  new ControllerBuilder(mgr, 'instance')
    .for(INSTANCE, {
      predicates: [
        or(
          generationChanged,
          annotationsChangedIgnoring(PLACEMENT_ANNOTATION),
          labelsChanged,
          suspendedChanged,
        ),
      ],
    })
    // A RuntimeClass appearing, changing or being accepted decides ownership and acceptance of every Instance.
    .watches(RUNTIME_CLASS, (_rc, cluster) => toRequests(cluster, instances(cluster)))
    // The catalog arriving (or a type being disabled) re-evaluates the Instances of that type.
    .watches(INSTANCE_TYPE, (it, cluster) =>
      toRequests(
        cluster,
        instances(cluster).filter((i) => i.spec?.runtime.resources.instanceType === it.metadata.name),
      ),
    )
    // A project namespace seen (its UID names the backend network) re-evaluates the Instances in it.
    .watches(NAMESPACE, (ns, cluster) =>
      toRequests(
        cluster,
        instances(cluster).filter((i) => i.metadata.namespace === ns.metadata.name),
      ),
    )
    .withOptions(concurrency)
    .complete(new CellInstanceReconciler(p));
  new ControllerBuilder(mgr, 'runtimeclass').for(RUNTIME_CLASS).complete(new RuntimeClassReconciler(p));
  const sweeper = new OrphanSweeper(p);
  mgr.add(sweeper);
  return sweeper;
}
