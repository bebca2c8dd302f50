/**
 * A cell has no NetworkContexts or Subnets for us to program (NSO's cell manager owns networking), but a
 * backend places instances in a network. Each project namespace of the cell (`ns-<project uid>`) gets one
 * backend network and subnet, created with its first Instance and deleted after its last one. Their owner
 * is the Namespace (tagged with the backend vocabulary's NetworkContext and Subnet kinds, name = namespace),
 * so the orphan sweep deletes them once the namespace is gone.
 */

import { KeyedMutex } from '../../runtime/util/keyed-mutex.ts';
import { type Backend, type BackendContext, BackendError, type ResourceOwner } from '../backend.ts';
import { REASON } from '../classic.ts';
import { Refusal } from './refusal.ts';

export const CELL_NETWORK_CIDR = '10.128.0.0/16';
export const CELL_SUBNET_CIDR = '10.128.0.0/20';

export function cellNetworkIds(namespaceUid: string): { networkId: string; subnetId: string } {
  return { networkId: `net-cell-${namespaceUid}`, subnetId: `subnet-cell-${namespaceUid}` };
}

function owner(
  cluster: string,
  namespace: string,
  uid: string,
  kind: 'NetworkContext' | 'Subnet',
): ResourceOwner {
  return { cluster, namespace: '', kind, name: namespace, uid };
}

/**
 * Every Instance of a namespace ensures the same network, in parallel reconciles: one at a time per namespace,
 * so the backend never sees two creates of one network id at once (the work queue only serializes one object).
 */
const namespaceLocks = new KeyedMutex();

/** Ensures the namespace's network and subnet; a Refusal (retried) until both are ready. */
export function ensureCellNetwork(
  p: { backend: Backend },
  bctx: BackendContext,
  cluster: string,
  ns: { name: string; uid: string },
): Promise<{ networkId: string; subnetId: string }> {
  return namespaceLocks.run(ns.uid, () => ensureUnlocked(p, bctx, cluster, ns));
}

async function ensureUnlocked(
  p: { backend: Backend },
  bctx: BackendContext,
  cluster: string,
  ns: { name: string; uid: string },
): Promise<{ networkId: string; subnetId: string }> {
  const ids = cellNetworkIds(ns.uid);
  const net = await p.backend.ensureNetwork(bctx, {
    id: ids.networkId,
    owner: owner(cluster, ns.name, ns.uid, 'NetworkContext'),
    ipv4Cidr: CELL_NETWORK_CIDR,
    mtu: 1460,
  });
  if (!net.ready)
    throw new Refusal(REASON.NetworkNotReady, `waiting for the network of namespace ${ns.name}`, true);
  const sub = await p.backend.ensureSubnet(bctx, {
    id: ids.subnetId,
    owner: owner(cluster, ns.name, ns.uid, 'Subnet'),
    networkId: ids.networkId,
    cidr: CELL_SUBNET_CIDR,
  });
  if (!sub.ready)
    throw new Refusal(REASON.NetworkNotReady, `waiting for the subnet of namespace ${ns.name}`, true);
  return ids;
}

/** Deletes the namespace's subnet, then its network; true once both are gone. */
export async function deleteCellNetwork(
  p: { backend: Backend },
  bctx: BackendContext,
  namespaceUid: string,
): Promise<boolean> {
  const ids = cellNetworkIds(namespaceUid);
  return namespaceLocks.run(namespaceUid, async () => {
    try {
      if (!(await p.backend.deleteSubnet(bctx, ids.subnetId)).gone) return false;
      return (await p.backend.deleteNetwork(bctx, ids.networkId)).gone;
    } catch (err) {
      // Still in use by an instance on its way out: look again shortly.
      if (err instanceof BackendError && err.reason === 'DependencyNotReady') return false;
      throw err;
    }
  });
}
