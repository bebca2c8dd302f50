/**
 * The contract suite's Instance lifecycle tests (registered by `runContractSuite` inside its describe block):
 * programmed and running without ever writing Ready, other classes left alone, scheduling gates, template
 * changes, refusals. "Never" is checked against every stored version (`Timeline`), bounded by reconciles
 * the provider has finished, not by sleeping.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { INSTANCE } from '../../datum/api/resources.ts';
import type { Instance } from '../../datum/api/types.ts';
import type { HttpClient } from '../../runtime/client/client.ts';
import type { createInstance } from './fixtures.ts';
import type { Prerequisites } from './prerequisites.ts';
import type { ContractHandle } from './suite.ts';
import { MARKER, reconciles, Timeline } from './timeline.ts';
import {
  condOf,
  eventually,
  relatedLogs,
  type WaitContext,
  waitForCondition,
  waitForObject,
} from './wait.ts';

export interface InstanceTestEnv {
  c(): HttpClient;
  h(): ContractHandle;
  ns: string;
  /** A Location of our class. */
  ours: { name: string; namespace: string };
  /** The provider's log lines (debug level). */
  logs: string[];
  get(name: string): Promise<Instance | undefined>;
  /** Waits until the Instance is Programmed=True and Running=True. */
  programmed(name: string): Promise<Instance>;
  /** The runtime of plain Instances: sandbox unless the backend has none. */
  runtime(): 'sandbox' | 'virtualMachine';
  /** Creates an Instance the way the suite does (a network policy only where the backend has the feature). */
  createInstance: typeof createInstance;
  wait: WaitContext;
  /** Earlier failures that make a test meaningless (networking never Programmed, no Instance ever). */
  prereq: Prerequisites;
}

export function instanceTests(env: InstanceTestEnv): void {
  const { c, ns, ours, logs, programmed, runtime, wait, prereq } = env;
  const createInstance = env.createInstance;
  /** Waits for Programmed=False with `reason` (any other terminal reason fails at once). */
  const refused = (name: string, reason: string) =>
    waitForCondition<Instance>(wait, {
      client: c(),
      resource: INSTANCE,
      name,
      namespace: ns,
      conditions: { Programmed: 'False' },
      reason: { type: 'Programmed', reason },
    });
  const hasSandbox = () => env.h().backend.capabilities().runtimes.includes('sandbox');
  /** web-0 (sandbox) and vm-0 when the backend runs both; vm-0 only (web-0 refused) otherwise. */
  const served = () => (hasSandbox() ? ['web-0', 'vm-0'] : ['vm-0']);

  it('brings a sandbox and a VM Instance to Programmed and Running with addresses and the template hash, never writing Ready', async () => {
    // Every stored version of the Instances from their creation. Nobody plays compute in this test, so Ready
    // keeps what the creation (the CRD default) gave it unless the provider writes it.
    prereq.require('networking');
    const timeline = await Timeline.start(c(), INSTANCE, ns);
    try {
      await createInstance(c(), { name: 'web-0', namespace: ns, location: ours, runtime: 'sandbox' });
      await createInstance(c(), { name: 'vm-0', namespace: ns, location: ours, runtime: 'virtualMachine' });
      await checkProgrammed();
      if (!hasSandbox()) {
        const web = await refused('web-0', 'UnsupportedRuntime');
        assert.equal((await env.h().owned(web.metadata.uid!)).length, 0, 'no backend resource for it');
      }
      for (const name of served()) await timeline.catchUp(name);
      for (const name of served()) {
        const versions = timeline.versions(name);
        assert.ok(versions.length >= 3, `${name}: ${versions.length} stored versions observed`);
        const created = condOf(versions[0], 'Ready');
        assert.equal(created?.reason, 'Pending', 'the CRD default at creation');
        const changed = versions.filter(
          (v) => JSON.stringify(condOf(v, 'Ready')) !== JSON.stringify(created),
        );
        assert.deepEqual(
          changed.map((v) => `rv ${v.metadata.resourceVersion}: ${JSON.stringify(condOf(v, 'Ready'))}`),
          [],
          `${name}: no stored version changed Ready`,
        );
      }
    } finally {
      await timeline.stop();
    }
  });

  async function checkProgrammed(): Promise<void> {
    for (const name of served()) {
      const i = await programmed(name);
      assert.equal(i.status?.controller?.observedTemplateHash, 'hash-1');
      const owned = await env.h().owned(i.metadata.uid!);
      const backendRef = owned.find((r) => r.kind === 'instance')?.providerId;
      assert.ok(
        backendRef && condOf(i, 'Programmed')?.message.includes(backendRef),
        `Programmed of ${name} names the backend resource: message ${JSON.stringify(
          condOf(i, 'Programmed')?.message,
        )}, owned() returned ${JSON.stringify(owned)}`,
      );
      assert.match(i.status?.networkInterfaces?.[0]?.assignments?.networkIP ?? '', /^10\.128\.\d+\.\d+$/);
      assert.equal(condOf(i, 'Ready')?.reason, 'Pending', 'Ready is left to compute (still the CRD default)');
      assert.equal(
        owned.filter((r) => r.kind === 'instance').length,
        1,
        `exactly one backend instance for ${name}`,
      );
    }
  }

  /**
   * Bounds "the provider did nothing (more) about `name`": waits until the instance controller has reconciled
   * it, writes a marker (an annotation change makes the controller look again), waits for that reconcile too,
   * then for a second marker, so the watch has delivered every write those reconciles made.
   */
  async function settle(timeline: Timeline, name: string): Promise<void> {
    const count = () => reconciles(logs, 'instance', name, ns);
    const reconciled = (n: number) =>
      eventually(
        async () => count() >= n,
        `the instance controller to finish ${n} reconcile(s) of ${name}`,
        undefined,
        () => `${count()} finished; provider log lines about ${name}:\n${relatedLogs(logs, name)}`,
      );
    await reconciled(1); // its creation
    const done = count();
    await timeline.catchUp(name); // a marker write makes the controller look again
    await reconciled(done + 1);
    await timeline.catchUp(name);
  }

  it('leaves an Instance in another class of Location untouched', async () => {
    prereq.require('networking');
    const timeline = await Timeline.start(c(), INSTANCE, ns);
    try {
      const other = await createInstance(c(), {
        name: 'theirs-0',
        namespace: ns,
        location: { name: 'elsewhere', namespace: ns },
        runtime: runtime(),
      });
      await settle(timeline, 'theirs-0');
      // Reconciled twice, and the only stored versions are the creation and our two marker writes.
      const versions = timeline.versions('theirs-0');
      assert.deepEqual(
        versions.map((v) => v.metadata.annotations?.[MARKER] ?? 'created'),
        ['created', '1', '2'],
        'nobody else wrote it',
      );
      for (const v of versions) {
        assert.deepEqual(v.metadata.finalizers ?? [], []);
        assert.deepEqual(v.status, other.status, 'status unchanged');
      }
      assert.equal((await env.h().owned(other.metadata.uid!)).length, 0);
    } finally {
      await timeline.stop();
    }
  });

  it('holds work back while scheduling gates remain, and converges a template change', async () => {
    prereq.require('networking', 'instances');
    const timeline = await Timeline.start(c(), INSTANCE, ns);
    let gated: Instance;
    try {
      gated = await createInstance(c(), {
        name: 'gated-0',
        namespace: ns,
        location: ours,
        gates: ['Network'],
        runtime: runtime(),
      });
      await settle(timeline, 'gated-0');
      const versions = timeline.versions('gated-0');
      assert.deepEqual(
        versions.filter((v) => condOf(v, 'Programmed')?.status === 'True').length,
        0,
        'never Programmed while gated',
      );
      assert.equal((await env.h().owned(gated.metadata.uid!)).length, 0, 'no backend resource while gated');
    } finally {
      await timeline.stop();
    }
    await c().patch(INSTANCE, 'gated-0', ns, {
      type: 'json',
      patch: [{ op: 'remove', path: '/spec/controller/schedulingGates' }],
    });
    await programmed('gated-0');
    await c().patch(INSTANCE, 'gated-0', ns, {
      type: 'merge',
      patch: {
        spec: {
          controller: { templateHash: 'hash-2' },
          runtime:
            runtime() === 'sandbox'
              ? {
                  sandbox: {
                    containers: [{ name: 'app', image: 'nginx:1.28', ports: [{ name: 'http', port: 80 }] }],
                  },
                }
              : {
                  virtualMachine: {
                    ports: [
                      { name: 'ssh', port: 22 },
                      { name: 'http', port: 80 },
                    ],
                  },
                },
        },
      },
    });
    await waitForObject<Instance>(wait, {
      client: c(),
      resource: INSTANCE,
      name: 'gated-0',
      namespace: ns,
      want: 'status.controller.observedTemplateHash hash-2',
      until: (i) => i?.status?.controller?.observedTemplateHash === 'hash-2',
    });
    assert.equal(
      (await env.h().owned(gated.metadata.uid!)).filter((r) => r.kind === 'instance').length,
      1,
      'still one backend instance',
    );
  });

  it('refuses an unknown instance type and an invalid runtime with a reason and message, and keeps serving others', async () => {
    prereq.require('networking');
    await createInstance(c(), {
      name: 'bad-type-0',
      namespace: ns,
      location: ours,
      instanceType: 'datumcloud/unknown-99',
      runtime: runtime(),
    });
    await createInstance(c(), { name: 'no-runtime-0', namespace: ns, location: ours, runtime: 'none' });
    const bad = await refused('bad-type-0', 'UnknownInstanceType');
    assert.match(condOf(bad, 'Programmed')!.message, /datumcloud\/unknown-99.*use one of/);
    await refused('no-runtime-0', 'InvalidConfiguration');
    await createInstance(c(), {
      name: 'good-after-bad-0',
      namespace: ns,
      location: ours,
      runtime: runtime(),
    });
    await programmed('good-after-bad-0');
  });
}
