/** Per-item exponential backoff, as controller-runtime's default: 5 ms doubling to 1000 s. */
export interface RateLimiter<K> {
  /** Delay before the item may be retried; counts one more failure. */
  when(item: K): number;
  forget(item: K): void;
  retries(item: K): number;
}

export class ExponentialRateLimiter<K> implements RateLimiter<K> {
  private readonly failures = new Map<K, number>();
  readonly baseMs: number;
  readonly maxMs: number;
  constructor(baseMs = 5, maxMs = 1_000_000) {
    this.baseMs = baseMs;
    this.maxMs = maxMs;
  }
  when(item: K): number {
    const n = this.failures.get(item) ?? 0;
    this.failures.set(item, n + 1);
    return Math.min(this.maxMs, this.baseMs * 2 ** n);
  }
  forget(item: K): void {
    this.failures.delete(item);
  }
  retries(item: K): number {
    return this.failures.get(item) ?? 0;
  }
}
