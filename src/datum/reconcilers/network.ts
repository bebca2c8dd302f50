/**
 * NetworkContext → backend network, Subnet → backend subnet (once upstream allocated its addresses), and the
 * Network finalizer that keeps a Network until every backend network made for it is gone.
 * Teardown order is enforced here and by the backend: a subnet waits for its instances, a network for its
 * subnets.
 */

import type { KubeObject, ResourceType } from '../../runtime/client/types.ts';
import type { ReconcileContext, Reconciler, Request, Result } from '../../runtime/controller/reconcile.ts';
import type { Cluster } from '../../runtime/manager/cluster.ts';
import { addFinalizer, hasFinalizer, removeFinalizer } from '../../runtime/util/finalizers.ts';
import { NETWORK, NETWORK_CONTEXT, SUBNET } from '../api/resources.ts';
import type { Location, Network, NetworkContext, Subnet } from '../api/types.ts';
import type { BackendContext } from '../backend.ts';
import { CONDITION, NSO_ALLOCATED_CITIES, REASON } from '../classic.ts';
import {
  CREDENTIALS_RECHECK_MS,
  classify,
  cond,
  deleteWhereItLives,
  FINALIZER,
  hasCondition,
  holdTeardown,
  keepLastGood,
  locationOf,
  networkId,
  objectContext,
  type ProviderContext,
  subnetId,
  writeStatus,
} from './common.ts';
import { applyDeletionPolicy, type ReleaseTarget } from './deletion-policy.ts';
import { ownerOf } from './instance.ts';
import { holdIfPaused, PAUSED_RECHECK_MS } from './pause.ts';
import { claim, claimObject } from './placement.ts';

export { networkId, subnetId };

const DEFAULT_IPV4_RANGE = '10.128.0.0/9';

abstract class BackendObjectReconciler<T extends KubeObject> implements Reconciler {
  protected readonly p: ProviderContext;
  protected abstract readonly resource: ResourceType;
  constructor(p: ProviderContext) {
    this.p = p;
  }
  protected abstract ensure(
    cluster: Cluster,
    obj: T,
    loc: Location,
    rc: ReconcileContext,
  ): Promise<Result | undefined>;
  /** The backend resources the object owns, for deletion policy Retain. */
  protected abstract owned(cluster: Cluster, obj: T): ReleaseTarget[];

  /** Deletes the object's backend resources in the place given; true once they are gone there. */
  protected abstract remove(cluster: Cluster, obj: T, bctx: BackendContext): Promise<boolean>;

  /** Where the object's backend resource lives; records it first if that could not be done earlier. */
  protected async context(cluster: Cluster, obj: T, loc: Location, rc: ReconcileContext) {
    const target = (await objectContext(this.p, cluster.name, obj, loc, rc.log, rc.signal))!;
    if (!target.recorded) await claim(cluster.client, this.resource, obj, FINALIZER, target.placement);
    return target.bctx;
  }

  async reconcile(req: Request, rc: ReconcileContext): Promise<Result | undefined> {
    const cluster = this.p.mgr.cluster(req.cluster);
    let obj = cluster.cache.informerFor<T>(this.resource).get(req.name, req.namespace);
    if (!obj) return;
    const { loc, ours } = locationOf(cluster, obj.spec?.location, this.p.settings);
    const mine = hasFinalizer(obj, FINALIZER);
    if (!ours && !mine) return;
    if (await holdIfPaused(this.p, cluster, this.resource, obj, loc))
      return { requeueAfter: PAUSED_RECHECK_MS };
    if (obj.metadata.deletionTimestamp) {
      if (!mine) return;
      const deleting = obj;
      return this.delete(cluster, obj, loc, rc).catch((err) =>
        holdTeardown(this.p, cluster, this.resource, deleting, err, CONDITION.Programmed),
      );
    }
    if (!ours) return;
    obj = await claimObject(this.p, cluster.client, this.resource, obj, FINALIZER, loc!, cluster.name);
    return this.ensure(cluster, obj, loc!, rc);
  }

  /** Awaited teardown, where the object lives (or every place it could), after its deletion policy. */
  private async delete(
    cluster: Cluster,
    obj: T,
    loc: Location | undefined,
    rc: ReconcileContext,
  ): Promise<Result | undefined> {
    const policy = await applyDeletionPolicy(
      this.p,
      cluster,
      obj,
      loc,
      obj.spec?.location,
      rc,
      this.owned(cluster, obj),
    );
    if (policy === 'hold') return { requeueAfter: 30_000 };
    if (policy === 'retained') {
      await removeFinalizer(cluster.client, this.resource, obj, FINALIZER);
      return;
    }
    const target = obj;
    const gone = await deleteWhereItLives(
      this.p,
      cluster.name,
      obj,
      loc,
      obj.spec?.location,
      rc.log,
      rc.signal,
      async (b) => ({
        gone: await this.remove(cluster, target, b),
      }),
    );
    if (!gone) return { requeueAfter: 1000 };
    await removeFinalizer(cluster.client, this.resource, obj, FINALIZER);
    return;
  }

  /** Programmed=False while something upstream is not there yet. */
  protected waiting(cluster: Cluster, obj: T, reason: string, message: string): Promise<boolean> {
    return writeStatus(
      cluster,
      this.resource,
      obj,
      [cond(CONDITION.Programmed, 'False', reason, message, obj.metadata.generation)],
      {},
      this.p.redactor,
    );
  }

  /** Writes Programmed from the outcome of an ensure call; retryable failures go back to the queue. */
  protected async report(
    cluster: Cluster,
    obj: T,
    run: () => Promise<unknown>,
    failedReason: string,
  ): Promise<Result | undefined> {
    const gen = obj.metadata.generation;
    try {
      await run();
    } catch (err) {
      const c = classify(err);
      // A ProviderConfig refused for this project says so under its own reason (it is not a backend failure).
      const reason = c.retry
        ? REASON.ProgrammingInProgress
        : c.reason === REASON.ProviderConfigNotPermitted
          ? c.reason
          : failedReason;
      if (keepLastGood(this.p, cluster, obj, c.retry, c.reason, c.message))
        throw Object.assign(new Error(this.p.redactor.redact(c.message)), { retryAfterMs: c.retryAfterMs });
      await writeStatus(
        cluster,
        this.resource,
        obj,
        [cond(CONDITION.Programmed, 'False', reason, c.message, gen)],
        {},
        this.p.redactor,
      );
      if (!c.retry) cluster.recorder.event(obj, 'Warning', reason, this.p.redactor.redact(c.message));
      if (c.retry)
        throw Object.assign(new Error(this.p.redactor.redact(c.message)), { retryAfterMs: c.retryAfterMs });
      return {
        requeueAfter:
          c.reason === REASON.CredentialsUnavailable || c.reason === REASON.ProviderConfigNotPermitted
            ? CREDENTIALS_RECHECK_MS
            : this.p.settings.resyncSeconds * 1000,
      };
    }
    await writeStatus(
      cluster,
      this.resource,
      obj,
      [
        cond(
          CONDITION.Programmed,
          'True',
          REASON.Programmed,
          `${this.resource.kind} has been programmed`,
          gen,
        ),
      ],
      {},
      this.p.redactor,
    );
    return { requeueAfter: this.p.settings.resyncSeconds * 1000 };
  }
}

export class NetworkContextReconciler extends BackendObjectReconciler<NetworkContext> {
  protected readonly resource = NETWORK_CONTEXT;

  protected owned(cluster: Cluster, ctx: NetworkContext): ReleaseTarget[] {
    return [
      ...subnetsOf(cluster, ctx).map((s): ReleaseTarget => ['subnet', subnetId(s)]),
      ['network', networkId(ctx)],
    ];
  }

  protected async ensure(cluster: Cluster, ctx: NetworkContext, loc: Location, rc: ReconcileContext) {
    const net = cluster.cache
      .informerFor<Network>(NETWORK)
      .get(ctx.spec!.network.name, ctx.metadata.namespace);
    if (!net) {
      await this.waiting(cluster, ctx, REASON.NotProgrammed, `Network ${ctx.spec!.network.name} not found`);
      return { requeueAfter: 5000 };
    }
    return this.report(
      cluster,
      ctx,
      async () =>
        this.p.backend.ensureNetwork(await this.context(cluster, ctx, loc, rc), {
          id: networkId(ctx),
          owner: ownerOf(cluster.name, ctx, 'NetworkContext'),
          ipv4Cidr: net.spec.ipam.ipv4Range ?? DEFAULT_IPV4_RANGE,
          mtu: net.spec.mtu ?? 1460,
        }),
      REASON.NetworkFailedToCreate,
    );
  }

  protected async remove(cluster: Cluster, ctx: NetworkContext, bctx: BackendContext): Promise<boolean> {
    // Datum's NSO deletes only the NetworkContext; its Subnets are owner-referenced children that the garbage
    // collector removes after the context is gone. So the context's backend subnets go here, first (the
    // backend refuses while instances still use one, and we come back); each Subnet's own finalizer later
    // finds its backend subnet gone. Waiting for the Subnet objects instead would deadlock.
    for (const s of subnetsOf(cluster, ctx))
      if (!(await this.p.backend.deleteSubnet(bctx, subnetId(s))).gone) return false;
    return (await this.p.backend.deleteNetwork(bctx, networkId(ctx))).gone;
  }
}

function subnetsOf(cluster: Cluster, ctx: NetworkContext): Subnet[] {
  return cluster.cache
    .informerFor<Subnet>(SUBNET)
    .list({ namespace: ctx.metadata.namespace })
    .filter((s) => s.spec?.networkContext.name === ctx.metadata.name);
}

export class SubnetReconciler extends BackendObjectReconciler<Subnet> {
  protected readonly resource = SUBNET;

  protected owned(_cluster: Cluster, subnet: Subnet): ReleaseTarget[] {
    return [['subnet', subnetId(subnet)]];
  }

  protected async ensure(cluster: Cluster, subnet: Subnet, loc: Location, rc: ReconcileContext) {
    const st = subnet.status;
    if (hasCondition(subnet, CONDITION.Allocated, 'True') && st?.startAddress === '') {
      // Classic NSO allocates only for a few cities and marks every other Subnet allocated with no address.
      // Nothing will change that by itself: say so, terminally, instead of waiting forever.
      await this.waiting(
        cluster,
        subnet,
        REASON.AddressesNotAllocated,
        `The upstream allocated no addresses to this subnet (empty startAddress); Datum's network-services ` +
          `operator allocates only for the city codes ${NSO_ALLOCATED_CITIES.join(', ')}`,
      );
      return;
    }
    if (!hasCondition(subnet, CONDITION.Allocated, 'True') || !st?.startAddress || !st.prefixLength) {
      await this.waiting(
        cluster,
        subnet,
        REASON.WaitingForAllocation,
        'Waiting for the subnet addresses to be allocated',
      );
      return;
    }
    const ctx = cluster.cache
      .informerFor<NetworkContext>(NETWORK_CONTEXT)
      .get(subnet.spec!.networkContext.name, subnet.metadata.namespace);
    if (!ctx || ctx.metadata.deletionTimestamp || !hasCondition(ctx, CONDITION.Programmed, 'True')) {
      // A context being deleted takes its subnets down with it: never program one again meanwhile.
      await this.waiting(
        cluster,
        subnet,
        REASON.NetworkNotReady,
        `Waiting for NetworkContext ${subnet.spec!.networkContext.name} to be programmed`,
      );
      return { requeueAfter: 2000 };
    }
    return this.report(
      cluster,
      subnet,
      async () =>
        this.p.backend.ensureSubnet(await this.context(cluster, subnet, loc, rc), {
          id: subnetId(subnet),
          owner: ownerOf(cluster.name, subnet, 'Subnet'),
          networkId: networkId(ctx),
          cidr: `${st.startAddress}/${st.prefixLength}`,
        }),
      REASON.BackendError,
    );
  }

  protected async remove(_cluster: Cluster, subnet: Subnet, bctx: BackendContext): Promise<boolean> {
    return (await this.p.backend.deleteSubnet(bctx, subnetId(subnet))).gone;
  }
}

/** Keeps our finalizer on a Network while any of our NetworkContexts for it still exists. */
export class NetworkFinalizerReconciler implements Reconciler {
  private readonly p: ProviderContext;
  constructor(p: ProviderContext) {
    this.p = p;
  }

  async reconcile(req: Request): Promise<Result | undefined> {
    const cluster = this.p.mgr.cluster(req.cluster);
    const net = cluster.cache.informerFor<Network>(NETWORK).get(req.name, req.namespace);
    if (!net) return;
    const contexts = cluster.cache
      .informerFor<NetworkContext>(NETWORK_CONTEXT)
      .list({ namespace: net.metadata.namespace })
      .filter(
        (c) =>
          c.spec?.network.name === net.metadata.name &&
          (hasFinalizer(c, FINALIZER) || locationOf(cluster, c.spec?.location, this.p.settings).ours),
      );
    const mine = hasFinalizer(net, FINALIZER);
    if (contexts.length > 0 && !mine && !net.metadata.deletionTimestamp)
      await addFinalizer(cluster.client, NETWORK, net, FINALIZER);
    if (contexts.length === 0 && mine) await removeFinalizer(cluster.client, NETWORK, net, FINALIZER);
    return;
  }
}
