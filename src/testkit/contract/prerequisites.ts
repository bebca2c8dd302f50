/**
 * Cascading failures in the contract suite: when a test fails in a way that makes later tests meaningless
 * (networking never Programmed, so no Instance can be), the later tests fail at once naming that first
 * failure, instead of each waiting out its own timeout and ending in an unrelated assertion.
 */

export class Prerequisites {
  private readonly broken = new Map<string, string>();

  /** Records that `what` (e.g. "NetworkContext default-project-a-dfw was never Programmed") failed. */
  fail(key: string, what: string, err: unknown): void {
    if (this.broken.has(key)) return;
    const first = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    this.broken.set(key, `${what}: ${first}`);
  }

  /** Throws (failing the calling test fast) when any of `keys` failed earlier. */
  require(...keys: string[]): void {
    for (const k of keys) {
      const why = this.broken.get(k);
      if (why) throw new Error(`skipped because ${why}`);
    }
  }

  /** Runs `fn`; if it throws, records `key` as failed (and rethrows). */
  async guard<T>(key: string, what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      this.fail(key, what, err);
      throw err;
    }
  }
}
