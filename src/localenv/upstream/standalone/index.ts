/**
 * The standalone upstream: our controller set playing Datum's compute and network-services operators
 * (classic generation) where those cannot run. Development and tests only.
 */

import {
  INSTANCE,
  NETWORK,
  NETWORK_BINDING,
  NETWORK_CONTEXT,
  SUBNET,
  SUBNET_CLAIM,
  WORKLOAD,
  WORKLOAD_DEPLOYMENT,
} from '../../../datum/api/resources.ts';
import type { NetworkBinding } from '../../../datum/api/types.ts';
import type { KubeObject } from '../../../runtime/client/types.ts';
import { ControllerBuilder } from '../../../runtime/controller/builder.ts';
import type { Request } from '../../../runtime/controller/reconcile.ts';
import type { Manager } from '../../../runtime/manager/manager.ts';
import { InstanceReadyReconciler, WorkloadDeploymentReconciler, WorkloadReconciler } from './compute.ts';
import {
  NetworkBindingReconciler,
  NetworkContextReadyReconciler,
  NetworkReconciler,
  SubnetClaimReconciler,
  SubnetReconciler,
} from './networking.ts';

const all =
  (mgr: Manager, r: typeof WORKLOAD) =>
  (_o: KubeObject, cluster: string): Request[] =>
    mgr
      .cluster(cluster)
      .cache.informerFor(r)
      .list()
      .map((o) => ({ cluster, namespace: o.metadata.namespace, name: o.metadata.name! }));

export function registerStandaloneUpstream(mgr: Manager): void {
  const opts = { needLeaderElection: false, maxConcurrentReconciles: 2 };
  new ControllerBuilder(mgr, 'upstream-workload')
    .for(WORKLOAD)
    .owns(WORKLOAD_DEPLOYMENT)
    .withOptions(opts)
    .complete(new WorkloadReconciler(mgr));
  new ControllerBuilder(mgr, 'upstream-workloaddeployment')
    .for(WORKLOAD_DEPLOYMENT)
    .owns(INSTANCE)
    .owns(NETWORK_BINDING)
    .watches(SUBNET_CLAIM, all(mgr, WORKLOAD_DEPLOYMENT))
    .watches(SUBNET, all(mgr, WORKLOAD_DEPLOYMENT))
    .withOptions(opts)
    .complete(new WorkloadDeploymentReconciler(mgr));
  new ControllerBuilder(mgr, 'upstream-instance-ready')
    .for(INSTANCE)
    .withOptions(opts)
    .complete(new InstanceReadyReconciler(mgr));
  new ControllerBuilder(mgr, 'upstream-networkbinding')
    .for(NETWORK_BINDING)
    .watches(NETWORK_CONTEXT, (ctx, cluster) =>
      mgr
        .cluster(cluster)
        .cache.informerFor<NetworkBinding>(NETWORK_BINDING)
        .list()
        .filter((b) => (b.spec.network.namespace ?? b.metadata.namespace) === ctx.metadata.namespace)
        .map((b) => ({ cluster, namespace: b.metadata.namespace, name: b.metadata.name! })),
    )
    .withOptions(opts)
    .complete(new NetworkBindingReconciler(mgr));
  new ControllerBuilder(mgr, 'upstream-networkcontext-ready')
    .for(NETWORK_CONTEXT)
    .withOptions(opts)
    .complete(new NetworkContextReadyReconciler(mgr));
  new ControllerBuilder(mgr, 'upstream-subnet')
    .for(SUBNET)
    .withOptions(opts)
    .complete(new SubnetReconciler(mgr));
  new ControllerBuilder(mgr, 'upstream-subnetclaim')
    .for(SUBNET_CLAIM)
    .watches(SUBNET, (s, cluster) => [{ cluster, namespace: s.metadata.namespace, name: s.metadata.name! }])
    .withOptions(opts)
    .complete(new SubnetClaimReconciler(mgr));
  new ControllerBuilder(mgr, 'upstream-network')
    .for(NETWORK)
    .owns(NETWORK_CONTEXT)
    .withOptions(opts)
    .complete(new NetworkReconciler(mgr));
}
