/**
 * Standalone stand-ins for Datum's compute operator (classic): Workload → WorkloadDeployments per placement
 * and city code; WorkloadDeployment → scheduling, networking (bindings, subnet claim), Instances rolled one
 * by one (OrderedReady) behind the `Network` gate; Instance Ready derived from Programmed/Running exactly as
 * compute derives it. For development and tests only: never run it against a real Datum control plane.
 */

import {
  INSTANCE,
  LOCATION,
  NETWORK_BINDING,
  NETWORK_CONTEXT,
  SUBNET,
  SUBNET_CLAIM,
  WORKLOAD,
  WORKLOAD_DEPLOYMENT,
} from '../../../datum/api/resources.ts';
import type {
  Instance,
  Location,
  NetworkBinding,
  NetworkContext,
  Subnet,
  SubnetClaim,
  Workload,
  WorkloadDeployment,
} from '../../../datum/api/types.ts';
import { CITY_CODE_KEY } from '../../../datum/classic.ts';
import type { Condition } from '../../../runtime/client/types.ts';
import type { ReconcileContext, Request, Result } from '../../../runtime/controller/reconcile.ts';
import type { Cluster } from '../../../runtime/manager/cluster.ts';
import { addFinalizer, hasFinalizer, removeFinalizer } from '../../../runtime/util/finalizers.ts';
import { runInstanceActions } from './instance-control.ts';
import {
  COMPUTE,
  conditionOf,
  createIfMissing,
  deleteIfExists,
  isTrue,
  LABEL_WD_UID,
  LABEL_WORKLOAD_UID,
  ownerRef,
  patchStatus,
  templateHash,
  UpstreamReconciler,
  WORKLOAD_FINALIZER,
} from './util.ts';

const zero = { replicas: 0, currentReplicas: 0, desiredReplicas: 0, readyReplicas: 0 };

function locations(cluster: Cluster, city: string): Location[] {
  return cluster.cache
    .informerFor<Location>(LOCATION)
    .list()
    .filter((l) => l.spec?.topology?.[CITY_CODE_KEY] === city)
    .sort((a, b) =>
      `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(
        `${b.metadata.namespace}/${b.metadata.name}`,
      ),
    );
}

export class WorkloadReconciler extends UpstreamReconciler {
  async reconcile(req: Request): Promise<Result | undefined> {
    const cluster = this.mgr.cluster(req.cluster);
    const c = cluster.client;
    let w = cluster.cache.informerFor<Workload>(WORKLOAD).get(req.name, req.namespace);
    if (!w) return;
    const wds = cluster.cache
      .informerFor<WorkloadDeployment>(WORKLOAD_DEPLOYMENT)
      .list({ namespace: w.metadata.namespace, labelSelector: `${LABEL_WORKLOAD_UID}=${w.metadata.uid}` });
    if (w.metadata.deletionTimestamp) {
      for (const wd of wds)
        await deleteIfExists(c, WORKLOAD_DEPLOYMENT, wd.metadata.name!, wd.metadata.namespace);
      if (wds.length > 0) return { requeueAfter: 1000 };
      if (hasFinalizer(w, WORKLOAD_FINALIZER)) await removeFinalizer(c, WORKLOAD, w, WORKLOAD_FINALIZER);
      return;
    }
    if (!hasFinalizer(w, WORKLOAD_FINALIZER)) w = await addFinalizer(c, WORKLOAD, w, WORKLOAD_FINALIZER);
    // As compute: no Location at all is an error (retried with backoff); a city without a Location is skipped
    // silently and, since nothing watches Locations, only retried when the Workload or a Deployment changes.
    if (cluster.cache.informerFor<Location>(LOCATION).list().length === 0)
      throw new Error('no locations are registered with the system');
    const desired = new Set<string>();
    for (const p of w.spec.placements) {
      for (const city of p.cityCodes) {
        if (locations(cluster, city).length === 0) continue;
        const name = `${w.metadata.name}-${p.name}-${city.toLowerCase()}`;
        desired.add(name);
        const spec = {
          workloadRef: { name: w.metadata.name!, uid: w.metadata.uid! },
          placementName: p.name,
          cityCode: city,
          template: w.spec.template,
          scaleSettings: p.scaleSettings,
        };
        const existing = wds.find((x) => x.metadata.name === name);
        if (!existing) {
          await createIfMissing(c, WORKLOAD_DEPLOYMENT, {
            metadata: {
              name,
              namespace: w.metadata.namespace,
              labels: { [LABEL_WORKLOAD_UID]: w.metadata.uid! },
              ownerReferences: [ownerRef(w, 'Workload', COMPUTE)],
            },
            spec,
          });
        } else if (JSON.stringify(existing.spec) !== JSON.stringify(spec)) {
          await c.patch(WORKLOAD_DEPLOYMENT, name, w.metadata.namespace, { type: 'merge', patch: { spec } });
        }
      }
    }
    for (const wd of wds)
      if (!desired.has(wd.metadata.name!))
        await deleteIfExists(c, WORKLOAD_DEPLOYMENT, wd.metadata.name!, wd.metadata.namespace);
    const sum = (k: keyof typeof zero) => wds.reduce((n, wd) => n + (wd.status?.[k] ?? 0), 0);
    const available = wds.some((wd) => isTrue(wd, 'Available'));
    await patchStatus(
      c,
      WORKLOAD,
      w,
      [
        {
          type: 'Available',
          status: available ? 'True' : 'False',
          reason:
            desired.size === 0
              ? 'NoAvailablePlacements'
              : available
                ? 'AvailablePlacementFound'
                : 'NoAvailablePlacements',
          message: `${desired.size} deployment(s)`,
        },
      ],
      {
        deployments: desired.size,
        replicas: sum('replicas'),
        currentReplicas: sum('currentReplicas'),
        desiredReplicas: sum('desiredReplicas'),
        readyReplicas: sum('readyReplicas'),
      },
    );
    return;
  }
}

export class WorkloadDeploymentReconciler extends UpstreamReconciler {
  async reconcile(req: Request, _rc: ReconcileContext): Promise<Result | undefined> {
    const cluster = this.mgr.cluster(req.cluster);
    const c = cluster.client;
    let wd = cluster.cache.informerFor<WorkloadDeployment>(WORKLOAD_DEPLOYMENT).get(req.name, req.namespace);
    if (!wd?.spec) return;
    const spec = wd.spec;
    const ns = wd.metadata.namespace!;
    const instances = cluster.cache
      .informerFor<Instance>(INSTANCE)
      .list({ namespace: ns, labelSelector: `${LABEL_WD_UID}=${wd.metadata.uid}` });
    const bindings = spec.template.spec.networkInterfaces.map((_, i) => `${wd!.metadata.name}-net-${i}`);
    if (wd.metadata.deletionTimestamp) {
      for (const i of instances) await deleteIfExists(c, INSTANCE, i.metadata.name!, ns);
      if (instances.length > 0) return { requeueAfter: 1000 };
      // NetworkBindings are owner-referenced: the garbage collector removes them, as in a real cluster.
      if (hasFinalizer(wd, WORKLOAD_FINALIZER))
        await removeFinalizer(c, WORKLOAD_DEPLOYMENT, wd, WORKLOAD_FINALIZER);
      return;
    }
    if (!hasFinalizer(wd, WORKLOAD_FINALIZER))
      wd = await addFinalizer(c, WORKLOAD_DEPLOYMENT, wd, WORKLOAD_FINALIZER);
    // Scheduler: the first Location with the city code.
    if (!wd.status?.location) {
      const all = cluster.cache.informerFor<Location>(LOCATION).list();
      // compute's scheduler takes the first Location of the city code from an unordered list, whatever its
      // class; with none at all it looks again in 30 s, with none in the city never (until the WD changes).
      const loc = locations(cluster, spec.cityCode)[0];
      if (!loc) {
        await patchStatus(
          c,
          WORKLOAD_DEPLOYMENT,
          wd,
          [
            all.length === 0
              ? {
                  type: 'Available',
                  status: 'False',
                  reason: 'NoLocations',
                  message: 'No locations are registered with the system.',
                }
              : {
                  type: 'Available',
                  status: 'False',
                  reason: 'NoCandidateLocations',
                  message: 'No locations are candidates for this deployment.',
                },
          ],
          { ...zero, ...wd.status },
        );
        return all.length === 0 ? { requeueAfter: 30_000 } : undefined;
      }
      await patchStatus(
        c,
        WORKLOAD_DEPLOYMENT,
        wd,
        [{ type: 'Available', status: 'False', reason: 'LocationAssigned', message: 'location assigned' }],
        {
          ...zero,
          ...wd.status,
          location: { name: loc.metadata.name, namespace: loc.metadata.namespace },
        },
      );
      return;
    }
    const location = wd.status.location;
    const hash = templateHash(spec.template);
    const min = spec.scaleSettings.minReplicas;
    await runInstanceActions(cluster, wd, instances, hash, location);
    const networkReady = await this.ensureNetworking(cluster, wd, spec, bindings, location);
    // Then every gate goes once networking is ready. compute reads spec.controller here without a nil check,
    // so an Instance whose controller a template update removed makes this pass panic (and retry).
    if (networkReady) {
      for (const inst of instances) {
        if (!inst.spec?.controller) throw new Error('nil spec.controller (compute v0.6.0 panics here)');
        if ((inst.spec.controller.schedulingGates?.length ?? 0) > 0)
          await c.patch(INSTANCE, inst.metadata.name!, ns, {
            type: 'json',
            patch: [{ op: 'remove', path: '/spec/controller/schedulingGates' }],
          });
      }
    }
    const ready = instances.filter((i) => isTrue(i, 'Ready')).length;
    const current = instances.filter(
      (i) => isTrue(i, 'Programmed') && i.status?.controller?.observedTemplateHash === hash,
    ).length;
    const reason =
      ready > 0 ? 'StableInstanceFound' : networkReady ? 'ProvisioningInstances' : 'ProvisioningNetwork';
    await patchStatus(
      c,
      WORKLOAD_DEPLOYMENT,
      wd,
      [
        {
          type: 'Available',
          status: ready > 0 ? 'True' : 'False',
          reason,
          message: `${ready}/${min} instances are ready`,
        },
      ],
      {
        location,
        replicas: instances.length,
        currentReplicas: current,
        desiredReplicas: min,
        readyReplicas: ready,
      },
    );
    return networkReady ? undefined : { requeueAfter: 2000 };
  }

  /** Bindings per interface, then the subnet claim of each context; true once everything is Ready. */
  private async ensureNetworking(
    cluster: Cluster,
    wd: WorkloadDeployment,
    spec: NonNullable<WorkloadDeployment['spec']>,
    bindings: string[],
    location: { name: string; namespace: string },
  ): Promise<boolean> {
    const c = cluster.client;
    const ns = wd.metadata.namespace!;
    let ready = true;
    for (const [i, name] of bindings.entries()) {
      const nic = spec.template.spec.networkInterfaces[i]!;
      const b = cluster.cache.informerFor<NetworkBinding>(NETWORK_BINDING).get(name, ns);
      if (!b) {
        await createIfMissing(c, NETWORK_BINDING, {
          metadata: { name, namespace: ns, ownerReferences: [ownerRef(wd, 'WorkloadDeployment', COMPUTE)] },
          spec: { network: { name: nic.network.name, namespace: nic.network.namespace ?? ns }, location },
        });
        ready = false;
        continue;
      }
      const ref = b.status?.networkContextRef;
      if (!isTrue(b, 'Ready') || !ref) {
        ready = false;
        continue;
      }
      const ctx = cluster.cache.informerFor<NetworkContext>(NETWORK_CONTEXT).get(ref.name, ref.namespace);
      if (!ctx || !isTrue(ctx, 'Ready')) {
        ready = false;
        continue;
      }
      const claimName = `${ref.name}-0`;
      const claim = cluster.cache.informerFor<SubnetClaim>(SUBNET_CLAIM).get(claimName, ref.namespace);
      if (!claim) {
        await createIfMissing(c, SUBNET_CLAIM, {
          metadata: {
            name: claimName,
            namespace: ref.namespace,
            ownerReferences: [ownerRef(ctx, 'NetworkContext', 'networking.datumapis.com/v1alpha', false)],
          },
          spec: { subnetClass: 'private', networkContext: { name: ref.name }, location, ipFamily: 'IPv4' },
        });
        ready = false;
        continue;
      }
      const subnet =
        claim.status?.subnetRef &&
        cluster.cache.informerFor<Subnet>(SUBNET).get(claim.status.subnetRef.name, ref.namespace);
      if (!isTrue(claim, 'Ready') || !subnet || !isTrue(subnet, 'Ready')) ready = false;
    }
    return ready;
  }
}

/**
 * Instance Ready, derived as compute's InstanceReconciler does: it copies the existing condition and only
 * ever sets its status to True, so once True it stays True (reasons and messages still follow).
 */
export function deriveReady(inst: Instance): {
  status: Condition['status'];
  reason: string;
  message: string;
} {
  const current = conditionOf(inst, 'Ready');
  const status = current?.status ?? 'False';
  const gates = (inst.spec?.controller?.schedulingGates ?? []).map((g) => g.name);
  if (gates.length)
    return {
      status,
      reason: 'SchedulingGatesPresent',
      message: `Scheduling gates present: ${gates.join(', ')}`,
    };
  const p = conditionOf(inst, 'Programmed');
  if (p?.status !== 'True')
    return {
      status,
      reason: p && p.reason !== 'Pending' ? p.reason : 'PendingProgramming',
      message: p && p.status !== 'Unknown' ? p.message : 'Instance has not been programmed',
    };
  const r = conditionOf(inst, 'Running');
  if (r?.status !== 'True')
    return {
      status,
      reason: r && r.reason !== 'Pending' ? r.reason : 'Pending',
      message: r && r.status !== 'Unknown' ? r.message : 'Instance is not running',
    };
  return { status: 'True', reason: 'Running', message: 'Instance is ready' };
}

export class InstanceReadyReconciler extends UpstreamReconciler {
  async reconcile(req: Request): Promise<Result | undefined> {
    const cluster = this.mgr.cluster(req.cluster);
    const inst = cluster.cache.informerFor<Instance>(INSTANCE).get(req.name, req.namespace);
    if (!inst || inst.metadata.deletionTimestamp) return;
    const ready = deriveReady(inst);
    await patchStatus(cluster.client, INSTANCE, inst, [
      { type: 'Ready', ...ready, observedGeneration: inst.metadata.generation },
    ]);
    return;
  }
}
