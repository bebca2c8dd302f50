/**
 * The work queue: a FIFO of keys with set semantics (client-go's dirty/processing sets).
 * - A key waiting in the queue is stored once however often it is added (de-duplication).
 * - A key being processed is never handed out again until `done()`; if it was re-added meanwhile, it goes
 *   back into the queue at `done()`. So one key never runs twice at once.
 * - `addAfter` schedules a delayed add (a planned resync: not a retry); `addRateLimited` uses the per-item
 *   backoff and is what `workqueue_retries_total` counts; `forget` resets the backoff.
 */
import { ExponentialRateLimiter, type RateLimiter } from './ratelimiter.ts';

export interface QueueMetrics {
  depth(n: number): void;
  add(): void;
  retry(): void;
  queueLatency(seconds: number): void;
  workDuration(seconds: number): void;
}

export class WorkQueue<K = string> {
  private readonly queue: K[] = [];
  private readonly dirty = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly addedAt = new Map<K, number>();
  private readonly startedAt = new Map<K, number>();
  private readonly timers = new Map<K, { at: number; timer: NodeJS.Timeout }>();
  // Keys the rate limiter holds failure counts for, so drop() can forget them (the limiter cannot be iterated).
  private readonly limited = new Set<K>();
  private waiters: ((k: K | undefined) => void)[] = [];
  private shuttingDown = false;
  readonly rateLimiter: RateLimiter<K>;
  private readonly metrics?: QueueMetrics;

  constructor(opts: { rateLimiter?: RateLimiter<K>; metrics?: QueueMetrics } = {}) {
    this.rateLimiter = opts.rateLimiter ?? new ExponentialRateLimiter<K>();
    this.metrics = opts.metrics;
  }

  add(key: K): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.metrics?.add();
    this.dirty.add(key);
    this.addedAt.set(key, performance.now());
    if (this.processing.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) this.handOut(key, waiter);
    else {
      this.queue.push(key);
      this.metrics?.depth(this.queue.length);
    }
  }

  /** Adds after `ms`. An earlier pending delayed add for the same key wins. Not counted as a retry. */
  addAfter(key: K, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + ms;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref?.();
    this.timers.set(key, { at, timer });
  }

  /**
   * Adds after the key's next backoff delay (one more failure), clamped to [minMs, maxMs]; counts a retry.
   * Returns the delay used.
   */
  addRateLimited(key: K, bounds: { minMs?: number; maxMs?: number } = {}): number {
    if (this.shuttingDown) return 0;
    this.limited.add(key);
    const delay = Math.min(
      bounds.maxMs ?? Number.POSITIVE_INFINITY,
      Math.max(this.rateLimiter.when(key), bounds.minMs ?? 0),
    );
    this.metrics?.retry();
    this.addAfter(key, delay);
    return delay;
  }

  forget(key: K): void {
    this.limited.delete(key);
    this.rateLimiter.forget(key);
  }

  /** Resolves with the next key, or undefined once the queue is shut down (queued keys are not handed out). */
  get(): Promise<K | undefined> {
    // Shutting down means "take no more work": a stopping controller must not start reconciles.
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.metrics?.depth(this.queue.length);
      return Promise.resolve(this.take(key));
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: K): void {
    this.processing.delete(key);
    const started = this.startedAt.get(key);
    if (started !== undefined) this.metrics?.workDuration((performance.now() - started) / 1000);
    this.startedAt.delete(key);
    if (this.dirty.has(key)) {
      const waiter = this.waiters.shift();
      if (waiter) this.handOut(key, waiter);
      else {
        this.queue.push(key);
        this.metrics?.depth(this.queue.length);
      }
    }
  }

  /**
   * Drops matching keys entirely: queued, re-added while processing, delayed, and their backoff state (a key
   * that comes back later, e.g. on a re-engaged cluster, starts from the base delay). Used on disengage.
   */
  drop(predicate: (key: K) => boolean): void {
    for (let i = this.queue.length - 1; i >= 0; i--) if (predicate(this.queue[i]!)) this.queue.splice(i, 1);
    for (const k of this.dirty) {
      if (predicate(k)) {
        this.dirty.delete(k);
        this.addedAt.delete(k);
      }
    }
    for (const [k, t] of this.timers) {
      if (predicate(k)) {
        clearTimeout(t.timer);
        this.timers.delete(k);
      }
    }
    for (const k of this.limited) if (predicate(k)) this.forget(k);
    this.metrics?.depth(this.queue.length);
  }

  get length(): number {
    return this.queue.length;
  }

  get inFlight(): number {
    return this.processing.size;
  }

  /** Seconds the longest-running item has been processing (for the unfinished-work metrics). */
  longestRunningSeconds(): number {
    let oldest = Number.POSITIVE_INFINITY;
    for (const t of this.startedAt.values()) oldest = Math.min(oldest, t);
    return oldest === Number.POSITIVE_INFINITY ? 0 : (performance.now() - oldest) / 1000;
  }

  unfinishedWorkSeconds(): number {
    const now = performance.now();
    let sum = 0;
    for (const t of this.startedAt.values()) sum += (now - t) / 1000;
    return sum;
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  private take(key: K): K {
    this.dirty.delete(key);
    this.processing.add(key);
    const added = this.addedAt.get(key);
    if (added !== undefined) this.metrics?.queueLatency((performance.now() - added) / 1000);
    this.addedAt.delete(key);
    this.startedAt.set(key, performance.now());
    return key;
  }

  private handOut(key: K, waiter: (k: K | undefined) => void): void {
    waiter(this.take(key));
  }
}
