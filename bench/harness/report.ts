/** The suite's result document and its readable table, with our figures as ratios to the baselines. */
export interface SuiteResult {
  date: string;
  quick: boolean;
  machine: Record<string, unknown>;
  settings: Record<string, unknown>;
  notes: string[];
  subjects: Record<string, SubjectResult>;
}

export interface SubjectResult {
  /** scenario -> figures (see harness/scenarios.ts). */
  scenarios: Record<string, Record<string, unknown>>;
  error?: string;
}

/** Columns shown per scenario kind: [field, heading]. Lower is better for every one of them. */
const COLUMNS: Record<string, [string, string][]> = {
  createStorm: [
    ['wallSeconds', 'wall s'],
    ['p50Ms', 'p50 ms'],
    ['p99Ms', 'p99 ms'],
    ['requestsPerInstance', 'req/Inst'],
    ['writesPerInstance', 'writes/Inst'],
    ['cpuSecondsPer1000', 'CPU s/1000'],
    ['peakRssMiB', 'peak RSS MiB'],
  ],
  idle: [
    ['cpuSecondsPerMinute', 'CPU s/min'],
    ['rssMiB', 'RSS MiB'],
    ['heapUsedMiB', 'heap MiB'],
    ['requestsWhileIdle', 'requests'],
  ],
  restart: [
    ['toSteadySeconds', 'to steady s'],
    ['writes', 'writes'],
    ['requests', 'requests'],
    ['peakRssMiB', 'peak RSS MiB'],
  ],
};
COLUMNS.update = COLUMNS.createStorm!;
COLUMNS.delete = COLUMNS.createStorm!;

const TITLES: Record<string, string> = {
  createStorm: 'create storm: creation → Programmed+Running',
  update: 'update propagation: template change, unrelated writes going on',
  delete: 'mass delete: → finalizer removed, gone',
  idle: 'idle at scale',
  restart: 'restart → steady state',
};

const fmt = (v: unknown) => (typeof v === 'number' ? String(v) : v === undefined ? '–' : String(v));
const ratio = (a: unknown, b: unknown) =>
  typeof a === 'number' && typeof b === 'number' && b > 0 ? `${(a / b).toFixed(2)}x` : '–';

export function renderTable(r: SuiteResult): string {
  const out: string[] = [
    `Benchmark suite ${r.date}${r.quick ? ' (quick: sizes too small to mean anything)' : ''}`,
    `machine: ${JSON.stringify(r.machine)}`,
    `settings: ${JSON.stringify(r.settings)}`,
    ...r.notes.map((n) => `note: ${n}`),
  ];
  const subjects = Object.keys(r.subjects);
  const scenarios = [...new Set(subjects.flatMap((s) => Object.keys(r.subjects[s]!.scenarios)))];
  for (const sc of scenarios) {
    const kind = /^[a-zA-Z]+?(?=\d|$)/.exec(sc)?.[0] ?? sc;
    const cols = COLUMNS[kind];
    if (!cols) continue;
    const n = subjects.map((s) => r.subjects[s]!.scenarios[sc]?.n).find((x) => x !== undefined);
    out.push('', `### ${TITLES[kind] ?? kind}${n ? `, N=${n}` : ''}`, '');
    out.push(`| subject | ${cols.map((c) => c[1]).join(' | ')} |`, `| --- |${' --- |'.repeat(cols.length)}`);
    for (const s of subjects) {
      const f = r.subjects[s]!.scenarios[sc];
      if (f) out.push(`| ${s} | ${cols.map(([k]) => fmt(f[k])).join(' | ')} |`);
    }
    const ours = r.subjects.ours?.scenarios[sc];
    for (const base of ['go', 'floor']) {
      const b = r.subjects[base]?.scenarios[sc];
      if (ours && b) out.push(`| ours / ${base} | ${cols.map(([k]) => ratio(ours[k], b[k])).join(' | ')} |`);
    }
  }
  // Where each subject's requests went in the first create storm: what to cut.
  const storm = scenarios.find((sc) => sc.startsWith('createStorm'));
  if (storm) out.push('', `### requests per Instance by verb and resource (${storm})`, '');
  for (const s of subjects) {
    const f = storm ? r.subjects[s]!.scenarios[storm] : undefined;
    const by = (f?.requests as { byResource?: Record<string, number> } | undefined)?.byResource;
    const n = f?.n as number | undefined;
    if (by && n)
      out.push(
        `- ${s}: ${Object.entries(by)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => `${k} ${(v / n).toFixed(2)}`)
          .join(', ')}`,
      );
  }
  for (const s of subjects) {
    const e = r.subjects[s]!.error;
    if (e) out.push('', `${s} FAILED: ${e.split('\n')[0]}`);
  }
  return out.join('\n');
}
