/**
 * Child processes that cannot outlive the test: each runs in its own process group, and a detached reaper
 * watches our pid; if we die (even by SIGKILL) it kills the recorded groups and removes the temp dirs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Managed {
  name: string;
  child: ChildProcess;
  logPath: string;
  exited: Promise<number | null>;
}

export class ProcessGroup {
  private readonly stateDir: string;
  private readonly procs = new Set<Managed>();
  private readonly dirs = new Set<string>();
  private reaper: ChildProcess | undefined;

  constructor() {
    this.stateDir = mkdtempSync(join(tmpdir(), 'datum-testkit-reaper-'));
    this.dirs.add(this.stateDir);
    this.writeState();
    // The reaper reads the state file only once the parent is gone, so it always sees the latest pids.
    const script = `
      while kill -0 ${process.pid} 2>/dev/null; do sleep 0.5; done
      [ -f "${this.stateDir}/pids" ] || exit 0
      for p in $(cat "${this.stateDir}/pids"); do kill -TERM -$p 2>/dev/null; done
      sleep 2
      for p in $(cat "${this.stateDir}/pids"); do kill -KILL -$p 2>/dev/null; done
      while read -r d; do [ -n "$d" ] && rm -rf "$d"; done < "${this.stateDir}/dirs"`;
    this.reaper = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
    this.reaper.unref();
  }

  /** Registers a directory to delete at teardown (and by the reaper). */
  tempDir(prefix: string): string {
    const d = mkdtempSync(join(tmpdir(), prefix));
    this.dirs.add(d);
    this.writeState();
    return d;
  }

  start(name: string, bin: string, args: string[], logDir: string, env?: NodeJS.ProcessEnv): Managed {
    const logPath = join(logDir, `${name}.log`);
    const fd = openSync(logPath, 'a');
    const child = spawn(bin, args, { detached: true, stdio: ['ignore', fd, fd], env: env ?? process.env });
    closeSync(fd);
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code, sig) => resolve(code ?? (sig ? -1 : null)));
      child.once('error', () => resolve(-1));
    });
    child.unref();
    const m: Managed = { name, child, logPath, exited };
    this.procs.add(m);
    exited.then(() => {
      this.procs.delete(m);
      this.writeState();
    });
    this.writeState();
    return m;
  }

  async stopOne(m: Managed, graceMs = 5_000): Promise<void> {
    if (m.child.exitCode !== null || m.child.signalCode !== null) return;
    killGroup(m.child.pid!, 'SIGTERM');
    // The grace timer is cleared once the process is gone: left pending it keeps the test runner alive.
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), graceMs);
    });
    const done = await Promise.race([m.exited.then(() => true), grace]).finally(() => clearTimeout(timer));
    if (!done) {
      killGroup(m.child.pid!, 'SIGKILL');
      await m.exited;
    }
  }

  async stopAll(keepDirs: string[] = []): Promise<void> {
    await Promise.all([...this.procs].map((p) => this.stopOne(p)));
    for (const d of this.dirs) if (!keepDirs.includes(d)) rmSync(d, { recursive: true, force: true });
    this.reaper?.kill('SIGKILL');
  }

  private writeState(): void {
    try {
      writeFileSync(join(this.stateDir, 'pids'), [...this.procs].map((p) => p.child.pid).join('\n'));
      writeFileSync(join(this.stateDir, 'dirs'), `${[...this.dirs].join('\n')}\n`);
    } catch {}
  }
}

function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {}
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function logTail(path: string, lines = 15): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
