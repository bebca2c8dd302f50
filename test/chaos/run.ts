/**
 * A chaos run: one control plane; per backend a site, a supervised provider process and every scenario in
 * turn; then teardown (nothing may be left on the platform) and the secret scan of the provider's output
 * and of all Events.
 */
import { rmSync } from 'node:fs';
import { INSTANCE, NETWORK, NETWORK_CONTEXT, SUBNET } from '../../src/datum/api/resources.ts';
import type { Instance } from '../../src/datum/api/types.ts';
import { networkContextName, subnetName } from '../../src/datum/classic.ts';
import { isNotFound } from '../../src/runtime/client/errors.ts';
import type { Condition, KubeObject, ResourceType } from '../../src/runtime/client/types.ts';
import { apiFaults } from './api-faults.ts';
import { backendFaults } from './backend-faults.ts';
import { badInput } from './bad-input.ts';
import type { ChaosConfig, ScenarioName } from './config.ts';
import { type ChaosEnv, createSite, type Site, startEnv } from './env.ts';
import { pool } from './instances.ts';
import { killStorm } from './kill-storm.ts';
import { scanEvents, scanLog } from './leaks.ts';
import { ProviderSupervisor, sleep } from './provider.ts';
import { log, Stats } from './stats.ts';
import { awsTarget, inMemoryTarget, type Target } from './targets.ts';

type Scenario = (env: ChaosEnv, site: Site, target: Target, sup: ProviderSupervisor) => Promise<void>;

const SCENARIOS: Record<ScenarioName, Scenario> = {
  'kill-storm': killStorm,
  'api-faults': apiFaults,
  'backend-faults': backendFaults,
  'bad-input': badInput,
};

export async function runChaos(cfg: ChaosConfig): Promise<Stats> {
  const stats = new Stats();
  log(
    `${cfg.quick ? 'quick' : 'full'} run, seed ${cfg.seed}, backends ${cfg.backends}, scenarios ${cfg.scenarios}`,
  );
  const env = await startEnv(cfg, stats);
  try {
    for (const backend of cfg.backends) await runBackend(env, backend);
    await scanEvents(env, 'all');
  } catch (err) {
    stats.fail('run', `aborted: ${(err as Error).stack ?? err}`);
  } finally {
    await env.cp.stop();
    if (stats.ok() && !process.env.CHAOS_KEEP) rmSync(env.workDir, { recursive: true, force: true });
    else log(`provider logs and state kept in ${env.workDir}`);
  }
  return stats;
}

async function runBackend(env: ChaosEnv, backend: Site['backend']): Promise<void> {
  const site = await createSite(env, backend);
  const target = backend === 'inmemory' ? inMemoryTarget(env) : await awsTarget(env);
  const sup = new ProviderSupervisor(target.spec(site), env.stats);
  try {
    sup.start();
    await sup.waitFor('provider started');
    await waitProgrammed(env, NETWORK_CONTEXT, networkContextName('default', site.loc), site.ns);
    await waitProgrammed(env, SUBNET, subnetName(networkContextName('default', site.loc)), site.ns);
    for (const name of env.cfg.scenarios) {
      const started = Date.now();
      log(`${backend}/${name}: start`);
      try {
        await SCENARIOS[name](env, site, target, sup);
      } catch (err) {
        env.stats.fail(`${backend}/${name}`, `aborted: ${(err as Error).stack ?? err}`);
        sup.resume();
      }
      log(`${backend}/${name}: ${Math.round((Date.now() - started) / 1000)}s`);
    }
    if (!sup.alive()) sup.start();
    await teardown(env, site, target);
  } finally {
    await sup.close();
    await target.close();
  }
  scanLog(env, sup.logPath, backend);
}

/** Deletes everything of the site through the provider; then nothing of it may remain on the platform. */
async function teardown(env: ChaosEnv, site: Site, target: Target): Promise<void> {
  const c = env.client;
  const left = (await c.list<Instance>(INSTANCE, { namespace: site.ns })).items;
  await pool(left, 8, (i) => del(env, INSTANCE, i.metadata.name!, site.ns));
  const ctx = networkContextName('default', site.loc);
  for (const [r, name] of [
    [INSTANCE, undefined],
    [NETWORK_CONTEXT, ctx],
    [SUBNET, subnetName(ctx)],
    [NETWORK, 'default'],
  ] as const) {
    if (name) await del(env, r, name, site.ns);
    const deadline = Date.now() + env.cfg.convergeMs;
    while ((await c.list(r, { namespace: site.ns })).items.length > 0) {
      if (Date.now() > deadline) {
        env.stats.fail(`${site.backend}/teardown`, `${r.kind} objects still present`);
        break;
      }
      await sleep(1000);
    }
  }
  const remaining = await target.inventory();
  for (const r of remaining.slice(0, 5))
    env.stats.fail(`${site.backend}/teardown`, `left on the platform: ${r.kind} ${r.id} (${r.providerId})`);
  env.stats.orphans += remaining.length;
  log(`${site.backend}/teardown: ${remaining.length} platform resources left`);
}

async function del(env: ChaosEnv, r: ResourceType, name: string, ns: string): Promise<void> {
  await env.client.delete(r, name, ns).catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)));
}

async function waitProgrammed(env: ChaosEnv, r: ResourceType, name: string, ns: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const o = await env.client.get<KubeObject>(r, name, ns).catch(() => undefined);
    const p = (o?.status?.conditions as Condition[] | undefined)?.find((x) => x.type === 'Programmed');
    if (p?.status === 'True') return;
    if (Date.now() > deadline)
      throw new Error(`${r.kind} ${ns}/${name} not Programmed: ${JSON.stringify(p)}`);
    await sleep(500);
  }
}
