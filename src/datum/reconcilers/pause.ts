/**
 * Pause, as Cluster API does it: an annotation on an Instance, NetworkContext or Subnet, or `spec.paused` on
 * the ProviderConfig that serves it, stops every backend call for it (no create, update or delete; a deletion
 * waits with our finalizer held) until removed. The object says so in a condition of our own type, and
 * `datum_provider_paused_objects{kind}` counts paused objects.
 */

import { Gauge } from 'prom-client';
import type { Condition, KubeObject, ResourceType } from '../../runtime/client/types.ts';
import type { Cluster } from '../../runtime/manager/cluster.ts';
import type { Manager } from '../../runtime/manager/manager.ts';
import { INSTANCE, NETWORK_CONTEXT, SUBNET } from '../api/resources.ts';
import type { Location } from '../api/types.ts';
import { PROVIDER_GROUP } from '../settings.ts';
import { cond, type ProviderContext, writeStatus } from './common.ts';
import { providerConfigOf } from './placement.ts';

export const PAUSED_ANNOTATION = `${PROVIDER_GROUP}/paused`;
export const PAUSED_CONDITION = `${PROVIDER_GROUP}/Paused`;
/** How often a paused object looks again (a ProviderConfig being unpaused does not touch the object). */
export const PAUSED_RECHECK_MS = 5_000;

/** What pauses the object, or undefined: its annotation, else the ProviderConfig it lives with. */
export async function pausedBy(
  p: ProviderContext,
  project: string,
  obj: KubeObject,
  loc: Location | undefined,
): Promise<string | undefined> {
  if (obj.metadata.annotations?.[PAUSED_ANNOTATION] === 'true') return `the ${PAUSED_ANNOTATION} annotation`;
  const pc = await providerConfigOf(p, project, obj, loc).catch(() => undefined);
  return pc?.spec.paused ? `ProviderConfig ${pc.metadata.name} (spec.paused)` : undefined;
}

/**
 * One step of every reconcile before any backend call: while paused, say so (once) and stop; on resume,
 * say that once too. Returns true when the reconcile must stop here.
 */
export async function holdIfPaused(
  p: ProviderContext,
  cluster: Cluster,
  r: ResourceType,
  obj: KubeObject,
  loc: Location | undefined,
): Promise<boolean> {
  const by = await pausedBy(p, cluster.name, obj, loc);
  const shown = (obj.status?.conditions as Condition[] | undefined)?.find((c) => c.type === PAUSED_CONDITION);
  if (by) {
    const what = obj.metadata.deletionTimestamp ? 'deletion waits' : 'no backend calls';
    await writeStatus(
      cluster,
      r,
      obj,
      [
        cond(
          PAUSED_CONDITION,
          'True',
          'Paused',
          `Paused by ${by}: ${what} until resumed`,
          obj.metadata.generation,
        ),
      ],
      {},
      p.redactor,
    );
    return true;
  }
  if (shown?.status === 'True')
    await writeStatus(
      cluster,
      r,
      obj,
      [cond(PAUSED_CONDITION, 'False', 'Resumed', 'Backend calls resumed', obj.metadata.generation)],
      {},
      p.redactor,
    );
  return false;
}

/** `datum_provider_paused_objects{kind}`, read from the caches at scrape time. */
export function registerPausedGauge(mgr: Manager): void {
  new Gauge({
    name: 'datum_provider_paused_objects',
    help: 'Instances, NetworkContexts and Subnets whose backend calls are paused',
    labelNames: ['kind'],
    registers: [mgr.metrics.registry],
    collect() {
      for (const r of [INSTANCE, NETWORK_CONTEXT, SUBNET]) {
        let n = 0;
        for (const cluster of mgr.clusters())
          for (const o of cluster.cache.informerFor(r).list())
            if (
              (o.status?.conditions as Condition[] | undefined)?.some(
                (c) => c.type === PAUSED_CONDITION && c.status === 'True',
              )
            )
              n++;
        this.set({ kind: r.kind }, n);
      }
    },
  });
}
