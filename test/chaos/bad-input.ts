/**
 * Bad input: many generated invalid and hostile Instances (bad-input-cases.ts) together with valid ones.
 * Every invalid one is rejected by the API server or refused with a catalogue reason, hostile ones get an
 * answer, the valid ones converge, and the provider process never exits.
 */
import { INSTANCE } from '../../src/datum/api/resources.ts';
import type { Instance } from '../../src/datum/api/types.ts';
import { REASON } from '../../src/datum/classic.ts';
import { ApiError } from '../../src/runtime/client/errors.ts';
import { type BadCase, generateCases } from './bad-input-cases.ts';
import { rng } from './config.ts';
import type { ChaosEnv, Site } from './env.ts';
import {
  checkPlatformData,
  cond,
  converged,
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

/**
 * Reasons that mean "refused, tell the user": the catalogue (classic.ts REASON, plus the backend reasons
 * docs/provider-contract.md lists) without the ones that mean success, progress, or another kind's state.
 */
const NOT_REFUSALS = new Set([
  'Programmed',
  'ProgrammingInProgress',
  'NotProgrammed',
  'PendingProgramming',
  'BackendError',
  'WaitingForAllocation',
  'AddressesNotAllocated',
  'NetworkFailedToCreate',
  'Running',
  'Starting',
  'Stopping',
  'Stopped',
]);
const REFUSALS = new Set(
  [...Object.values(REASON), 'CredentialsInvalid', 'Unsupported'].filter((r) => !NOT_REFUSALS.has(r)),
);

type Outcome = 'rejected' | 'refused' | 'programmed' | 'pending' | 'odd-reason';

function outcomeOf(i: Instance | undefined): { outcome: Outcome; reason?: string } {
  const p = cond(i, 'Programmed');
  if (i && converged(i)) return { outcome: 'programmed' };
  if (p?.status === 'True') return { outcome: 'pending' }; // programmed, not running yet
  if (p?.status !== 'False' || p.reason === 'ProgrammingInProgress' || !i?.status?.conditions)
    return { outcome: 'pending', reason: p?.reason };
  // A refusal must be about this generation, with a message saying what to change.
  if (!p.message) return { outcome: 'odd-reason', reason: `${p.reason} (no message)` };
  return REFUSALS.has(p.reason)
    ? { outcome: 'refused', reason: p.reason }
    : { outcome: 'odd-reason', reason: p.reason };
}

export async function badInput(
  env: ChaosEnv,
  site: Site,
  target: Target,
  sup: ProviderSupervisor,
): Promise<void> {
  const scope = `${site.backend}/bad-input`;
  const c = env.client;
  const { invalid, hostile, valid } = env.cfg.badInput[site.backend];
  if (!sup.alive()) sup.start();
  await sup.waitFor('provider started');
  const startsBefore = sup.starts;
  const cases = generateCases(site, invalid, hostile, rng(env.cfg.seed + 1));
  const good = Array.from({ length: valid }, (_, i) => validInstance(site, `good-${i}`, 'bad-valid', i));
  const rejected = new Map<BadCase, string>();
  const created: BadCase[] = [];
  const work: ({ bad: BadCase } | { good: Instance })[] = cases.map((bad) => ({ bad }));
  // Valid objects spread through the stream of bad ones.
  good.forEach((g, i) => work.splice(Math.floor(((i + 1) * work.length) / (valid + 1)), 0, { good: g }));
  await pool(work, 8, async (w) => {
    if ('good' in w) return void (await createRetrying(c, w.good));
    const why = await createOnce(c, w.bad.obj);
    if (why) rejected.set(w.bad, why);
    else created.push(w.bad);
  });
  log(
    `${scope}: ${cases.length} bad Instances (${rejected.size} rejected by the API server) and ${valid} valid ones created`,
  );

  // Wait for an answer to every created bad Instance.
  const deadline = Date.now() + env.cfg.convergeMs;
  let results = new Map<string, { outcome: Outcome; reason?: string }>();
  for (;;) {
    const items = await listSet(c, site.ns, 'bad').catch(() => undefined);
    if (items) {
      const byName = new Map(items.map((i) => [i.metadata.name!, i]));
      results = new Map(
        created.map((k) => [k.obj.metadata.name!, outcomeOf(byName.get(k.obj.metadata.name!))]),
      );
      const waiting = created.filter((k) => {
        const o = results.get(k.obj.metadata.name!)!.outcome;
        return o === 'pending' || (o === 'odd-reason' && k.kind === 'hostile');
      });
      if (waiting.length === 0) break;
    }
    if (Date.now() > deadline) break;
    await sleep(2000);
  }
  await waitConverged(env, site, 'bad-valid', valid, `${scope} (valid among bad)`);

  // Tally, per family.
  const families = new Map<string, Record<string, number>>();
  const tally = (k: BadCase, key: string) => {
    const f = families.get(k.family) ?? {};
    f[key] = (f[key] ?? 0) + 1;
    families.set(k.family, f);
  };
  for (const [k, why] of rejected) {
    tally(k, 'rejected');
    env.stats.invalid++;
    if (k.kind === 'hostile' && !/too large|too long|Invalid value|Required value|must/i.test(why))
      tally(k, `(${why.slice(0, 60)})`);
  }
  for (const k of created) {
    const name = k.obj.metadata.name!;
    const { outcome, reason } = results.get(name) ?? { outcome: 'pending' as const };
    tally(k, reason ? `${outcome}:${reason}` : outcome);
    if (outcome === 'refused') env.stats.invalid++;
    else if (outcome === 'programmed' && k.kind === 'invalid')
      env.stats.fail(
        scope,
        `invalid input programmed: ${k.family} ${k.variant} (${name}): ${summary(k.obj)}`,
      );
    else if (outcome === 'pending' || outcome === 'odd-reason')
      env.stats.fail(
        scope,
        `no refusal for ${k.kind} ${k.family} ${k.variant} (${name}): ${outcome} ${reason ?? ''}`,
      );
  }
  for (const [family, counts] of [...families].sort())
    log(
      `${scope}: ${family.padEnd(28)} ${Object.entries(counts)
        .map(([k, n]) => `${k}=${n}`)
        .join(' ')}`,
    );

  // What was programmed runs as specified, and was launched once.
  const programmed = [
    ...(await listSet(c, site.ns, 'bad')),
    ...(await listSet(c, site.ns, 'bad-valid')),
  ].filter(converged);
  await checkPlatformData(env, target, programmed, scope);
  await countDuplicates(env, target, uidsOf(programmed), scope);

  if (sup.starts !== startsBefore || !sup.alive())
    env.stats.fail(scope, 'the provider process had to be restarted during bad input');
  await scanStatuses(env, site, scope);

  const uids = new Set([
    ...uidsOf(await listSet(c, site.ns, 'bad')),
    ...uidsOf(await listSet(c, site.ns, 'bad-valid')),
  ]);
  await deleteSet(c, site.ns, 'bad');
  await deleteSet(c, site.ns, 'bad-valid');
  await waitGone(env, site, 'bad', scope);
  await waitGone(env, site, 'bad-valid', scope);
  await countOrphans(env, site, target, uids, scope);
}

/** One create: the API server's rejection message, or undefined when created. Transport trouble retries. */
async function createOnce(c: ChaosEnv['client'], obj: Instance): Promise<string | undefined> {
  for (let attempt = 0; ; attempt++) {
    try {
      await c.create(INSTANCE, obj);
      return undefined;
    } catch (err) {
      if (err instanceof ApiError && (err.status < 500 || /too large/i.test(err.message)))
        return `${err.status} ${err.message}`;
      if (attempt >= 5) throw err;
      await sleep(1000);
    }
  }
}

function summary(o: Instance): string {
  const s = JSON.stringify({ annotations: o.metadata.annotations, spec: o.spec });
  return s.length > 400 ? `${s.slice(0, 400)}…` : s;
}
