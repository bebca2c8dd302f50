/**
 * Contract check of the operator controls adopt and ObserveOnly, for both generations and every backend, with
 * no backend hook: the platform instance to adopt is one the provider created and then let go.
 *  a. `kept-0` is created; deleted with deletion policy Retain, its platform instance loses our marks
 *     (`owned()` no longer sees it) and the `Retained` Event names it (`release` found it).
 *  b. `adopter-0`, same spec, adopt annotation = that platform id: Programmed as that id (or Unsupported naming
 *     what differs), and `owned()` is exactly that id: the platform instance outlived kept-0, and nothing new
 *     was created.
 *  c. `rival-0` adopting the same id meanwhile: AdoptionConflict; nothing created, the holder keeps it.
 *  d. `watcher-0`, ObserveOnly on that id: Programmed and running from the platform, nothing marked for it;
 *     deleting it leaves the instance to its holder.
 *  e. The holder is deleted (policy Delete): an ObserveOnly probe (`seeker-0`) on the id then finds nothing,
 *     so later checks see a clean platform.
 * Instance calls are read from the suite's `observedBackend`: Retain releases and never deletes, adoption comes
 * before any ensure, rival-0 is never ensured, and ObserveOnly makes no writing call (its deletion included).
 * Without `adopt`, kept-0 is not released (nothing could take its instance back): rival-0 gets a clear
 * Unsupported and creates nothing while kept-0 holds the instance, and (d), (e) run with kept-0 as the holder.
 * Without `observe`, watcher-0 gets Unsupported (and the probe is left out). Nothing is skipped; a failed
 * scenario deletes its Instances, so the suite's later checks do not inherit them.
 */
import assert from 'node:assert/strict';
import { INSTANCE } from '../../datum/api/resources.ts';
import { DELETION_POLICY_ANNOTATION } from '../../datum/reconcilers/deletion-policy.ts';
import { instanceId } from '../../datum/reconcilers/instance-desired.ts';
import { ADOPT_ANNOTATION, MANAGEMENT_POLICY_ANNOTATION } from '../../datum/reconcilers/management.ts';
import type { HttpClient } from '../../runtime/client/client.ts';
import type { KubeObject } from '../../runtime/client/types.ts';
import { EVENT_RESOURCE } from '../../runtime/util/events.ts';
import type { ContractHandle } from './suite.ts';
import {
  condOf,
  describeConditions,
  eventually,
  type InstanceCalls,
  SuiteWaitError,
  type WaitContext,
  waitForCondition,
  waitForGone,
  waitForObject,
} from './wait.ts';

export interface ControlsEnv {
  client: HttpClient;
  handle: ContractHandle;
  ns: string;
  wait: WaitContext;
  /** The instance calls the provider made (the suite's `observedBackend`). */
  calls: InstanceCalls;
  /** The Instance the suite would create as `name` (its usual spec); the check adds its annotations. */
  instance(name: string): KubeObject;
  /** The condition saying the instance runs: Running (classic) or Available (cell). */
  running: 'Running' | 'Available';
  /** How the generation reports a refusal with classic reason `reason`: its Programmed reason and message. */
  refusal(reason: string): { reason: string; message: RegExp };
  /** The Programmed reason of an ObserveOnly Instance that observed its platform instance. */
  observedReason: string;
}

export async function controlsTest(env: ControlsEnv): Promise<void> {
  const { client, handle, ns, wait } = env;
  const caps = handle.backend.capabilities();
  const create = (name: string, annotations: Record<string, string>) => {
    const o = env.instance(name);
    o.metadata.annotations = { ...o.metadata.annotations, ...annotations };
    return client.create<KubeObject>(INSTANCE, o);
  };
  const WRITES = new Set(['ensureInstance', 'adoptInstance', 'deleteInstance', 'release']);
  const writes = (o: KubeObject) => env.calls.of(instanceId(o)).filter((op) => WRITES.has(op));
  const get = (name: string) => client.get<KubeObject>(INSTANCE, name, ns);
  const instancesOf = async (o: KubeObject) =>
    (await handle.owned(o.metadata.uid!)).filter((r) => r.kind === 'instance').map((r) => r.providerId);
  const running = (name: string, reason?: string) =>
    waitForCondition<KubeObject>(wait, {
      client,
      resource: INSTANCE,
      name,
      namespace: ns,
      conditions: { Programmed: 'True', [env.running]: 'True' },
      reason: reason ? { type: 'Programmed', reason } : undefined,
      failFastOn: ['Programmed', env.running],
    });
  const refused = async (name: string, reason: string, detail: RegExp) => {
    const r = env.refusal(reason);
    const i = await waitForCondition<KubeObject>(wait, {
      client,
      resource: INSTANCE,
      name,
      namespace: ns,
      conditions: { Programmed: 'False' },
      reason: { type: 'Programmed', reason: r.reason },
    });
    const message = condOf(i, 'Programmed')!.message;
    assert.match(message, r.message, `${name}: Programmed says ${reason}`);
    assert.match(message, detail, `${name}: Programmed says why`);
    return i;
  };
  const deleteAll = async (...names: string[]) => {
    await Promise.all(names.map((n) => client.delete(INSTANCE, n, ns)));
    for (const name of names) await waitForGone(wait, { client, resource: INSTANCE, name, namespace: ns });
  };
  /** ObserveOnly on `pid`: observed (Programmed, running, nothing marked), or refused when unsupported. */
  const observeOnly = async (name: string, pid: string) => {
    const o = await create(name, { [MANAGEMENT_POLICY_ANNOTATION]: 'ObserveOnly', [ADOPT_ANNOTATION]: pid });
    if (caps.observe) {
      const i = await running(name, env.observedReason);
      assert.match(
        condOf(i, 'Programmed')!.message,
        /ObserveOnly.*observed/,
        `${name}: says it only observes`,
      );
      assert.ok(condOf(i, 'Programmed')!.message.includes(pid), `${name}: names ${pid}`);
    } else await refused(name, 'Unsupported', /observe/);
    assert.deepEqual(await instancesOf(o), [], `${name}: nothing on the platform carries its marks`);
    return o;
  };

  try {
    await scenario();
  } finally {
    // A failed scenario must not leave Instances (and platform instances) for the suite's later checks.
    const names = ['kept-0', 'adopter-0', 'rival-0', 'watcher-0', 'seeker-0'];
    await Promise.all(names.map((n) => client.delete(INSTANCE, n, ns).catch(() => undefined)));
    for (const name of names)
      await waitForGone(wait, { client, resource: INSTANCE, name, namespace: ns, timeoutMs: 30_000 }).catch(
        () => undefined,
      );
  }

  async function scenario(): Promise<void> {
    // a. An instance of the provider's own making, with its platform id.
    const kept = await create('kept-0', {});
    await running('kept-0');
    const made = await instancesOf(kept);
    assert.equal(
      made.length,
      1,
      `kept-0 has one platform instance; owned() returned ${JSON.stringify(made)}`,
    );
    const pid = made[0]!;
    let holder = kept;
    if (caps.adopt) {
      await client.patch(INSTANCE, 'kept-0', ns, {
        type: 'merge',
        patch: { metadata: { annotations: { [DELETION_POLICY_ANNOTATION]: 'Retain' } } },
      });
      await deleteAll('kept-0');
      assert.deepEqual(
        await instancesOf(kept),
        [],
        'Retain: the platform instance no longer carries our marks',
      );
      assert.ok(
        !writes(kept).includes('deleteInstance'),
        `Retain: released, never deleted (${writes(kept)})`,
      );
      await eventually(
        async () =>
          (await client.list(EVENT_RESOURCE, { namespace: ns })).items.some(
            (e) =>
              e.involvedObject?.uid === kept.metadata.uid &&
              e.reason === 'Retained' &&
              String(e.message).includes(pid),
          ),
        `a Retained Event for kept-0 naming ${pid}`,
      );
      // b. Taken back: the same platform instance, no second one.
      holder = await create('adopter-0', { [ADOPT_ANNOTATION]: pid });
      const a = await waitForObject<KubeObject>(wait, {
        client,
        resource: INSTANCE,
        name: 'adopter-0',
        namespace: ns,
        want: `Programmed=True and ${env.running}=True as ${pid}, or Programmed saying what differs`,
        until: (i) => {
          const p = condOf(i, 'Programmed');
          if (p?.status === 'True' && !p.message.includes(pid))
            throw new SuiteWaitError(
              `adopter-0 is Programmed, but not as ${pid} (another instance instead of adopting it?): ${p.message}`,
              true,
            );
          const final = ['NotFound', 'AdoptionConflict', 'InvalidConfiguration'].find((r) => {
            const x = env.refusal(r);
            return p?.status === 'False' && p.reason === x.reason && x.message.test(p.message);
          });
          if (final)
            throw new SuiteWaitError(`adopter-0 could not adopt ${pid} (${final}): ${p!.message}`, true);
          if (!p?.message.includes(pid)) return false;
          if (p.status === 'True') return condOf(i, env.running)?.status === 'True';
          const differs = env.refusal('Unsupported');
          return p.reason === differs.reason && differs.message.test(p.message) && /differ/i.test(p.message);
        },
        failFastOn: ['Programmed', env.running],
      });
      assert.deepEqual(
        await instancesOf(holder),
        [pid],
        `adopter-0 is implemented by ${pid} and nothing else (${describeConditions(a)})`,
      );
      assert.equal(writes(holder)[0], 'adoptInstance', `adopted before any ensure: ${writes(holder)}`);
    }

    // c. Adopting what another Instance holds (or, without adopt, anything) is refused and creates nothing.
    const programmedOf = async (o: KubeObject) => {
      const p = condOf(await get(o.metadata.name!), 'Programmed');
      return `${p?.status}/${p?.reason}: ${p?.message}`;
    };
    const held = await programmedOf(holder);
    const rival = await create('rival-0', { [ADOPT_ANNOTATION]: pid });
    const [, watcher] = await Promise.all([
      caps.adopt ? refused('rival-0', 'AdoptionConflict', /./) : refused('rival-0', 'Unsupported', /adopt/),
      // d. Observed without being managed.
      observeOnly('watcher-0', pid),
    ]);
    assert.deepEqual(await instancesOf(rival), [], 'rival-0: nothing created or taken');
    assert.ok(!writes(rival).includes('ensureInstance'), `rival-0 never ensured: ${writes(rival)}`);
    assert.deepEqual(await instancesOf(holder), [pid], `${holder.metadata.name} still holds ${pid}`);
    assert.equal(await programmedOf(holder), held, `${holder.metadata.name}: its Programmed unchanged`);
    await deleteAll('rival-0', 'watcher-0');
    assert.deepEqual(await instancesOf(watcher), []);
    assert.deepEqual(writes(watcher), [], 'ObserveOnly: no writing call, its deletion included');
    assert.deepEqual(
      await instancesOf(holder),
      [pid],
      `deleting the ObserveOnly watcher-0 left ${pid} to ${holder.metadata.name}`,
    );

    // e. The holder goes with its platform instance (default policy Delete).
    await deleteAll(holder.metadata.name!);
    assert.deepEqual(await instancesOf(holder), [], `${holder.metadata.name}: its platform instance is gone`);
    if (caps.observe) {
      const seeker = await create('seeker-0', {
        [MANAGEMENT_POLICY_ANNOTATION]: 'ObserveOnly',
        [ADOPT_ANNOTATION]: pid,
      });
      await refused(
        'seeker-0',
        'NotFound',
        new RegExp(`${escapeRegExp(pid)} does not exist.*creates nothing`),
      );
      await deleteAll('seeker-0');
      assert.deepEqual(writes(seeker), [], 'ObserveOnly: nothing created for what it did not find');
    }
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
