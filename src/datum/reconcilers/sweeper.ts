/**
 * The orphan sweeper: backend resources carry their upstream owner (cluster, kind, namespace, name, UID);
 * one whose owner no longer exists is deleted. It never deletes what belongs to a cluster that is not
 * engaged (we cannot know), and runs only once that cluster's caches have synced.
 */

import type { KubeObject } from '../../runtime/client/types.ts';
import { sleep } from '../../runtime/util/sleep.ts';
import { INSTANCE, LOCATION, NAMESPACE, NETWORK_CONTEXT, SUBNET } from '../api/resources.ts';
import type { Location } from '../api/types.ts';
import type { BackendContext, ManagedResource } from '../backend.ts';
import { cellLocation } from '../cell.ts';
import { ownsLocation } from '../classic.ts';
import { orphansDeleted } from '../observability.ts';
import { generationOf } from '../settings.ts';
import type { ProviderContext } from './common.ts';
import { currentPlacement, type Placement, placementContext, recordedPlacement } from './placement.ts';

const ORDER: Record<ManagedResource['kind'], number> = { instance: 0, firewall: 1, subnet: 2, network: 3 };
const OWNER_TYPES = { Instance: INSTANCE, NetworkContext: NETWORK_CONTEXT, Subnet: SUBNET };
/** In a cell, networks and subnets belong to the project Namespace (reconcilers/cell-network.ts). */
const CELL_OWNER_TYPES = { Instance: INSTANCE, NetworkContext: NAMESPACE, Subnet: NAMESPACE };

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

  /**
   * One pass over every place this installation may have created resources: each ProviderConfig in its
   * region, every placement recorded on an object, and each of our Locations where it is served now.
   * Backends list only resources tagged with this installation's identity, so another installation's are
   * never seen. Returns the ids it deleted (or started deleting).
   */
  async sweep(signal: AbortSignal = new AbortController().signal): Promise<string[]> {
    this.sweeps++;
    const deleted: string[] = [];
    for (const place of await this.places()) {
      let bctx: BackendContext;
      let managed: ManagedResource[];
      try {
        bctx = await placementContext(this.p, place, undefined, this.p.log, signal);
        managed = (await this.p.backend.listManaged(bctx)).sort((a, b) => ORDER[a.kind] - ORDER[b.kind]);
      } catch (err) {
        this.p.log.warn('orphan sweep skipped a place', {
          providerConfig: place.providerConfig,
          region: place.region,
          err: this.p.redactor.redact(String(err)),
        });
        continue;
      }
      for (const r of managed) {
        // A ProviderConfig's credentials are used only for the projects it serves, sweeping included.
        if (!(await this.p.resolver.permits(place.providerConfig, r.owner.cluster))) continue;
        if (await this.deleteIfOrphaned(bctx, r)) deleted.push(r.id);
      }
    }
    return deleted;
  }

  private async deleteIfOrphaned(bctx: BackendContext, r: ManagedResource): Promise<boolean> {
    const cluster = this.p.mgr.getCluster(r.owner.cluster);
    if (!cluster?.cache.hasSynced()) return false;
    const type = this.ownerTypes()[r.owner.kind];
    const owner = cluster.cache
      .informerFor<KubeObject>(type)
      .get(r.owner.name, r.owner.namespace || undefined);
    if (owner && owner.metadata.uid === r.owner.uid) return false;
    this.p.log.info('deleting orphaned backend resource', {
      kind: r.kind,
      id: r.id,
      region: bctx.region,
      owner: `${r.owner.cluster}/${r.owner.namespace}/${r.owner.name}`,
    });
    if (r.kind === 'instance' || r.kind === 'firewall') await this.p.backend.deleteInstance(bctx, r.id);
    else if (r.kind === 'subnet') await this.p.backend.deleteSubnet(bctx, r.id);
    else if (r.kind === 'network') await this.p.backend.deleteNetwork(bctx, r.id);
    orphansDeleted(this.p.mgr.metrics.registry).inc({ kind: r.kind });
    return true;
  }

  private ownerTypes(): typeof OWNER_TYPES {
    return generationOf(this.p.settings) === 'cell' ? CELL_OWNER_TYPES : OWNER_TYPES;
  }

  /** Distinct (ProviderConfig, region) pairs in use or configured. */
  private async places(): Promise<Placement[]> {
    const out = new Map<string, Placement>();
    const add = (providerConfig: string, region: string | undefined) =>
      out.set(`${providerConfig}|${region ?? ''}`, {
        providerConfig,
        region,
        location: { namespace: '', name: '' },
      });
    for (const pc of await this.p.resolver.list()) add(pc.metadata.name!, pc.spec.region);
    for (const cluster of this.p.mgr.clusters()) {
      if (!cluster.cache.hasSynced()) continue;
      const cache = cluster.cache;
      for (const r of new Set(Object.values(this.ownerTypes())))
        for (const o of cache.informerFor<KubeObject>(r).list()) {
          const rec = recordedPlacement(o);
          if (rec) add(rec.providerConfig, rec.region);
        }
      if (generationOf(this.p.settings) === 'cell') {
        // A cell has no Location objects of ours: it is one place, served as its Instances are.
        const now = await currentPlacement(
          this.p,
          cluster.name,
          cellLocation({ metadata: {} }, this.p.settings),
        ).catch(() => undefined);
        if (now) add(now.placement.providerConfig, now.placement.region);
        continue;
      }
      for (const loc of cache.informerFor<Location>(LOCATION).list()) {
        if (!ownsLocation(loc, this.p.settings.locationClassName)) continue;
        const now = await currentPlacement(this.p, cluster.name, loc).catch(() => undefined);
        if (now) add(now.placement.providerConfig, now.placement.region);
      }
    }
    // A paused ProviderConfig means no backend calls at all, sweeping included.
    const paused = new Set(
      (await this.p.resolver.list()).filter((pc) => pc.spec.paused).map((pc) => pc.metadata.name),
    );
    return [...out.values()].filter((pl) => !paused.has(pl.providerConfig));
  }
}
