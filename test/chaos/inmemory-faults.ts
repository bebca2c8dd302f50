/**
 * Loaded into a provider process with `node --import`: lets the chaos driver inject faults into that
 * process's in-memory backend. The backend's own fault injection lives in memory, so the driver appends
 * JSON lines to `CHAOS_FAULT_FILE`; before every backend call, lines added since the last call become
 * `injectFault` calls (or latency spikes, which the backend does not have). Lines older than the process
 * are ignored: a restarted provider does not replay faults.
 */
import { readFileSync } from 'node:fs';
import { type Fault, InMemoryBackend, type Operation } from '../../src/backends/inmemory/backend.ts';

export type InMemoryFaultLine = Fault | { op: Operation; mode: 'latency'; ms: number; times?: number };

const OPS: Operation[] = [
  'ensureNetwork',
  'deleteNetwork',
  'ensureSubnet',
  'deleteSubnet',
  'ensureInstance',
  'deleteInstance',
  'listManaged',
];

const file = process.env.CHAOS_FAULT_FILE;
if (file) {
  const read = () =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.trim());
  let applied = read().length;
  const spikes: { op: Operation; ms: number; left: number }[] = [];
  const pull = (backend: InMemoryBackend) => {
    const lines = read();
    for (const line of lines.slice(applied)) {
      const f = JSON.parse(line) as InMemoryFaultLine;
      if (f.mode === 'latency') spikes.push({ op: f.op, ms: f.ms, left: f.times ?? 1 });
      else backend.injectFault(f);
    }
    applied = lines.length;
  };
  const proto = InMemoryBackend.prototype as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  for (const op of OPS) {
    const original = proto[op]!;
    proto[op] = async function (this: InMemoryBackend, ...args: unknown[]) {
      pull(this);
      const spike = spikes.find((s) => s.op === op && s.left > 0);
      if (spike) {
        spike.left--;
        await new Promise((r) => setTimeout(r, spike.ms));
      }
      return original.apply(this, args);
    };
  }
}
