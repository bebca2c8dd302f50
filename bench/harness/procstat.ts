/** CPU time and memory of a running process, from /proc (Linux): what the subject costs, seen from outside. */
import { readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux this runs on

export interface ProcSample {
  /** user + system CPU seconds so far. */
  cpuSeconds: number;
  rssBytes: number;
  /** Peak RSS since the process started (VmHWM). */
  peakRssBytes: number;
}

export function sampleProc(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at ") ": utime and stime are 14th, 15th.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuSeconds = (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { cpuSeconds, rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM') };
}

/** Samples RSS every `everyMs` to get the peak within a window (VmHWM only knows the peak since start). */
export class PeakSampler {
  private readonly pid: number;
  private timer: NodeJS.Timeout | undefined;
  peakRssBytes = 0;
  constructor(pid: number, everyMs = 250) {
    this.pid = pid;
    this.tick();
    this.timer = setInterval(() => this.tick(), everyMs);
    this.timer.unref();
  }
  private tick(): void {
    try {
      this.peakRssBytes = Math.max(this.peakRssBytes, sampleProc(this.pid).rssBytes);
    } catch {} // the process is gone: keep the peak seen
  }
  stop(): number {
    this.tick();
    clearInterval(this.timer);
    return this.peakRssBytes;
  }
}
