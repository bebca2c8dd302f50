/**
 * The orphan sweeper: backend resources carry their upstream owner (cluster, kind, namespace, name, UID);
 * one whose owner no longer exists is deleted. It never deletes what belongs to a cluster that is not
 * engaged (we cannot know), and runs only once that cluster's caches have synced.
 */
import type { KubeObject } from '../../runtime/client/types.ts';
import { sleep } from '../../runtime/util/sleep.ts';
import { INSTANCE, NETWORK_CONTEXT, SUBNET } from '../api/resources.ts';
import type { Location } from '../api/types.ts';
import type { ManagedResource } from '../backend.ts';
import { backendContext, type ProviderContext } from './common.ts';

const ORDER: Record<ManagedResource['kind'], number> = { instance: 0, firewall: 1, subnet: 2, network: 3 };
const OWNER_TYPES = { Instance: INSTANCE, NetworkContext: NETWORK_CONTEXT, Subnet: SUBNET };

export class OrphanSweeper {
  readonly needLeaderElection = true;
  private readonly p: ProviderContext;
  sweeps = 0;

  constructor(p: ProviderContext) {
    this.p = p;
  }

  async start(signal: AbortSignal): Promise<void> {
    // The first pass comes after a tenth of the interval (orphans left by a crash are found soon), then every interval.
    let wait = (this.p.settings.sweepIntervalSeconds * 1000) / 10;
    while (!signal.aborted) {
      await sleep(wait, signal);
      wait = this.p.settings.sweepIntervalSeconds * 1000;
      if (signal.aborted) return;
      await this.sweep(signal).catch((err) =>
        this.p.log.warn('orphan sweep failed', { err: this.p.redactor.redact(String(err)) }),
      );
    }
  }

  /** One pass; returns the ids it deleted (or started deleting). */
  async sweep(signal: AbortSignal = new AbortController().signal): Promise<string[]> {
    this.sweeps++;
    const anyLoc = { metadata: { name: '', namespace: '' }, spec: { topology: {} } } as unknown as Location;
    const bctx = await backendContext(this.p, anyLoc, this.p.log, signal);
    const managed = (await this.p.backend.listManaged(bctx)).sort((a, b) => ORDER[a.kind] - ORDER[b.kind]);
    const deleted: string[] = [];
    for (const r of managed) {
      const cluster = this.p.mgr.getCluster(r.owner.cluster);
      if (!cluster?.cache.hasSynced()) continue;
      const type = OWNER_TYPES[r.owner.kind];
      const owner = cluster.cache
        .informerFor<KubeObject>(type)
        .get(r.owner.name, r.owner.namespace || undefined);
      if (owner && owner.metadata.uid === r.owner.uid) continue;
      this.p.log.info('deleting orphaned backend resource', {
        kind: r.kind,
        id: r.id,
        owner: `${r.owner.cluster}/${r.owner.namespace}/${r.owner.name}`,
      });
      if (r.kind === 'instance' || r.kind === 'firewall') await this.p.backend.deleteInstance(bctx, r.id);
      else if (r.kind === 'subnet') await this.p.backend.deleteSubnet(bctx, r.id);
      else if (r.kind === 'network') await this.p.backend.deleteNetwork(bctx, r.id);
      deleted.push(r.id);
    }
    return deleted;
  }
}
