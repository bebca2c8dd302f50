/**
 * Standalone stand-ins for Datum's network-services operator (classic): NetworkBinding → NetworkContext,
 * context/subnet Ready derived from the provider's Programmed, SubnetClaim → Subnet with address
 * allocation, and the Network finalizer that removes a network's contexts (and their subnets) first.
 */
import { createHash } from 'node:crypto';
import {
  LOCATION,
  NETWORK,
  NETWORK_BINDING,
  NETWORK_CONTEXT,
  SUBNET,
  SUBNET_CLAIM,
} from '../../datum/api/resources.ts';
import type {
  Location,
  Network,
  NetworkBinding,
  NetworkContext,
  Subnet,
  SubnetClaim,
} from '../../datum/api/types.ts';
import { CITY_CODE_KEY, networkContextName } from '../../datum/classic.ts';
import type { Reconciler, Request, Result } from '../../runtime/controller/reconcile.ts';
import type { Manager } from '../../runtime/manager/manager.ts';
import { addFinalizer, hasFinalizer, removeFinalizer } from '../../runtime/util/finalizers.ts';
import {
  conditionOf,
  createIfMissing,
  deleteIfExists,
  isTrue,
  NETWORK_FINALIZER,
  ownerRef,
  patchStatus,
} from './util.ts';

const NETWORKING = 'networking.datumapis.com/v1alpha';
// NSO's proof-of-concept allocator; other cities get a deterministic /20 from 10.134.0.0 upwards.
const CITY_PREFIXES: Record<string, string> = { DFW: '10.128.0.0', DLS: '10.130.0.0', LHR: '10.132.0.0' };

export function allocate(city: string | undefined): { startAddress: string; prefixLength: number } {
  const known = city && CITY_PREFIXES[city.toUpperCase()];
  if (known) return { startAddress: known, prefixLength: 20 };
  const n =
    createHash('sha256')
      .update(city ?? '')
      .digest()[0]! % 60;
  return { startAddress: `10.${134 + n * 2}.0.0`, prefixLength: 20 };
}

export class NetworkBindingReconciler implements Reconciler {
  private readonly mgr: Manager;
  constructor(mgr: Manager) {
    this.mgr = mgr;
  }
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

/** Ready ← Programmed, for NetworkContexts and Subnets (what NSO does once the provider programmed them). */
export class ReadyFromProgrammedReconciler implements Reconciler {
  private readonly mgr: Manager;
  private readonly kind: 'NetworkContext' | 'Subnet';
  constructor(mgr: Manager, kind: 'NetworkContext' | 'Subnet') {
    this.mgr = mgr;
    this.kind = kind;
  }
  async reconcile(req: Request): Promise<Result | undefined> {
    const cluster = this.mgr.cluster(req.cluster);
    const r = this.kind === 'Subnet' ? SUBNET : NETWORK_CONTEXT;
    const obj = cluster.cache.informerFor(r).get(req.name, req.namespace);
    if (!obj || obj.metadata.deletionTimestamp) return;
    const ready = isTrue(obj, 'Programmed');
    await patchStatus(cluster.client, r, obj, [
      {
        type: 'Ready',
        status: ready ? 'True' : 'False',
        reason: ready ? 'Ready' : 'NotProgrammed',
        message: ready ? `${this.kind} is ready` : `${this.kind} is not programmed yet`,
      },
    ]);
    return;
  }
}

export class SubnetClaimReconciler implements Reconciler {
  private readonly mgr: Manager;
  constructor(mgr: Manager) {
    this.mgr = mgr;
  }
  async reconcile(req: Request): Promise<Result | undefined> {
    const cluster = this.mgr.cluster(req.cluster);
    const claim = cluster.cache.informerFor<SubnetClaim>(SUBNET_CLAIM).get(req.name, req.namespace);
    if (!claim?.spec || claim.metadata.deletionTimestamp) return;
    const ns = claim.metadata.namespace!;
    let subnet = cluster.cache.informerFor<Subnet>(SUBNET).get(claim.metadata.name!, ns);
    const ctx = cluster.cache
      .informerFor<NetworkContext>(NETWORK_CONTEXT)
      .get(claim.spec.networkContext.name, ns);
    if (!subnet) {
      if (!ctx) return { requeueAfter: 2000 };
      await createIfMissing(cluster.client, SUBNET, {
        metadata: {
          name: claim.metadata.name,
          namespace: ns,
          ownerReferences: [ownerRef(ctx, 'NetworkContext', NETWORKING)],
        },
        spec: { ...claim.spec, startAddress: '', prefixLength: 0 },
      });
      return { requeueAfter: 500 };
    }
    if (!isTrue(subnet, 'Allocated')) {
      const loc = cluster.cache
        .informerFor<Location>(LOCATION)
        .get(claim.spec.location.name, claim.spec.location.namespace);
      const a = allocate(loc?.spec?.topology?.[CITY_CODE_KEY]);
      await patchStatus(
        cluster.client,
        SUBNET,
        subnet,
        [
          {
            type: 'Allocated',
            status: 'True',
            reason: 'PrefixAllocated',
            message: `allocated ${a.startAddress}/${a.prefixLength}`,
          },
        ],
        a,
      );
      return { requeueAfter: 500 };
    }
    subnet = cluster.cache.informerFor<Subnet>(SUBNET).get(claim.metadata.name!, ns)!;
    const ready = isTrue(subnet, 'Ready');
    await patchStatus(
      cluster.client,
      SUBNET_CLAIM,
      claim,
      [
        {
          type: 'Ready',
          status: ready ? 'True' : 'False',
          reason: ready ? 'SubnetReady' : 'SubnetNotReady',
          message: ready ? 'subnet is ready' : 'waiting for the subnet',
        },
      ],
      {
        subnetRef: { name: subnet.metadata.name },
        startAddress: subnet.status?.startAddress,
        prefixLength: subnet.status?.prefixLength,
      },
    );
    return ready ? undefined : { requeueAfter: 2000 };
  }
}

/** Deleting a Network first deletes its contexts and their subnets/claims (owner-reference GC's job). */
export class NetworkReconciler implements Reconciler {
  private readonly mgr: Manager;
  constructor(mgr: Manager) {
    this.mgr = mgr;
  }
  async reconcile(req: Request): Promise<Result | undefined> {
    const cluster = this.mgr.cluster(req.cluster);
    const c = cluster.client;
    const net = cluster.cache.informerFor<Network>(NETWORK).get(req.name, req.namespace);
    if (!net) return;
    if (!net.metadata.deletionTimestamp) {
      if (!hasFinalizer(net, NETWORK_FINALIZER)) await addFinalizer(c, NETWORK, net, NETWORK_FINALIZER);
      return;
    }
    const ns = net.metadata.namespace!;
    const contexts = cluster.cache
      .informerFor<NetworkContext>(NETWORK_CONTEXT)
      .list({ namespace: ns })
      .filter((x) => x.spec?.network.name === net.metadata.name);
    for (const ctx of contexts) {
      for (const s of cluster.cache
        .informerFor<Subnet>(SUBNET)
        .list({ namespace: ns })
        .filter((x) => x.spec?.networkContext.name === ctx.metadata.name)) {
        await deleteIfExists(c, SUBNET_CLAIM, s.metadata.name!, ns);
        await deleteIfExists(c, SUBNET, s.metadata.name!, ns);
      }
      await deleteIfExists(c, NETWORK_CONTEXT, ctx.metadata.name!, ns);
    }
    if (contexts.length > 0) return { requeueAfter: 1000 };
    if (hasFinalizer(net, NETWORK_FINALIZER)) await removeFinalizer(c, NETWORK, net, NETWORK_FINALIZER);
    return;
  }
}
