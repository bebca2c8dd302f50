/**
 * Platform faults: throttling (with a retry-after hint), 5xx / transient errors, lost responses (the call
 * took effect but its answer never came) and latency spikes, on creates and deletes. Everything converges,
 * nothing is duplicated, nothing is left behind. First, a credential failure whose message quotes both the
 * credential and a tenant secret: the condition must show it redacted.
 */
import { INSTANCE } from '../../src/datum/api/resources.ts';
import type { Instance } from '../../src/datum/api/types.ts';
import type { ChaosEnv, Site } from './env.ts';
import { SECRETS } from './env.ts';
import {
  cond,
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
import type { AwsTarget, InMemoryTarget, Target } from './targets.ts';

const LEAKY_MESSAGE = `request signature ${SECRETS.credential} rejected for payload ${SECRETS.instance}`;

export async function backendFaults(
  env: ChaosEnv,
  site: Site,
  target: Target,
  sup: ProviderSupervisor,
): Promise<void> {
  const scope = `${site.backend}/backend-faults`;
  const c = env.client;
  if (!sup.alive()) sup.start();
  await sup.waitFor('provider started');

  // A failure that quotes secrets: reported, redacted.
  if (target.name === 'inmemory')
    (target as InMemoryTarget).inject({
      op: 'ensureInstance',
      mode: 'error',
      reason: 'CredentialsInvalid',
      message: LEAKY_MESSAGE,
    });
  else
    (target as AwsTarget).emu.proxy.plan({
      action: 'RunInstances',
      fault: { kind: 'error', status: 401, code: 'AuthFailure', message: LEAKY_MESSAGE },
      times: 1,
    });
  await createRetrying(c, validInstance(site, 'leaky-0', 'faults-leaky', 0));
  const leaky = await waitFor(
    env,
    site,
    'leaky-0',
    (i) => cond(i, 'Programmed')?.reason === 'CredentialsInvalid',
  );
  if (!leaky) env.stats.fail(scope, 'the injected credential failure never showed as CredentialsInvalid');
  else if (!cond(leaky, 'Programmed')?.message.includes('[redacted]'))
    log(
      `${scope}: note: the credential failure message shows no [redacted] marker: ${cond(leaky, 'Programmed')?.message}`,
    );

  injectStorm(target);
  const n = env.cfg.backendFaults.instances;
  const items = Array.from({ length: n }, (_, i) => validInstance(site, `faulty-${i}`, 'faults', i));
  await pool(items, 4, async (i) => void (await createRetrying(c, i)));
  await waitConverged(env, site, 'faults', n, scope);
  const uids = uidsOf(await listSet(c, site.ns, 'faults'));
  await countDuplicates(env, target, uids, scope);
  await scanStatuses(env, site, scope);
  if (target.name === 'aws') {
    const fired = (target as AwsTarget).emu.proxy.log.filter((e) => e.fault).length;
    log(`${scope}: ${fired} faults fired at the EC2 proxy`);
  }

  for (const u of uidsOf(await listSet(c, site.ns, 'faults-leaky'))) uids.add(u);
  await deleteSet(c, site.ns, 'faults');
  await deleteSet(c, site.ns, 'faults-leaky');
  await waitGone(env, site, 'faults', scope);
  await waitGone(env, site, 'faults-leaky', scope);
  await countOrphans(env, site, target, uids, scope);
  if (target.name === 'aws') (target as AwsTarget).emu.proxy.clearPlan();
}

function injectStorm(target: Target): void {
  if (target.name === 'inmemory') {
    (target as InMemoryTarget).inject(
      { op: 'ensureInstance', mode: 'throttle', times: 6 },
      {
        op: 'ensureInstance',
        mode: 'error',
        reason: 'Transient',
        message: 'HTTP 503 from the platform',
        times: 6,
      },
      { op: 'ensureInstance', mode: 'lostResponse', times: 6 },
      { op: 'ensureInstance', mode: 'latency', ms: 4000, times: 4 },
      { op: 'deleteInstance', mode: 'lostResponse', times: 4 },
      { op: 'deleteInstance', mode: 'throttle', times: 3 },
      { op: 'deleteInstance', mode: 'latency', ms: 2500, times: 3 },
    );
    return;
  }
  (target as AwsTarget).emu.proxy.plan(
    { action: 'RunInstances', fault: { kind: 'throttle' }, times: 3 },
    { action: 'RunInstances', fault: { kind: 'internalError' }, times: 2 },
    { action: 'RunInstances', fault: { kind: 'unavailable' }, times: 2 },
    { action: 'RunInstances', fault: { kind: 'lostResponse', mode: 'destroy' }, times: 3 },
    { action: 'RunInstances', fault: { kind: 'lostResponse', mode: '500' }, times: 2 },
    { action: 'DescribeInstances', fault: { kind: 'staleRead' }, times: 4 },
    { action: 'DescribeInstances', fault: { kind: 'latency', ms: 3000 }, times: 4 },
    { action: 'CreateSecurityGroup', fault: { kind: 'lostResponse', mode: 'destroy' }, times: 2 },
    { action: 'AuthorizeSecurityGroupIngress', fault: { kind: 'internalError' }, times: 2 },
    { action: 'PutParameter', fault: { kind: 'throttle' }, times: 2 },
    { action: 'TerminateInstances', fault: { kind: 'lostResponse', mode: 'destroy' }, times: 2 },
    { action: 'TerminateInstances', fault: { kind: 'internalError' }, times: 2 },
  );
}

async function waitFor(
  env: ChaosEnv,
  site: Site,
  name: string,
  ok: (i: Instance) => boolean,
): Promise<Instance | undefined> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const i = await env.client.get<Instance>(INSTANCE, name, site.ns).catch(() => undefined);
    if (i && ok(i)) return i;
    await sleep(500);
  }
  return undefined;
}
