/**
 * API server faults: a restart during a create burst; a freeze (SIGSTOP) longer than the leader lease; and a
 * forced 410 (the provider frozen while the API server restarts, objects change and etcd is compacted, so
 * its watches resume from a resourceVersion that no longer exists). Afterwards the provider's view must
 * equal the server's: new Instances converge, deleted ones go, a template change is observed.
 */
import { INSTANCE } from '../../src/datum/api/resources.ts';
import type { Instance } from '../../src/datum/api/types.ts';
import { isNotFound } from '../../src/runtime/client/errors.ts';
import type { ChaosEnv, Site } from './env.ts';
import {
  countDuplicates,
  countOrphans,
  createRetrying,
  deleteSet,
  listSet,
  pool,
  uidsOf,
  validInstance,
  waitConverged,
  waitGone,
} from './instances.ts';
import { scanStatuses } from './leaks.ts';
import { type ProviderSupervisor, sleep } from './provider.ts';
import { log } from './stats.ts';
import type { Target } from './targets.ts';

const batch = (site: Site, set: string, n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => validInstance(site, `${set}-${from + i}`, set, from + i));

export async function apiFaults(
  env: ChaosEnv,
  site: Site,
  target: Target,
  sup: ProviderSupervisor,
): Promise<void> {
  const scope = `${site.backend}/api-faults`;
  const n = env.cfg.apiFaults.perBatch;
  const c = env.client;
  const uids = new Set<string>();
  const restartProvider = async (leaderElect: boolean) => {
    await sup.stop();
    sup.start({ leaderElect });
    await sup.waitFor(leaderElect ? 'became leader' : 'provider started');
  };

  // 1. The API server restarts in the middle of a create burst.
  await restartProvider(false);
  const creating = pool(batch(site, 'api-a', n), 2, async (i) => void (await createRetrying(c, i)));
  await sleep(300);
  await env.cp.restartApiServer();
  await creating;
  log(`${scope}: API server restarted during a burst of ${n} creates`);
  await waitConverged(env, site, 'api-a', n, `${scope} (restart)`);

  // 2. The API server freezes for longer than the lease; the leader must step down (and exit, to be
  // restarted as a Deployment would), then everything resumes.
  await restartProvider(true);
  await pool(batch(site, 'api-b', n), 4, async (i) => void (await createRetrying(c, i)));
  const apiPid = env.cp.pids()[1]!;
  sup.expectLeaderLoss = true;
  process.kill(apiPid, 'SIGSTOP');
  await sleep(env.cfg.apiFaults.stopSeconds * 1000);
  process.kill(apiPid, 'SIGCONT');
  log(`${scope}: API server frozen for ${env.cfg.apiFaults.stopSeconds}s (lease 4s)`);
  await waitConverged(env, site, 'api-b', n, `${scope} (freeze)`);
  sup.expectLeaderLoss = false;
  log(`${scope}: ${sup.leaderLossExits} exits after losing the lease`);

  // 3. A forced 410: the provider sleeps through an API server restart, changes and a compaction.
  await restartProvider(false);
  await sleep(2000); // let every watch settle at a current resourceVersion
  const relistsBefore = countRelists(sup.currentOutput());
  const a = await listSet(c, site.ns, 'api-a');
  sup.pause();
  try {
    await env.cp.restartApiServer();
    await pool(batch(site, 'api-c', n), 4, async (i) => void (await createRetrying(c, i)));
    const [gone, changed] = [a.filter((_, i) => i % 2 === 0), a.filter((_, i) => i % 2 === 1)];
    for (const i of gone) await c.delete(INSTANCE, i.metadata.name!, site.ns);
    for (const i of changed)
      await c.patch(INSTANCE, i.metadata.name!, site.ns, {
        type: 'merge',
        patch: { spec: { controller: { templateHash: 'hash-2' } } },
      });
    await env.cp.compactEtcd();
    sup.resume();
    log(
      `${scope}: provider resumed after restart + ${n} creates, ${gone.length} deletes, ${changed.length} updates + compaction`,
    );
    await waitConverged(env, site, 'api-c', n, `${scope} (410)`);
    await waitConverged(
      env,
      site,
      'api-a',
      changed.length,
      `${scope} (410, template change)`,
      (i) => i.status?.controller?.observedTemplateHash === 'hash-2',
    );
    for (const g of gone) {
      const still = await c.get<Instance>(INSTANCE, g.metadata.name!, site.ns).catch((e) => {
        if (isNotFound(e)) return undefined;
        throw e;
      });
      if (still)
        env.stats.fail(
          `${scope} (410)`,
          `${g.metadata.name} deleted while the provider slept is still there`,
        );
    }
    const relists = countRelists(sup.currentOutput()) - relistsBefore;
    if (relists === 0) env.stats.fail(`${scope} (410)`, 'no watch relisted: the 410 path was not exercised');
    else log(`${scope}: ${relists} watches relisted after 410 Gone`);
  } finally {
    sup.resume();
  }

  await scanStatuses(env, site, scope);
  // Batches b and c saw no template change: each must have been launched exactly once.
  const steady = new Set([
    ...uidsOf(await listSet(c, site.ns, 'api-b')),
    ...uidsOf(await listSet(c, site.ns, 'api-c')),
  ]);
  await countDuplicates(env, target, steady, scope);
  for (const set of ['api-a', 'api-b', 'api-c']) {
    for (const u of uidsOf(await listSet(c, site.ns, set))) uids.add(u);
    await deleteSet(c, site.ns, set);
  }
  for (const u of uidsOf(a)) uids.add(u);
  for (const set of ['api-a', 'api-b', 'api-c']) await waitGone(env, site, set, scope);
  await countOrphans(env, site, target, uids, scope);
}

/** Watches that restarted from a list: the watcher logs `relist: true` after a 410 (debug level). */
function countRelists(output: string): number {
  return output.split('\n').filter((l) => l.includes('watch interrupted') && l.includes('"relist":true'))
    .length;
}
