/** Live view of Instances: a redrawn table on a terminal, one line per change otherwise. */

import type { Instance } from '../datum/api/types.ts';
import type { Generation } from '../datum/settings.ts';
import type { Informer } from '../runtime/cache/informer.ts';
import type { Condition } from '../runtime/client/types.ts';

const cond = (i: Instance, t: string) =>
  (i.status?.conditions as Condition[] | undefined)?.find((c) => c.type === t)?.status ?? '-';

/** The condition the provider reports beside Programmed: Running (classic) or Available (cell). */
const SECOND: Record<Generation, string> = { classic: 'Running', cell: 'Available' };

export function instanceRow(i: Instance, generation: Generation = 'classic'): string[] {
  const a = i.status?.networkInterfaces?.[0]?.assignments;
  // A cell's Location is cluster-scoped: a name only.
  const where = i.spec?.location as { namespace?: string; name: string } | undefined;
  const loc = where ? (where.namespace ? `${where.namespace}/${where.name}` : where.name) : '-';
  return [
    `${i.metadata.namespace}/${i.metadata.name}`,
    loc,
    cond(i, 'Programmed'),
    cond(i, SECOND[generation]),
    cond(i, 'Ready'),
    a?.networkIP ?? '-',
    a?.externalIP ?? '-',
  ];
}

export function renderTable(rows: string[][], generation: Generation = 'classic'): string {
  const second = SECOND[generation].toUpperCase();
  const head = ['INSTANCE', 'LOCATION', 'PROGRAMMED', second, 'READY', 'NETWORK IP', 'EXTERNAL IP'];
  const all = [head, ...rows];
  const w = head.map((_, c) => Math.max(...all.map((r) => r[c]!.length)));
  return all.map((r) => r.map((v, c) => v.padEnd(w[c]!)).join('  ')).join('\n');
}

export class ProgressView {
  private readonly informer: Informer<Instance>;
  private readonly tty: boolean;
  private timer: NodeJS.Timeout | undefined;
  private last = new Map<string, string>();
  private drawn = 0;
  private readonly generation: Generation;

  constructor(informer: Informer<Instance>, tty: boolean, generation: Generation = 'classic') {
    this.informer = informer;
    this.tty = tty;
    this.generation = generation;
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), 1000);
    this.tick();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    const rows = this.informer
      .list()
      .sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!))
      .map((i) => instanceRow(i, this.generation));
    if (this.tty) {
      const out = renderTable(rows, this.generation);
      if (this.drawn) process.stdout.write(`\x1b[${this.drawn}A\x1b[0J`);
      process.stdout.write(`${out}\n`);
      this.drawn = out.split('\n').length;
      return;
    }
    const seen = new Set<string>();
    for (const r of rows) {
      seen.add(r[0]!);
      const second = SECOND[this.generation].toLowerCase();
      const line = `instance ${r[0]} location=${r[1]} programmed=${r[2]} ${second}=${r[3]} ready=${r[4]} ip=${r[5]} external-ip=${r[6]}`;
      if (this.last.get(r[0]!) !== line) process.stdout.write(`${line}\n`);
      this.last.set(r[0]!, line);
    }
    for (const k of [...this.last.keys()]) {
      if (!seen.has(k)) {
        process.stdout.write(`instance ${k} deleted\n`);
        this.last.delete(k);
      }
    }
  }
}
