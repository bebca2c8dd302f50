/**
 * Instances as the chaos scenarios create them (valid ones use the tenant's Secret and ConfigMap, so secret
 * values flow through the provider), and the checks every scenario shares: convergence, deletion,
 * duplicates and orphans on the platform.
 */
import { INSTANCE } from '../../src/datum/api/resources.ts';
import type { Instance } from '../../src/datum/api/types.ts';
import type { HttpClient } from '../../src/runtime/client/client.ts';
import { ApiError, isAlreadyExists, isNotFound } from '../../src/runtime/client/errors.ts';
import type { Condition } from '../../src/runtime/client/types.ts';
import { instanceObject } from '../../src/testkit/contract/fixtures.ts';
import type { ChaosEnv, Site } from './env.ts';
import { sleep } from './provider.ts';
import { log } from './stats.ts';
import type { Target } from './targets.ts';

export const SET_LABEL = 'chaos.datum.net/set';

export const cond = (o: Instance | undefined, type: string): Condition | undefined =>
  (o?.status?.conditions as Condition[] | undefined)?.find((c) => c.type === type);

/**
 * Programmed and Running, and the status describes the current spec: conditions of this generation, the
 * template hash observed, an address on every interface.
 */
export const converged = (i: Instance): boolean =>
  cond(i, 'Programmed')?.status === 'True' &&
  cond(i, 'Running')?.status === 'True' &&
  cond(i, 'Programmed')?.observedGeneration === i.metadata.generation &&
  i.status?.controller?.observedTemplateHash === i.spec?.controller?.templateHash &&
  (i.spec?.networkInterfaces ?? []).every(
    (_, n) => !!i.status?.networkInterfaces?.[n]?.assignments?.networkIP,
  );

/** A valid Instance; two in three use the tenant Secret (env and volume) and ConfigMap. */
export function validInstance(site: Site, name: string, set: string, variant: number): Instance {
  const vm = variant % 3 === 1;
  const inst = instanceObject({
    name,
    namespace: site.ns,
    location: site.loc,
    runtime: vm ? 'virtualMachine' : 'sandbox',
  });
  inst.metadata.labels = { [SET_LABEL]: set };
  const spec = inst.spec!;
  if (variant % 3 === 2) return inst;
  spec.volumes = [
    ...(spec.volumes ?? []),
    { name: 'secret-files', secret: { secretName: 'app-secrets' } },
    { name: 'config-files', configMap: { name: 'app-config' } },
  ];
  const attachments = [
    { name: 'secret-files', mountPath: '/etc/chaos/secret' },
    { name: 'config-files', mountPath: '/etc/chaos/config' },
  ];
  if (vm) spec.runtime.virtualMachine!.volumeAttachments.push(...attachments);
  else {
    const c = spec.runtime.sandbox!.containers[0]!;
    c.volumeAttachments = attachments;
    c.env = [
      { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'app-secrets', key: 'token' } } },
      { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'app-config', key: 'mode' } } },
      { name: 'PLAIN', value: 'hello' },
    ];
  }
  return inst;
}

/** Creates, retrying while the API server is away; an object that already exists is fetched. */
export async function createRetrying(c: HttpClient, obj: Instance, ms = 120_000): Promise<Instance> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await c.create<Instance>(INSTANCE, obj);
    } catch (err) {
      if (isAlreadyExists(err)) return c.get<Instance>(INSTANCE, obj.metadata.name!, obj.metadata.namespace);
      if (err instanceof ApiError && err.status < 500 && err.status !== 429) throw err;
      if (Date.now() > deadline) throw err;
      await sleep(500);
    }
  }
}

export async function listSet(c: HttpClient, ns: string, set: string): Promise<Instance[]> {
  return (await c.list<Instance>(INSTANCE, { namespace: ns, labelSelector: `${SET_LABEL}=${set}` })).items;
}

/** Runs `fn` over `items` with at most `n` in flight. */
export async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/**
 * Waits until every Instance of the set is Programmed=True and Running=True (and passes `extra`); a failure
 * names the ones that did not, with their conditions.
 */
export async function waitConverged(
  env: ChaosEnv,
  site: Site,
  set: string,
  expected: number,
  scope: string,
  extra: (i: Instance) => boolean = () => true,
): Promise<boolean> {
  const deadline = Date.now() + env.cfg.convergeMs;
  let items: Instance[] = [];
  for (;;) {
    try {
      items = await listSet(env.client, site.ns, set);
      const done = items.filter((i) => converged(i) && extra(i));
      if (items.length === expected && done.length === expected) return true;
    } catch {}
    if (Date.now() > deadline) break;
    await sleep(1000);
  }
  const stuck = items.filter((i) => !(converged(i) && extra(i)));
  env.stats.fail(
    scope,
    `${stuck.length + Math.max(0, expected - items.length)} of ${expected} Instances did not converge in ` +
      `${env.cfg.convergeMs / 1000}s, e.g. ${stuck
        .slice(0, 3)
        .map(
          (i) =>
            `${i.metadata.name}: ${JSON.stringify(i.status?.conditions?.map((c: Condition) => [c.type, c.status, c.reason, c.message.slice(0, 120)]))}`,
        )
        .join('; ')}`,
  );
  return false;
}

export async function deleteSet(c: HttpClient, ns: string, set: string): Promise<void> {
  const items = await listSet(c, ns, set);
  await pool(items, 8, async (i) => {
    await c
      .delete(INSTANCE, i.metadata.name!, ns)
      .catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)));
  });
}

export async function waitGone(env: ChaosEnv, site: Site, set: string, scope: string): Promise<boolean> {
  let left: Instance[] = await listSet(env.client, site.ns, set).catch(() => []);
  // Deletes queue up behind each other: allow a second per object beyond the usual time.
  const deadline = Date.now() + Math.max(env.cfg.convergeMs, left.length * 1000);
  for (;;) {
    try {
      left = await listSet(env.client, site.ns, set);
      if (left.length === 0) return true;
    } catch {}
    if (Date.now() > deadline) break;
    await sleep(1000);
  }
  env.stats.fail(
    scope,
    `${left.length} Instances still exist ${env.cfg.convergeMs / 1000}s after deletion, e.g. ` +
      left
        .slice(0, 3)
        .map(
          (i) =>
            `${i.metadata.name} finalizers=${i.metadata.finalizers} ${JSON.stringify(i.status?.conditions)}`,
        )
        .join('; '),
  );
  return false;
}

/**
 * Duplicates on the platform: more than one live resource per (kind, backend id); for the given owners also
 * instances launched more than once over the run (a duplicate the backend cleaned up later still counts).
 */
export async function countDuplicates(
  env: ChaosEnv,
  target: Target,
  uids: Set<string>,
  scope: string,
): Promise<number> {
  const byId = new Map<string, number>();
  for (const r of await target.inventory()) {
    const k = `${r.kind}/${r.id}`;
    byId.set(k, (byId.get(k) ?? 0) + 1);
  }
  let dups = 0;
  for (const [k, n] of byId)
    if (n > 1) {
      dups += n - 1;
      env.stats.fail(scope, `${n} live platform resources for ${k}`);
    }
  for (const [id, n] of await target.launches())
    if (n > 1 && uids.has(id.replace(/^inst-/, ''))) {
      dups += n - 1;
      env.stats.fail(scope, `instance ${id} was launched ${n} times`);
    }
  env.stats.duplicates += dups;
  log(`${scope}: ${uids.size} owners checked, ${dups} duplicates`);
  return dups;
}

/** Platform resources still owned by objects that are gone (owners that still exist are not counted). */
export async function countOrphans(
  env: ChaosEnv,
  site: Site,
  target: Target,
  uids: Set<string>,
  scope: string,
): Promise<number> {
  const existing = uidsOf((await env.client.list<Instance>(INSTANCE, { namespace: site.ns })).items);
  const gone = new Set([...uids].filter((u) => !existing.has(u)));
  const left = (await target.inventory()).filter((r) => gone.has(r.uid));
  for (const r of left.slice(0, 5))
    env.stats.fail(scope, `orphan on the platform: ${r.kind} ${r.id} (${r.providerId})`);
  env.stats.orphans += left.length;
  log(`${scope}: ${gone.size} deleted owners checked, ${left.length} orphans`);
  return left.length;
}

export function uidsOf(items: Instance[]): Set<string> {
  return new Set(items.map((i) => i.metadata.uid!));
}

/**
 * The platform holds exactly what the spec says: every literal env value arrives unchanged. A corrupted or
 * stale value means the provider's view of the object differs from the API server's.
 */
export async function checkPlatformData(
  env: ChaosEnv,
  target: Target,
  items: Instance[],
  scope: string,
): Promise<number> {
  const platform = await target.platformEnv();
  let bad = 0;
  let compared = 0;
  for (const i of items) {
    const got = platform.get(`inst-${i.metadata.uid}`);
    if (!got) continue; // not on the platform (refused)
    compared++;
    for (const c of i.spec?.runtime?.sandbox?.containers ?? [])
      for (const e of c.env ?? []) {
        if (e.value === undefined || e.valueFrom) continue;
        const v = got[`${c.name}/${e.name}`];
        if (v === e.value) continue;
        if (++bad <= 3)
          env.stats.fail(
            scope,
            `${i.metadata.name}: env ${c.name}/${e.name} differs on the platform: ${diff(e.value, v)}`,
          );
      }
  }
  if (bad > 3) env.stats.fail(scope, `${bad} env values in all differ between the spec and the platform`);
  log(`${scope}: platform data of ${compared} Instances compared with their specs, ${bad} differences`);
  return bad;
}

function diff(want: string, got: string | undefined): string {
  if (got === undefined) return 'missing';
  let i = 0;
  while (i < want.length && want[i] === got[i]) i++;
  return `${want.length} vs ${got.length} chars, first difference at ${i}: ${JSON.stringify(want.slice(i, i + 12))} became ${JSON.stringify(got.slice(i, i + 12))}`;
}
