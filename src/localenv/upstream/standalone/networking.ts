import {
  LOCATION,
  NETWORK,
  NETWORK_BINDING,
  NETWORK_CONTEXT,
  SUBNET,
  SUBNET_CLAIM,
} from '../../../datum/api/resources.ts';
import type {
  Location,
  Network,
  NetworkBinding,
  NetworkContext,
  Subnet,
  SubnetClaim,
} from '../../../datum/api/types.ts';
import { CITY_CODE_KEY, networkContextName } from '../../../datum/classic.ts';
import type { Request, Result } from '../../../runtime/controller/reconcile.ts';
import { addFinalizer, hasFinalizer, removeFinalizer } from '../../../runtime/util/finalizers.ts';
import {
  conditionOf,
  createIfMissing,
  deleteIfExists,
  isTrue,
  NETWORK_FINALIZER,
  ownerRef,
  patchStatus,
  UpstreamReconciler,
} from './util.ts';

const NETWORKING = 'networking.datumapis.com/v1alpha';
// NSO's proof-of-concept allocator: a /20 for three cities, and an empty startAddress for every other one.
const CITY_PREFIXES: Record<string, string> = { DFW: '10.128.0.0', DLS: '10.130.0.0', LHR: '10.132.0.0' };

export function allocate(city: string | undefined): { startAddress: string; prefixLength: number } {
  return { startAddress: (city && CITY_PREFIXES[city]) || '', prefixLength: 20 };
}

export class NetworkBindingReconciler extends UpstreamReconciler {
  async reconcile(req: Request): Promise<Result | undefined> {
    const cluster = this.mgr.cluster(req.cluster);
    const b = cluster.cache.informerFor<NetworkBinding>(NETWORK_BINDING).get(req.name, req.namespace);
    if (!b || b.metadata.deletionTimestamp) return;
    const netNs = b.spec.network.namespace ?? b.metadata.namespace!;
    const net = cluster.cache.informerFor<Network>(NETWORK).get(b.spec.network.name, netNs);
    if (!net) {
      await patchStatus(cluster.client, NETWORK_BINDING, b, [
        {
          type: 'Ready',
          status: 'False',
          reason: 'NetworkNotFound',
          message: `Network ${netNs}/${b.spec.network.name} not found`,
        },
      ]);
      return { requeueAfter: 5000 };
    }
    const name = networkContextName(net.metadata.name!, b.spec.location);
    const ctx = cluster.cache.informerFor<NetworkContext>(NETWORK_CONTEXT).get(name, netNs);
    if (!ctx) {
      await createIfMissing(cluster.client, NETWORK_CONTEXT, {
        metadata: { name, namespace: netNs, ownerReferences: [ownerRef(net, 'Network', NETWORKING)] },
        spec: { network: { name: net.metadata.name! }, location: b.spec.location },
      });
      return { requeueAfter: 1000 };
    }
    if (!isTrue(ctx, 'Ready')) {
      const p = conditionOf(ctx, 'Programmed');
      const reason =
        p?.reason === 'NetworkFailedToCreate' ? 'NetworkFailedToCreate' : 'NetworkContextNotReady';
      await patchStatus(cluster.client, NETWORK_BINDING, b, [
        { type: 'Ready', status: 'False', reason, message: p?.message ?? 'waiting for the network context' },
      ]);
      return { requeueAfter: 2000 };
    }
    await patchStatus(
      cluster.client,
      NETWORK_BINDING,
      b,
      [{ type: 'Ready', status: 'True', reason: 'NetworkContextReady', message: 'network context is ready' }],
      {
        networkContextRef: { name, namespace: netNs },
      },
    );
    return;
  }
}

/** NetworkContext Ready ← Programmed, as NSO does it: set to True once programmed, never back to False. */
export class NetworkContextReadyReconciler extends UpstreamReconciler {
  async reconcile(req: Request): Promise<Result | undefined> {
    const cluster = this.mgr.cluster(req.cluster);
    const ctx = cluster.cache.informerFor(NETWORK_CONTEXT).get(req.name, req.namespace);
    if (!ctx || ctx.metadata.deletionTimestamp || !isTrue(ctx, 'Programmed')) return;
    await patchStatus(cluster.client, NETWORK_CONTEXT, ctx, [
      {
        type: 'Ready',
        status: 'True',
        reason: 'Ready',
        message: 'Network context is ready',
        observedGeneration: ctx.metadata.generation,
      },
    ]);
    return;
  }
}

/**
 * NSO's Subnet controller: allocates the prefix once its context is Ready (only for the cities NSO knows),
 * marks it Allocated, and derives Ready from Programmed; a Ready Subnet is never looked at again.
 */
export class SubnetReconciler extends UpstreamReconciler {
  async reconcile(req: Request): Promise<Result | undefined> {
    const cluster = this.mgr.cluster(req.cluster);
    const subnet = cluster.cache.informerFor<Subnet>(SUBNET).get(req.name, req.namespace);
    if (!subnet?.spec || subnet.metadata.deletionTimestamp || isTrue(subnet, 'Ready')) return;
    let fields: Record<string, unknown> = {};
    if (subnet.status?.startAddress === undefined) {
      const ctx = cluster.cache
        .informerFor<NetworkContext>(NETWORK_CONTEXT)
        .get(subnet.spec.networkContext.name, subnet.metadata.namespace);
      if (!ctx || !isTrue(ctx, 'Ready')) throw new Error('network context is not ready');
      const loc = cluster.cache
        .informerFor<Location>(LOCATION)
        .get(ctx.spec!.location.name, ctx.spec!.location.namespace);
      if (!loc) throw new Error('failed fetching network context location');
      const city = loc.spec?.topology?.[CITY_CODE_KEY];
      if (!city) throw new Error(`unable to find topology key: ${CITY_CODE_KEY}`);
      fields = allocate(city);
    }
    const programmed = isTrue(subnet, 'Programmed');
    const gen = subnet.metadata.generation;
    await patchStatus(
      cluster.client,
      SUBNET,
      subnet,
      [
        {
          type: 'Allocated',
          status: 'True',
          reason: 'PrefixAllocated',
          message: 'Subnet has been allocated a prefix',
          observedGeneration: gen,
        },
        programmed
          ? {
              type: 'Ready',
              status: 'True',
              reason: 'Ready',
              message: 'Subnet is ready to use',
              observedGeneration: gen,
            }
          : {
              type: 'Ready',
              status: 'False',
              reason: 'NotProgrammed',
              message: 'Subnet is not yet programmed',
              observedGeneration: gen,
            },
      ],
      fields,
    );
    return;
  }
}

/** NSO's SubnetClaim controller: one Subnet per claim (owned by the context), Ready once the Subnet is. */
export class SubnetClaimReconciler extends UpstreamReconciler {
  async reconcile(req: Request): Promise<Result | undefined> {
    const cluster = this.mgr.cluster(req.cluster);
    const claim = cluster.cache.informerFor<SubnetClaim>(SUBNET_CLAIM).get(req.name, req.namespace);
    if (!claim?.spec || claim.metadata.deletionTimestamp) return;
    const ns = claim.metadata.namespace!;
    const subnet = cluster.cache.informerFor<Subnet>(SUBNET).get(claim.metadata.name!, ns);
    const gen = claim.metadata.generation;
    if (!subnet) {
      const ctx = cluster.cache
        .informerFor<NetworkContext>(NETWORK_CONTEXT)
        .get(claim.spec.networkContext.name, ns);
      if (!ctx) throw new Error('failed fetching network context');
      await createIfMissing(cluster.client, SUBNET, {
        metadata: {
          name: claim.metadata.name,
          namespace: ns,
          ownerReferences: [ownerRef(ctx, 'NetworkContext', NETWORKING)],
        },
        spec: {
          ipFamily: claim.spec.ipFamily,
          subnetClass: claim.spec.subnetClass,
          networkContext: claim.spec.networkContext,
          location: claim.spec.location,
          // Go's zero values, which NSO's client always sends: the CRD requires both fields.
          startAddress: '',
          prefixLength: 0,
        },
      });
      await patchStatus(cluster.client, SUBNET_CLAIM, claim, [
        {
          type: 'Ready',
          status: 'False',
          reason: 'SubnetNotReady',
          message: 'Subnet is not ready',
          observedGeneration: gen,
        },
      ]);
      return;
    }
    if (!isTrue(subnet, 'Ready')) return;
    await patchStatus(
      cluster.client,
      SUBNET_CLAIM,
      claim,
      [
        {
          type: 'Ready',
          status: 'True',
          reason: 'SubnetReady',
          message: 'Subnet ready',
          observedGeneration: gen,
        },
      ],
      { subnetRef: { name: subnet.metadata.name } },
    );
    return;
  }
}

/**
 * NSO's Network finalizer: deletes the network's contexts and waits until they are gone. Their SubnetClaims
 * and Subnets are owner-referenced children that the garbage collector removes afterwards.
 */
export class NetworkReconciler extends UpstreamReconciler {
  async reconcile(req: Request): Promise<Result | undefined> {
    const cluster = this.mgr.cluster(req.cluster);
    const c = cluster.client;
    const net = cluster.cache.informerFor<Network>(NETWORK).get(req.name, req.namespace);
    if (!net) return;
    if (!net.metadata.deletionTimestamp) {
      if (!hasFinalizer(net, NETWORK_FINALIZER)) await addFinalizer(c, NETWORK, net, NETWORK_FINALIZER);
      return;
    }
    if (!hasFinalizer(net, NETWORK_FINALIZER)) return;
    const contexts = cluster.cache
      .informerFor<NetworkContext>(NETWORK_CONTEXT)
      .list({ namespace: net.metadata.namespace })
      .filter((x) => x.metadata.ownerReferences?.some((o) => o.uid === net.metadata.uid && o.controller));
    for (const ctx of contexts)
      if (!ctx.metadata.deletionTimestamp)
        await deleteIfExists(c, NETWORK_CONTEXT, ctx.metadata.name!, ctx.metadata.namespace);
    // The watch on owned contexts brings us back once they are gone.
    if (contexts.length > 0) return;
    await removeFinalizer(c, NETWORK, net, NETWORK_FINALIZER);
    return;
  }
}
