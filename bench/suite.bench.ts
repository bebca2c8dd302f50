/**
 * The benchmark suite: each subject (our provider, a controller-runtime Go baseline, the plain-HTTP floor) in a
 * separate process against its own fresh control plane, through the same scenarios; JSON + a table out.
 *   node bench/suite.bench.ts [--quick] [--subjects ours,go,floor] [--storm 1000,5000] [--idle 10000]
 *     [--idle-seconds 60] [--workers 8] [--latency-ms 0] [--namespaces 8] [--rounds 1] [--out DIR] [--cpu-prof DIR]
 * See bench/README.md.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ProcessGroup } from '../src/localenv/process.ts';
import { startEnv } from './harness/env.ts';
import { instanceNames, Tracker } from './harness/load.ts';
import { renderTable, type SubjectResult, type SuiteResult } from './harness/report.ts';
import { combineRounds, roundOrder } from './harness/rounds.ts';
import {
  createStorm,
  idleAtScale,
  massDelete,
  restart,
  updatePropagation,
  warmUp,
} from './harness/scenarios.ts';
import { GO_BASELINE_BIN, type SubjectName, startSubject } from './harness/subjects.ts';

const DIR = fileURLToPath(new URL('.', import.meta.url));
const { values } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    subjects: { type: 'string' },
    storm: { type: 'string' },
    idle: { type: 'string' },
    'idle-seconds': { type: 'string' },
    workers: { type: 'string', default: '8' },
    'latency-ms': { type: 'string', default: '0' },
    namespaces: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '1' },
    out: { type: 'string' },
    'cpu-prof': { type: 'string' },
  },
});
const quick = !!values.quick;
const storms = (values.storm ?? (quick ? '20' : '1000,5000')).split(',').map(Number);
const idleN = Number(values.idle ?? (quick ? 40 : 10_000));
const idleSeconds = Number(values['idle-seconds'] ?? (quick ? 2 : 60));
const workers = Number(values.workers);
const timeoutMs = quick ? 120_000 : 1_800_000;
const rounds = Math.max(1, Number(values.rounds));
let subjects = (values.subjects ?? 'ours,go,floor').split(',') as SubjectName[];
const notes: string[] = [];

if (subjects.includes('go') && !existsSync(GO_BASELINE_BIN)) {
  const hasGo = spawnSync('go', ['version']).status === 0;
  if (hasGo && !(quick && !values.subjects)) {
    process.stdout.write('building the Go baseline (bench/go-baseline/build.sh)…\n');
    execFileSync(join(DIR, 'go-baseline/build.sh'), { stdio: 'inherit' });
  } else {
    subjects = subjects.filter((s) => s !== 'go');
    notes.push(`go baseline skipped: ${GO_BASELINE_BIN} not built (bench/go-baseline/build.sh)`);
  }
}

const result: SuiteResult = {
  date: new Date().toISOString(),
  quick,
  machine: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? '?',
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  },
  settings: {
    storms,
    idleN,
    idleSeconds,
    workers,
    backendLatencyMs: Number(values['latency-ms']),
    namespaces: Number(values.namespaces),
    projectClusters: 1,
    rounds,
  },
  notes,
  subjects: {},
};

const byRound = new Map<SubjectName, SubjectResult[]>(subjects.map((n) => [n, []]));
for (let round = 0; round < rounds; round++)
  for (const name of roundOrder(subjects, round)) byRound.get(name)!.push(await runSubject(name, round));
for (const name of subjects) result.subjects[name] = combineRounds(byRound.get(name)!);

/** One subject through every scenario, in its own control plane. */
async function runSubject(name: SubjectName, round: number): Promise<SubjectResult> {
  process.stdout.write(`== ${name}${rounds > 1 ? ` (round ${round + 1} of ${rounds})` : ''}\n`);
  const group = new ProcessGroup();
  const env = await startEnv({ namespaces: Number(values.namespaces) });
  const tracker = new Tracker(env.admin);
  const logDir = group.tempDir(`datum-bench-${name}-`);
  const opts = {
    kubeconfig: env.subjectKubeconfig,
    workers,
    backendLatencyMs: Number(values['latency-ms']),
    logDir,
    cpuProfDir: name === 'ours' ? values['cpu-prof'] : undefined,
  };
  const res: SubjectResult = { scenarios: {} };
  const r = res.scenarios as Record<string, unknown>;
  try {
    await tracker.start();
    let subj = await startSubject(name, group, opts);
    await warmUp(env, tracker, timeoutMs);
    for (const [i, n] of storms.entries()) {
      const items = instanceNames(n, env.namespaces, `s${i}`);
      r[`createStorm${n}`] = await createStorm(env, subj, tracker, items, timeoutMs);
      log(name, `create storm ${n}`, r[`createStorm${n}`]);
      if (i === 0) {
        r[`update${n}`] = await updatePropagation(env, subj, tracker, items, timeoutMs);
        log(name, `update propagation ${n}`, r[`update${n}`]);
      }
      r[`delete${n}`] = await massDelete(env, subj, tracker, items, timeoutMs);
      log(name, `mass delete ${n}`, r[`delete${n}`]);
    }
    const idleItems = instanceNames(idleN, env.namespaces, 'idle');
    r.idle = await idleAtScale(env, subj, tracker, idleItems, idleSeconds, timeoutMs);
    log(name, `idle ${idleN}`, r.idle);
    if (subj.metricsUrl) {
      const re = await restart(env, subj, () => startSubject(name, group, opts), idleN, timeoutMs);
      subj = re.running;
      r.restart = re.figures;
      log(name, `restart with ${idleN}`, r.restart);
    }
    await subj.stop();
  } catch (err) {
    res.error = String((err as Error).stack ?? err);
    process.stderr.write(`${name} failed: ${res.error}\nlogs in ${logDir}\n`);
  } finally {
    await tracker.stop();
    await env.stop();
    await group.stopAll(res.error ? [logDir] : []);
  }
  return res;
}

const table = renderTable(result);
process.stdout.write(`\n${table}\n`);
const outDir = values.out ?? (quick ? undefined : join(DIR, 'results'));
if (outDir) {
  mkdirSync(outDir, { recursive: true });
  const stem = join(outDir, result.date.slice(0, 16).replace(':', ''));
  writeFileSync(`${stem}.json`, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(`${stem}.md`, `${table}\n`);
  process.stdout.write(`wrote ${stem}.json and ${stem}.md\n`);
}
const failed = Object.entries(result.subjects).filter(([, s]) => s.error);
process.exit(failed.length ? 1 : 0);

function log(subject: string, what: string, f: unknown): void {
  const { requests, ...short } = f as Record<string, unknown>;
  const by = (requests as { byResource?: Record<string, number> } | undefined)?.byResource;
  process.stdout.write(`${subject}: ${what}: ${JSON.stringify(by ? { ...short, byResource: by } : short)}\n`);
}
