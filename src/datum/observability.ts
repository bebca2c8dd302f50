/**
 * The provider's operational metrics, beside the runtime's controller-runtime names: what a dashboard and the
 * alerting rules in `deploy/observability/` read. Backend calls are timed by wrapping the backend once, so no
 * reconciler has to remember to; the condition gauge is read from the caches at scrape time.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Condition } from '../runtime/client/types.ts';
import type { Manager } from '../runtime/manager/manager.ts';
import { inSpan } from '../runtime/tracing.ts';
import { INSTANCE } from './api/resources.ts';
import { type Backend, BackendError } from './backend.ts';

/** The backend methods that reach the platform (capabilities and close are local). */
const CALLS = [
  'ensureNetwork',
  'deleteNetwork',
  'ensureSubnet',
  'deleteSubnet',
  'ensureInstance',
  'deleteInstance',
  'listManaged',
  'release',
  // Optional methods: wrapped only when the backend has them.
  'adoptInstance',
  'observeInstance',
  'planInstance',
] as const;

const BUCKETS = [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * `datum_provider_backend_request_duration_seconds{backend, operation, result}`: every platform call, with
 * `result` = `success` or the catalogue reason it failed with (`Throttled`, `Transient`, ...; anything not a
 * BackendError counts as `Transient`, as the reconcilers treat it).
 */
export function instrumentBackend(backend: Backend, registry: Registry): Backend {
  const hist =
    (registry.getSingleMetric('datum_provider_backend_request_duration_seconds') as
      | Histogram<'backend' | 'operation' | 'result'>
      | undefined) ??
    new Histogram({
      name: 'datum_provider_backend_request_duration_seconds',
      help: 'Backend (platform) calls by operation and result (success or the failure reason)',
      labelNames: ['backend', 'operation', 'result'],
      buckets: BUCKETS,
      registers: [registry],
    });
  // A plain object calling the backend itself (never a prototype trick: a method writing `this.x` must write
  // it on the backend).
  const timed = {
    get name() {
      return backend.name;
    },
    capabilities: (config?: Readonly<Record<string, string>>) => backend.capabilities(config),
    close: backend.close ? () => backend.close!() : undefined,
  } as unknown as Backend;
  for (const op of CALLS) {
    const original = backend[op] as ((...args: unknown[]) => Promise<unknown>) | undefined;
    if (!original) continue;
    (timed as unknown as Record<string, unknown>)[op] = async (...args: unknown[]) => {
      const end = hist.startTimer({ backend: backend.name, operation: op });
      return inSpan(`backend ${op}`, { backend: backend.name, operation: op }, async (span) => {
        try {
          const out = await original.apply(backend, args);
          end({ result: 'success' });
          return out;
        } catch (err) {
          const result = err instanceof BackendError ? err.reason : 'Transient';
          end({ result });
          span.setAttribute('result', result);
          throw err;
        }
      });
    };
  }
  return timed;
}

/** `datum_provider_instances{condition, status}`: Instances by Programmed and Running status, all clusters. */
export function registerInstanceGauge(mgr: Manager): void {
  if (mgr.metrics.registry.getSingleMetric('datum_provider_instances')) return;
  new Gauge({
    name: 'datum_provider_instances',
    help: 'Instances served by this provider, by condition (Programmed, Running) and status',
    labelNames: ['condition', 'status'],
    registers: [mgr.metrics.registry],
    collect() {
      const counts = new Map<string, number>();
      for (const type of ['Programmed', 'Running'])
        for (const status of ['True', 'False', 'Unknown']) counts.set(`${type}|${status}`, 0);
      for (const cluster of mgr.clusters())
        for (const i of cluster.cache.informerFor(INSTANCE).list()) {
          const conds = (i.status?.conditions as Condition[] | undefined) ?? [];
          for (const type of ['Programmed', 'Running']) {
            const key = `${type}|${conds.find((c) => c.type === type)?.status ?? 'Unknown'}`;
            counts.set(key, (counts.get(key) ?? 0) + 1);
          }
        }
      for (const [key, n] of counts) {
        const [condition, status] = key.split('|') as [string, string];
        this.set({ condition, status }, n);
      }
    },
  });
}

const orphanCounters = new WeakMap<Registry, Counter<'kind'>>();

/** `datum_provider_orphans_deleted_total{kind}`: backend resources the sweeper found without an owner. */
export function orphansDeleted(registry: Registry): Counter<'kind'> {
  let c = orphanCounters.get(registry);
  if (!c) {
    c = new Counter({
      name: 'datum_provider_orphans_deleted_total',
      help: 'Backend resources whose upstream owner is gone, deleted by the orphan sweeper',
      labelNames: ['kind'],
      registers: [registry],
    });
    orphanCounters.set(registry, c);
  }
  return c;
}
