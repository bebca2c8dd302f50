/**
 * The provider as a separate process (the real CLI, `src/cli/main.ts run`), supervised: we kill, stop, freeze
 * and restart it, and every exit we did not cause counts as a crash. Its stdout and stderr go to one log
 * file, scanned for secrets at the end.
 */
import { appendFileSync, closeSync, openSync, readSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Managed, ProcessGroup } from '../../src/localenv/process.ts';
import { log, type Stats } from './stats.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface ProviderSpec {
  name: string;
  /** Arguments after `main.ts run`, without --leader-elect. */
  args: string[];
  env: Record<string, string>;
  /** A module loaded with `--import` (e.g. the in-memory fault hook). */
  preload?: string;
  logDir: string;
}

type Cause = 'kill' | 'stop';

interface Running {
  m: Managed;
  failpoint?: string;
  expected?: Cause;
  /** Where this run's output starts in the log file. */
  offset: number;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export class ProviderSupervisor {
  readonly logPath: string;
  /** While set, an exit after the leader lease was lost is expected: we froze the API server. */
  expectLeaderLoss = false;
  leaderLossExits = 0;
  failpointKills = 0;
  starts = 0;
  private readonly spec: ProviderSpec;
  private readonly stats: Stats;
  private readonly group = new ProcessGroup();
  private cur: Running | undefined;
  private leaderElect = false;
  private closed = false;

  constructor(spec: ProviderSpec, stats: Stats) {
    this.spec = spec;
    this.stats = stats;
    this.logPath = `${spec.logDir}/${spec.name}.log`;
  }

  alive(): boolean {
    const c = this.cur?.m.child;
    return !!c && c.exitCode === null && c.signalCode === null;
  }

  pid(): number | undefined {
    return this.alive() ? this.cur?.m.child.pid : undefined;
  }

  /** Starts a provider process (the previous one must be gone). */
  start(o: { failpoint?: string; leaderElect?: boolean } = {}): void {
    if (this.alive()) throw new Error('provider already running');
    this.leaderElect = o.leaderElect ?? this.leaderElect;
    this.starts++;
    appendFileSync(
      this.logPath,
      `--- start ${this.starts}${o.failpoint ? ` failpoint=${o.failpoint}` : ''}\n`,
    );
    const offset = statSync(this.logPath).size;
    const args = [
      ...(this.spec.preload ? ['--import', this.spec.preload] : []),
      MAIN,
      'run',
      ...this.spec.args,
      ...(this.leaderElect ? ['--leader-elect'] : []),
    ];
    const m = this.group.start(this.spec.name, process.execPath, args, this.spec.logDir, {
      ...process.env,
      ...this.spec.env,
      DATUM_FAILPOINT: o.failpoint ?? '',
    });
    m.child.ref(); // the testkit unrefs its children; we wait for this one's exit
    const run: Running = {
      m,
      failpoint: o.failpoint,
      offset,
      exit: new Promise((r) => m.child.once('exit', (code, signal) => r({ code, signal }))),
    };
    this.cur = run;
    run.exit.then((e) => this.onExit(run, e));
  }

  private onExit(run: Running, e: { code: number | null; signal: NodeJS.Signals | null }): void {
    if (run.expected || this.closed) return;
    if (run.failpoint && e.signal === 'SIGKILL') {
      // The process killed itself at the failpoint, as we asked: a kill of ours.
      this.stats.kills++;
      this.failpointKills++;
      return;
    }
    const out = this.output(run);
    if (this.expectLeaderLoss && e.code !== 0 && out.includes('leader lease lost')) {
      this.leaderLossExits++;
      log(`${this.spec.name}: provider exited after losing its lease (expected); restarting`);
    } else {
      this.stats.crashed++;
      this.stats.fail(
        this.spec.name,
        `provider exited unexpectedly (code ${e.code}, signal ${e.signal}); last output:\n${tail(out)}`,
      );
    }
    // As a Deployment would: start it again, so the run goes on.
    setTimeout(() => {
      if (!this.closed && !this.alive()) this.start();
    }, 500);
  }

  /** SIGKILL, counted as a kill. */
  async kill(): Promise<void> {
    if (await this.signal('SIGKILL', 'kill')) this.stats.kills++;
  }

  /** Graceful stop (SIGTERM; SIGKILL after 15 s). */
  async stop(): Promise<void> {
    const run = this.cur;
    if (!run || !this.alive()) return;
    // Stop a started provider: a SIGTERM before its signal handler exists just kills it (exit 143).
    await this.waitFor('provider started', 30_000).catch(() => {});
    run.expected = 'stop';
    this.send(run, 'SIGTERM');
    const done = await Promise.race([run.exit.then((e) => e), sleep(15_000).then(() => undefined)]);
    if (!done) {
      this.stats.fail(this.spec.name, 'provider did not stop within 15 s of SIGTERM');
      this.send(run, 'SIGKILL');
      await run.exit;
    } else if (done.code !== 0)
      // A graceful stop exits 0 (README); anything else would make a Deployment count a failure.
      this.stats.fail(this.spec.name, `provider exited ${done.code ?? done.signal} on SIGTERM`);
  }

  /** Freezes / thaws the process (the watch connections stay open, the process does not notice). */
  pause(): void {
    if (this.cur && this.alive()) this.send(this.cur, 'SIGSTOP');
  }

  resume(): void {
    if (this.cur && this.alive()) this.send(this.cur, 'SIGCONT');
  }

  /** Waits for the running process to exit on its own (failpoint); false on timeout. */
  async waitExit(ms: number): Promise<boolean> {
    const run = this.cur;
    if (!run) return true;
    return Promise.race([run.exit.then(() => true), sleep(ms).then(() => false)]);
  }

  /** Waits until the current run has logged `text`. */
  async waitFor(text: string, ms = 60_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.currentOutput().includes(text)) {
      if (Date.now() > deadline) throw new Error(`${this.spec.name}: provider never logged '${text}'`);
      await sleep(200);
    }
  }

  /** Output of the current (or last) run. */
  currentOutput(): string {
    return this.cur ? this.output(this.cur) : '';
  }

  async close(): Promise<void> {
    await this.stop();
    this.closed = true;
    await this.group.stopAll();
  }

  private async signal(sig: NodeJS.Signals, cause: Cause): Promise<boolean> {
    const run = this.cur;
    if (!run || !this.alive()) return false;
    run.expected = cause;
    this.send(run, sig);
    await run.exit;
    return true;
  }

  private send(run: Running, sig: NodeJS.Signals): void {
    try {
      process.kill(-run.m.child.pid!, sig);
    } catch {}
  }

  private output(run: Running): string {
    const fd = openSync(this.logPath, 'r');
    try {
      const size = statSync(this.logPath).size;
      const buf = Buffer.alloc(Math.max(0, size - run.offset));
      readSync(fd, buf, 0, buf.length, run.offset);
      return buf.toString('utf8');
    } finally {
      closeSync(fd);
    }
  }
}

function tail(s: string, lines = 15): string {
  return s.trim().split('\n').slice(-lines).join('\n');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
