/**
 * The scenarios, each run against one subject in its own environment. Every figure is measured from outside
 * the subject: times by the load generator's informer, requests by the API server's audit log, CPU and memory
 * from /proc.
 */
import { INSTANCE } from '../../src/datum/api/resources.ts';
import { instanceObject } from '../../src/testkit/contract/fixtures.ts';
import type { RequestCounts } from './audit.ts';
import type { BenchEnv } from './env.ts';
import {
  changeTemplate,
  converged,
  createInstances,
  deleteInstances,
  instanceNames,
  keyOf,
  type Named,
  percentiles,
  type Tracker,
  unrelatedWrites,
} from './load.ts';
import { PeakSampler, sampleProc } from './procstat.ts';
import { type RunningSubject, scrape } from './subjects.ts';

export interface PhaseFigures {
  n: number;
  wallSeconds: number;
  p50Ms?: number;
  p99Ms?: number;
  requestsPerInstance: number;
  writesPerInstance: number;
  cpuSecondsPer1000: number;
  peakRssMiB: number;
  requests: RequestCounts;
  [extra: string]: unknown;
}

const MiB = 2 ** 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/** Runs `fn` and measures the subject meanwhile; requests are counted after a short settle (async Events). */
async function measured(
  env: BenchEnv,
  subj: RunningSubject,
  n: number,
  fn: () => Promise<Record<string, unknown>>,
): Promise<PhaseFigures> {
  const mark = env.audit.mark();
  const cpu0 = sampleProc(subj.pid).cpuSeconds;
  const peak = new PeakSampler(subj.pid);
  const t0 = performance.now();
  const extra = await fn();
  const wall = (performance.now() - t0) / 1000;
  const cpu = sampleProc(subj.pid).cpuSeconds - cpu0;
  await sleep(1000);
  const requests = env.audit.since(mark);
  return {
    n,
    wallSeconds: round(wall),
    requestsPerInstance: round(requests.total / n),
    writesPerInstance: round(requests.writes / n),
    cpuSecondsPer1000: round((cpu / n) * 1000),
    peakRssMiB: round(peak.stop() / MiB, 0),
    ...extra,
    requests,
  };
}

/** One Instance created and converged, then deleted: the subject is up, synced and working. */
export async function warmUp(env: BenchEnv, tracker: Tracker, timeoutMs: number): Promise<void> {
  const it = { name: 'warm-up', namespace: env.namespaces[0]! };
  tracker.setGoal(converged);
  await env.admin.create(
    INSTANCE,
    instanceObject({ ...it, location: { name: 'dfw', namespace: it.namespace } }),
  );
  await tracker.waitMet([keyOf({ metadata: it })], timeoutMs, 'the warm-up Instance to converge');
  await env.admin.delete(INSTANCE, it.name, it.namespace);
  await tracker.waitGone([keyOf({ metadata: it })], timeoutMs, 'the warm-up Instance to be deleted');
}

export function createStorm(
  env: BenchEnv,
  subj: RunningSubject,
  tracker: Tracker,
  items: Named[],
  timeoutMs: number,
) {
  return measured(env, subj, items.length, async () => {
    tracker.setGoal(converged);
    const created = await createInstances(env.admin, items);
    const createSeconds = (performance.now() - Math.min(...created.values())) / 1000;
    await tracker.waitMet(created.keys(), timeoutMs, 'every Instance Programmed+Running');
    const { p50, p99 } = percentiles(created, tracker.met);
    return { p50Ms: round(p50, 0), p99Ms: round(p99, 0), createsTookSeconds: round(createSeconds) };
  });
}

export function updatePropagation(
  env: BenchEnv,
  subj: RunningSubject,
  tracker: Tracker,
  items: Named[],
  timeoutMs: number,
) {
  return measured(env, subj, items.length, async () => {
    // Every Instance is at generation 1 until its spec changes: the goal is converged on generation 2.
    tracker.setGoal((o) => converged(o) && (o.metadata.generation ?? 0) >= 2);
    const noise = unrelatedWrites(env.admin, env.namespaces);
    const changed = await changeTemplate(env.admin, items, 'nginx:1.28');
    await tracker.waitMet(changed.keys(), timeoutMs, 'every Instance converged on the new template');
    const unrelated = await noise.stop();
    const { p50, p99 } = percentiles(changed, tracker.met);
    return { p50Ms: round(p50, 0), p99Ms: round(p99, 0), unrelatedWrites: unrelated };
  });
}

export function massDelete(
  env: BenchEnv,
  subj: RunningSubject,
  tracker: Tracker,
  items: Named[],
  timeoutMs: number,
) {
  return measured(env, subj, items.length, async () => {
    tracker.setGoal(() => false);
    const deleted = await deleteInstances(env.admin, items);
    await tracker.waitGone(deleted.keys(), timeoutMs, 'every Instance gone (finalizer removed)');
    const { p50, p99 } = percentiles(deleted, tracker.gone);
    return { p50Ms: round(p50, 0), p99Ms: round(p99, 0) };
  });
}

/** Idle with `items` converged Instances cached: CPU per minute while nothing changes, RSS, heap. */
export async function idleAtScale(
  env: BenchEnv,
  subj: RunningSubject,
  tracker: Tracker,
  items: Named[],
  idleSeconds: number,
  timeoutMs: number,
) {
  tracker.setGoal(converged);
  const created = await createInstances(env.admin, items);
  await tracker.waitMet(created.keys(), timeoutMs, 'every Instance converged before idling');
  await sleep(2000); // let the last writes and Events drain
  const mark = env.audit.mark();
  const s0 = sampleProc(subj.pid);
  await sleep(idleSeconds * 1000);
  const s1 = sampleProc(subj.pid);
  const requests = env.audit.since(mark);
  const heapBytes = subj.metricsUrl
    ? ((await scrape(subj.metricsUrl, 'nodejs_heap_size_used_bytes')) ??
      (await scrape(subj.metricsUrl, 'go_memstats_heap_alloc_bytes')))
    : undefined;
  return {
    n: items.length,
    idleSeconds,
    cpuSecondsPerMinute: round(((s1.cpuSeconds - s0.cpuSeconds) / idleSeconds) * 60, 3),
    rssMiB: round(s1.rssBytes / MiB, 0),
    peakRssMiB: round(s1.peakRssBytes / MiB, 0),
    heapUsedMiB: heapBytes === undefined ? undefined : round(heapBytes / MiB, 0),
    requestsWhileIdle: requests.total,
    writesWhileIdle: requests.writes,
    requests,
  };
}

/**
 * Restart with `n` converged Instances: from the new process's spawn until it has reconciled each Instance
 * once and its queue is empty (its own metrics), and what it wrote meanwhile (nothing is needed).
 */
export async function restart(
  env: BenchEnv,
  subj: RunningSubject,
  start: () => Promise<RunningSubject>,
  n: number,
  timeoutMs: number,
) {
  await subj.stop();
  const mark = env.audit.mark();
  const next = await start();
  const url = next.metricsUrl!;
  const end = performance.now() + timeoutMs;
  for (;;) {
    const done = await scrape(url, 'controller_runtime_reconcile_total', 'controller="instance"');
    const depth = await scrape(url, 'workqueue_depth', 'name="instance"');
    if ((done ?? 0) >= n && depth === 0) break;
    if (performance.now() > end) throw new Error(`restart: ${done}/${n} reconciled after ${timeoutMs} ms`);
    await sleep(100);
  }
  const seconds = (performance.now() - next.startedAt) / 1000;
  await sleep(1000);
  const requests = env.audit.since(mark);
  const s = sampleProc(next.pid);
  return {
    running: next,
    figures: {
      n,
      toSteadySeconds: round(seconds),
      requests: requests.total,
      writes: requests.writes,
      peakRssMiB: round(s.peakRssBytes / MiB, 0),
      cpuSeconds: round(s.cpuSeconds),
      byResource: requests.byResource,
    },
  };
}

export { instanceNames };
