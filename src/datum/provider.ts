/**
 * Wires the Datum contract onto a manager: the Instance, NetworkContext, Subnet and Network controllers and
 * the orphan sweeper, across every engaged project cluster.
 *
 *   const mgr = new Manager({ ... });
 *   await mgr.engage('single', loadKubeconfig());
 *   const provider = registerProvider(mgr, { backend: new InMemoryBackend(), settings: defaultSettings(), home });
 *   await mgr.start();
 */
import type { HttpClient } from '../runtime/client/client.ts';
import type { KubeObject } from '../runtime/client/types.ts';
import { ControllerBuilder } from '../runtime/controller/builder.ts';
import {
  annotationsChangedIgnoring,
  generationChanged,
  labelsChanged,
  or,
} from '../runtime/controller/predicates.ts';
import type { Request } from '../runtime/controller/reconcile.ts';
import type { Manager } from '../runtime/manager/manager.ts';
import {
  INSTANCE,
  LOCATION,
  NETWORK,
  NETWORK_CONTEXT,
  SUBNET,
  WORKLOAD_DEPLOYMENT,
} from './api/resources.ts';
import type { Instance, NetworkContext, Subnet } from './api/types.ts';
import type { Backend } from './backend.ts';
import { registerCellControllers } from './cell-provider.ts';
import { installationId } from './installation.ts';
import { instrumentBackend, registerInstanceGauge } from './observability.ts';
import { ProviderConfigResolver } from './providerconfig.ts';
import type { ProviderContext } from './reconcilers/common.ts';
import { InstanceReconciler, locationOfInstance } from './reconcilers/instance.ts';
import {
  NetworkContextReconciler,
  NetworkFinalizerReconciler,
  SubnetReconciler,
} from './reconcilers/network.ts';
import { registerPausedGauge } from './reconcilers/pause.ts';
import { PLACEMENT_ANNOTATION } from './reconcilers/placement.ts';
import { OrphanSweeper } from './reconcilers/sweeper.ts';
import { Redactor } from './redact.ts';
import { generationOf, type ProviderSettings } from './settings.ts';

export interface ProviderOptions {
  backend: Backend;
  settings: ProviderSettings;
  /** The cluster holding ProviderConfigs and credential Secrets. */
  home: HttpClient;
  redactor?: Redactor;
}

export interface Provider {
  context: ProviderContext;
  sweeper: OrphanSweeper;
}

const toRequests = (cluster: string, objs: KubeObject[]): Request[] =>
  objs.map((o) => ({ cluster, namespace: o.metadata.namespace, name: o.metadata.name! }));

export function registerProvider(mgr: Manager, opts: ProviderOptions): Provider {
  const redactor = opts.redactor ?? new Redactor();
  let identity: Promise<string> | undefined;
  const p: ProviderContext = {
    mgr,
    home: opts.home,
    // Resolved once; a failure (home cluster unreachable) is not remembered, the next call tries again.
    installation: () => {
      identity ??= installationId(opts.home, opts.settings).catch((err) => {
        identity = undefined;
        throw err;
      });
      return identity;
    },
    backend: instrumentBackend(opts.backend, mgr.metrics.registry),
    settings: opts.settings,
    resolver: new ProviderConfigResolver(opts.home, opts.settings, redactor, {
      log: mgr.log.child({ component: 'providerconfig' }),
      // A project's cluster carries its Milo Project's labels (MiloDiscovery): its ProviderConfig label.
      projectLabels: (project) => mgr.getCluster(project)?.metadata.labels,
    }),
    redactor,
    log: mgr.log.child({ provider: opts.backend.name }),
  };
  // ProviderConfigs come from a watch (leader-only background task) once it has synced.
  mgr.add(p.resolver);
  if (generationOf(opts.settings) === 'cell') return { context: p, sweeper: registerCellControllers(mgr, p) };
  const concurrency = { maxConcurrentReconciles: opts.settings.maxConcurrentReconciles };
  const instances = (cluster: string) => mgr.cluster(cluster).cache.informerFor<Instance>(INSTANCE);

  new ControllerBuilder(mgr, 'instance')
    .for(INSTANCE, {
      predicates: [or(generationChanged, annotationsChangedIgnoring(PLACEMENT_ANNOTATION), labelsChanged)],
    })
    // A Location changing class, or networking becoming ready, re-evaluates the Instances that use it.
    .watches(LOCATION, (loc, cluster) =>
      toRequests(
        cluster,
        instances(cluster)
          .list()
          .filter((i) => {
            const where = locationOfInstance(mgr.cluster(cluster), i);
            return where?.name === loc.metadata.name && where?.namespace === loc.metadata.namespace;
          }),
      ),
    )
    .watches(SUBNET, (s, cluster) => {
      const sub = s as Subnet;
      return toRequests(
        cluster,
        instances(cluster)
          .list({ namespace: sub.metadata.namespace })
          .filter((i) => locationOfInstance(mgr.cluster(cluster), i)?.name === sub.spec?.location.name),
      );
    })
    // compute drops spec.location on a template update; the owning WorkloadDeployment still knows it.
    .watches(WORKLOAD_DEPLOYMENT, (wd, cluster) =>
      toRequests(
        cluster,
        instances(cluster)
          .list({ namespace: wd.metadata.namespace })
          .filter(
            (i) => !i.spec?.location && i.metadata.ownerReferences?.some((o) => o.uid === wd.metadata.uid),
          ),
      ),
    )
    .withOptions(concurrency)
    .complete(new InstanceReconciler(p));

  const byLocation = (r: typeof SUBNET) => (loc: KubeObject, cluster: string) =>
    toRequests(
      cluster,
      mgr
        .cluster(cluster)
        .cache.informerFor(r)
        .list({ namespace: undefined })
        .filter(
          (o) =>
            o.spec?.location?.name === loc.metadata.name &&
            o.spec?.location?.namespace === loc.metadata.namespace,
        ),
    );

  new ControllerBuilder(mgr, 'networkcontext')
    .for(NETWORK_CONTEXT)
    .watches(LOCATION, byLocation(NETWORK_CONTEXT))
    .watches(NETWORK, (net, cluster) =>
      toRequests(
        cluster,
        mgr
          .cluster(cluster)
          .cache.informerFor<NetworkContext>(NETWORK_CONTEXT)
          .list({ namespace: net.metadata.namespace })
          .filter((c) => c.spec?.network.name === net.metadata.name),
      ),
    )
    .withOptions(concurrency)
    .complete(new NetworkContextReconciler(p));

  new ControllerBuilder(mgr, 'subnet')
    .for(SUBNET)
    .watches(LOCATION, byLocation(SUBNET))
    .watches(NETWORK_CONTEXT, (ctx, cluster) =>
      toRequests(
        cluster,
        mgr
          .cluster(cluster)
          .cache.informerFor<Subnet>(SUBNET)
          .list({ namespace: ctx.metadata.namespace })
          .filter((s) => s.spec?.networkContext.name === ctx.metadata.name),
      ),
    )
    .withOptions(concurrency)
    .complete(new SubnetReconciler(p));

  new ControllerBuilder(mgr, 'network-finalizer')
    .for(NETWORK)
    .watches(NETWORK_CONTEXT, (ctx, cluster) => [
      { cluster, namespace: ctx.metadata.namespace, name: (ctx as NetworkContext).spec?.network.name ?? '' },
    ])
    .complete(new NetworkFinalizerReconciler(p));

  registerPausedGauge(mgr);
  registerInstanceGauge(mgr);
  const sweeper = new OrphanSweeper(p);
  mgr.add(sweeper);
  return { context: p, sweeper };
}
