/**
 * Kill storm: the provider process is SIGKILLed at random moments while Instances are being created (some
 * runs kill themselves right after a backend create, before the status write, via the failpoint) and again
 * during a mass delete. After the last restart everything converges, nothing is duplicated on the platform,
 * and after the delete nothing is left there.
 */
import { rng } from './config.ts';
import type { ChaosEnv, Site } from './env.ts';
import {
  checkPlatformData,
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
import { countSecrets } from './leaks.ts';
import { type ProviderSupervisor, sleep } from './provider.ts';
import { log } from './stats.ts';
import type { Target } from './targets.ts';

const SET = 'storm';

export async function killStorm(
  env: ChaosEnv,
  site: Site,
  target: Target,
  sup: ProviderSupervisor,
): Promise<void> {
  const scope = `${site.backend}/kill-storm`;
  const { instances, createKills, deleteKills, failpointEvery } = env.cfg.storm;
  const r = rng(env.cfg.seed);
  const killsBefore = env.stats.kills;
  const perCycle = Math.ceil(instances / createKills);
  let made = 0;
  // A random pause before each kill: sometimes during start-up, sometimes mid-reconcile.
  const randomKill = async () => {
    await sleep(r.int(200, 3500));
    await sup.kill();
  };

  for (let k = 0; k < createKills; k++) {
    // Newer batches sort first (the initial list is by name), so a restarted provider starts with them:
    // the failpoint then hits a fresh create, not a re-check of an existing instance.
    const batch = Array.from({ length: Math.min(perCycle, instances - made) }, (_, j) =>
      validInstance(site, `storm-${String(999 - k).padStart(3, '0')}-${j}`, SET, made + j),
    );
    made += batch.length;
    const creating = pool(batch, 4, async (i) => void (await createRetrying(env.client, i)));
    const viaFailpoint = failpointEvery > 0 && k % failpointEvery === failpointEvery - 1;
    if (sup.alive()) await sup.kill();
    sup.start(viaFailpoint ? { failpoint: 'after-ensure-instance' } : {});
    if (viaFailpoint) {
      if (!(await sup.waitExit(20_000))) await sup.kill(); // nothing left to create: kill it ourselves
    } else await randomKill();
    await creating;
  }
  sup.start();
  log(
    `${scope}: ${made} Instances created through ${env.stats.kills - killsBefore} kills (${sup.failpointKills} at the failpoint)`,
  );
  await waitConverged(env, site, SET, made, scope);
  const items = await listSet(env.client, site.ns, SET);
  const uids = uidsOf(items);
  await countDuplicates(env, target, uids, scope);
  await checkPlatformData(env, target, items, scope);
  await scanBackendMetadata(env, target, scope);

  await deleteSet(env.client, site.ns, SET);
  for (let k = 0; k < deleteKills; k++) {
    if (!sup.alive()) sup.start();
    await randomKill();
  }
  sup.start();
  await waitGone(env, site, SET, scope);
  await countOrphans(env, site, target, uids, scope);
  log(`${scope}: done, ${env.stats.kills - killsBefore} kills`);
}

/** Secrets must not sit in plain-text platform metadata (state file, user data): counted as leaks. */
export async function scanBackendMetadata(env: ChaosEnv, target: Target, scope: string): Promise<void> {
  const n = countSecrets(await target.metadataText());
  if (n > 0) env.stats.fail(scope, `${n} secret values in platform metadata (state file / user data)`);
  env.stats.leakedSecrets += n;
}
