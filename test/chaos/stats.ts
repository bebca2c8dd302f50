/**
 * What a chaos run counts, and the one summary line it ends with. Checks that fail record a failure (the run
 * exits non-zero); the counters are the figures the summary reports.
 */
export class Stats {
  kills = 0;
  duplicates = 0;
  orphans = 0;
  leakedSecrets = 0;
  invalid = 0;
  crashed = 0;
  readonly failures: string[] = [];
  private readonly started = Date.now();

  fail(scope: string, message: string): void {
    const line = `${scope}: ${message}`;
    this.failures.push(line);
    log(`FAIL ${line}`);
  }

  elapsedS(): number {
    return Math.round((Date.now() - this.started) / 1000);
  }

  ok(): boolean {
    return (
      this.failures.length === 0 &&
      this.duplicates === 0 &&
      this.orphans === 0 &&
      this.leakedSecrets === 0 &&
      this.crashed === 0
    );
  }

  summary(): string {
    return (
      `chaos: kills=${this.kills} duplicates=${this.duplicates} orphans=${this.orphans} ` +
      `leaked_secrets=${this.leakedSecrets} invalid=${this.invalid} crashed=${this.crashed}`
    );
  }

  report(): void {
    log(`${this.failures.length} failed checks, ${this.elapsedS()}s`);
  }
}

/** Progress goes to stderr, so stdout carries the summary line alone. */
export function log(message: string): void {
  process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}
