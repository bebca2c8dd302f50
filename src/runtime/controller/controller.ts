/**
 * A controller: event sources on every engaged cluster feed one work queue of requests; N workers take keys
 * and run the reconciler. Keys carry the cluster name, so one controller serves every project.
 */

import { randomUUID } from 'node:crypto';
import type { EventHandler } from '../cache/informer.ts';
import { ConflictError } from '../client/errors.ts';
import type { KubeObject, ResourceType } from '../client/types.ts';
import type { Logger } from '../log/logger.ts';
import type { Cluster } from '../manager/cluster.ts';
import type { RuntimeMetrics } from '../metrics/metrics.ts';
import type { RateLimiter } from '../queue/ratelimiter.ts';
import { WorkQueue } from '../queue/workqueue.ts';
import { inSpan } from '../tracing.ts';
import { within } from '../util/sleep.ts';
import { applyOutcome, type Outcome } from './outcome.ts';
import type { Predicate, WatchEventInfo } from './predicates.ts';
import { type Reconciler, type Request, requestKey } from './reconcile.ts';

export type MapFunc = (obj: KubeObject, cluster: string) => Request[];

export interface Source {
  resource: ResourceType;
  /** How an event on this kind becomes requests. */
  map: MapFunc;
  predicates: Predicate[];
  informerOptions?: { labelSelector?: string; fieldSelector?: string; metadataOnly?: boolean };
}

export interface ControllerOptions {
  maxConcurrentReconciles?: number;
  rateLimiter?: RateLimiter<string>;
  /** Only run while this replica holds the leader lease (default true). */
  needLeaderElection?: boolean;
  /** Per-reconcile timeout; the reconcile's signal aborts after it (default none). */
  reconcileTimeoutMs?: number;
}

function parseKey(key: string): Request {
  const [cluster, namespace, ...rest] = key.split('/');
  return { cluster: cluster!, namespace: namespace || undefined, name: rest.join('/') };
}

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue<string>;
  readonly options: ControllerOptions;
  private readonly sources: Source[];
  private readonly reconciler: Reconciler;
  private readonly log: Logger;
  private readonly metrics?: RuntimeMetrics;
  private readonly unsubscribe = new Map<string, (() => void)[]>();
  private readonly clusters = new Map<string, Cluster>();
  private workers: Promise<void>[] = [];
  private abort = new AbortController();
  private started = false;

  constructor(
    name: string,
    sources: Source[],
    reconciler: Reconciler,
    opts: ControllerOptions,
    log: Logger,
    metrics?: RuntimeMetrics,
  ) {
    this.name = name;
    this.sources = sources;
    this.reconciler = reconciler;
    this.options = opts;
    this.log = log.child({ controller: name });
    this.metrics = metrics;
    this.queue = new WorkQueue<string>({
      rateLimiter: opts.rateLimiter,
      metrics: metrics?.queueMetrics(name),
    });
    metrics?.maxConcurrent.set({ controller: name }, opts.maxConcurrentReconciles ?? 1);
    metrics?.initController(name);
    metrics?.watchQueue(name, this.queue);
  }

  get needLeaderElection(): boolean {
    return this.options.needLeaderElection ?? true;
  }

  /** Starts watching a cluster: registers handlers on its shared informers. */
  engage(cluster: Cluster): void {
    if (this.unsubscribe.has(cluster.name)) return;
    const subs: (() => void)[] = [];
    for (const src of this.sources) {
      const inf = cluster.cache.informerFor(src.resource, src.informerOptions);
      const emit = (ev: WatchEventInfo) => {
        if (!src.predicates.every((p) => p(ev))) return;
        for (const req of src.map(ev.obj, cluster.name)) this.queue.add(requestKey(req));
      };
      const handler: EventHandler = {
        onAdd: (obj) => emit({ type: 'create', obj }),
        onUpdate: (old, obj) => emit({ type: 'update', obj, old }),
        onDelete: (obj) => emit({ type: 'delete', obj }),
      };
      subs.push(inf.addEventHandler(handler));
    }
    this.unsubscribe.set(cluster.name, subs);
    this.clusters.set(cluster.name, cluster);
  }

  /** Stops watching a cluster and drops its queued work. */
  disengage(clusterName: string): void {
    for (const u of this.unsubscribe.get(clusterName) ?? []) u();
    this.unsubscribe.delete(clusterName);
    this.clusters.delete(clusterName);
    this.queue.drop((k) => k.startsWith(`${clusterName}/`));
  }

  /** Runs the workers until `stop()`. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const n = this.options.maxConcurrentReconciles ?? 1;
    this.log.info('starting workers', { workers: n });
    for (let i = 0; i < n; i++) this.workers.push(this.worker());
  }

  /** Stops taking work, waits up to `graceMs` for in-flight reconciles, then aborts them. */
  async stop(graceMs = 30_000): Promise<boolean> {
    this.queue.shutDown();
    const finished = await this.idle(graceMs);
    this.abort.abort();
    return finished;
  }

  /** Stops taking work and aborts every in-flight reconcile at once (the leader lease was lost). */
  halt(): void {
    this.queue.shutDown();
    this.abort.abort();
  }

  /** Resolves true once every worker has returned (no reconcile runs), false after `ms`. */
  idle(ms: number): Promise<boolean> {
    return within(Promise.all(this.workers), ms);
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      this.metrics?.activeWorkers.inc({ controller: this.name });
      try {
        await this.process(key);
      } finally {
        this.metrics?.activeWorkers.dec({ controller: this.name });
        this.queue.done(key);
      }
    }
  }

  private async process(key: string): Promise<void> {
    const req = parseKey(key);
    // A reconcile reads several kinds from the cache; on a freshly engaged cluster some informers may still be
    // listing, and a half-filled cache would make the reconcile draw wrong conclusions ("no such Location").
    const cluster = this.clusters.get(req.cluster);
    if (!cluster) {
      // Disengaged while queued or in flight: leave no backoff state behind for its keys.
      this.queue.forget(key);
      return;
    }
    if (!cluster.cache.hasSynced()) {
      this.queue.addRateLimited(key, { maxMs: 5000 });
      return;
    }
    const reconcileId = randomUUID();
    const log = this.log.child({
      cluster: req.cluster,
      namespace: req.namespace,
      name: req.name,
      reconcileID: reconcileId,
    });
    const signal = this.options.reconcileTimeoutMs
      ? AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.options.reconcileTimeoutMs)])
      : this.abort.signal;
    const started = performance.now();
    let outcome: Outcome;
    try {
      const attributes = {
        controller: this.name,
        cluster: req.cluster,
        namespace: req.namespace ?? '',
        name: req.name,
      };
      const result = await inSpan(`reconcile ${this.name}`, attributes, () =>
        this.reconciler.reconcile(req, { log, reconcileId, signal }),
      );
      outcome = { kind: 'ok', result };
    } catch (error) {
      // A thrown non-Error (or a TypeError/RangeError from a bug) is our "panic": recovered, counted, retried.
      const panic = !(error instanceof Error) || error instanceof TypeError || error instanceof RangeError;
      outcome = { kind: 'error', error, panic };
    }
    this.metrics?.reconcileTime.observe({ controller: this.name }, (performance.now() - started) / 1000);
    const d = applyOutcome(key, outcome, this.queue, this.metrics, this.name);
    // One line per finished reconcile (controller-runtime's "Reconcile successful", at debug): tests bound
    // "the controller looked at X and did nothing" by these instead of sleeping.
    log.debug('reconciled', { result: d.result });
    if (outcome.kind === 'error') {
      // A write that lost an optimistic-concurrency race is routine (the retry reads the newer copy): info.
      const level = d.terminal ? 'error' : outcome.error instanceof ConflictError ? 'info' : 'warn';
      log[level](d.terminal ? 'reconcile failed permanently' : 'reconcile failed; will retry', {
        err: outcome.error,
        panic: outcome.panic || undefined,
      });
    }
  }
}
