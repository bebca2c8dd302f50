/**
 * Transient trouble does not flap healthy objects: retryable backend failures during a resync of a programmed
 * Instance and Subnet keep their Programmed=True (every version the API server stores is observed through a
 * watch, from before the faults until after the backend answered again), and the trouble is reported through
 * Events and the transient-errors metric instead.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InMemoryBackend } from '../../src/backends/inmemory/backend.ts';
import { INSTANCE, NETWORK_CONTEXT, SUBNET } from '../../src/datum/api/resources.ts';
import { networkContextName } from '../../src/datum/classic.ts';
import { registerProvider } from '../../src/datum/provider.ts';
import { defaultSettings } from '../../src/datum/settings.ts';
import { ControlPlane, DATUM_CRDS } from '../../src/localenv/controlplane.ts';
import type { KubeObject } from '../../src/runtime/client/types.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';
import { Manager } from '../../src/runtime/manager/manager.ts';
import { EVENT_RESOURCE } from '../../src/runtime/util/events.ts';
import { createInstance, seedProject } from '../../src/testkit/contract/fixtures.ts';
import { condOf, eventually, OUR_CRDS } from '../../src/testkit/contract/suite.ts';

const NS = 'project-t';

describe('transient backend errors on programmed objects', () => {
  let cp: ControlPlane;
  let mgr: Manager;
  const backend = new InMemoryBackend({ latencyMs: 5 });

  before(async () => {
    cp = await ControlPlane.start({ crdDirs: [DATUM_CRDS.compute, DATUM_CRDS.networkClassic, OUR_CRDS] });
    mgr = new Manager({ log: createLogger({ level: 'error', sink: () => {} }) });
    await mgr.engage('project-t', cp.connection);
    registerProvider(mgr, {
      backend,
      settings: { ...defaultSettings(), sweepIntervalSeconds: 3600 },
      home: cp.client(),
    });
    await mgr.start();
  });

  after(async () => {
    await mgr?.stop();
    await cp?.stop();
  });

  it('keep Programmed=True through retryable failures, and say so in Events and a metric', async () => {
    const c = cp.client();
    const where = await seedProject(c, NS, {
      name: 'dfw',
      className: defaultSettings().locationClassName,
      city: 'DFW',
    });
    await createInstance(c, { name: 'web-0', namespace: NS, location: where });
    const programmed = await eventually(async () => {
      const i = await c.get(INSTANCE, 'web-0', NS);
      return condOf(i, 'Programmed')?.status === 'True' ? i : undefined;
    }, 'Instance Programmed');

    // Every stored version of the Instance and the Subnet from here on.
    const seen: KubeObject[] = [];
    const abort = new AbortController();
    const watching = Promise.all(
      [INSTANCE, SUBNET].map(async (r) => {
        try {
          for await (const ev of c.watch(r, {
            namespace: NS,
            resourceVersion: programmed.metadata.resourceVersion,
            signal: abort.signal,
          }))
            if (ev.type !== 'BOOKMARK') seen.push(ev.object as KubeObject);
        } catch {}
      }),
    );

    backend.injectFault({ op: 'ensureInstance', mode: 'throttle', times: 3 });
    backend.injectFault({ op: 'ensureSubnet', mode: 'error', reason: 'Transient', times: 3 });
    const before = backend.calls.length;
    // A resync: any change makes the reconcilers look again and call the backend.
    for (const [r, name] of [
      [INSTANCE, 'web-0'],
      [SUBNET, 'default-project-t-dfw-0'],
    ] as const)
      await c.patch(r, name, NS, { type: 'merge', patch: { metadata: { annotations: { resync: '1' } } } });
    // Done when each backend call failed three times and then succeeded once more.
    await eventually(async () => {
      const after = backend.calls.slice(before);
      return ['ensureInstance', 'ensureSubnet'].every((op) => after.filter((x) => x.op === op).length >= 4);
    }, 'three failures and a success for each');
    // The watch has delivered everything written before this marker write.
    await c.patch(INSTANCE, 'web-0', NS, {
      type: 'merge',
      patch: { metadata: { annotations: { marker: '1' } } },
    });
    await eventually(async () => seen.some((o) => o.metadata.annotations?.marker === '1'), 'marker seen');
    abort.abort();
    await watching;

    assert.ok(seen.length >= 3, `versions observed: ${seen.length}`);
    const downgraded = seen.filter((o) => condOf(o, 'Programmed')?.status !== 'True');
    assert.deepEqual(
      downgraded.map((o) => `${o.kind}/${o.metadata.name}: ${JSON.stringify(condOf(o, 'Programmed'))}`),
      [],
      'no stored version was ever Programmed=False',
    );
    const events = (await c.list(EVENT_RESOURCE, { namespace: NS })).items;
    assert.ok(
      events.some((e) => String(e.message).includes('still programmed; retrying')),
      'an Event says what went wrong',
    );
    const metrics = await mgr.metrics.registry.getSingleMetricAsString(
      'datum_provider_transient_errors_total',
    );
    assert.match(
      metrics,
      /datum_provider_transient_errors_total\{kind="Instance",reason="ProgrammingInProgress"\} [3-9]/,
    );
    assert.match(metrics, /kind="Subnet"/);
  });

  it('a teardown the platform blocks says why on the object, and finishes once unblocked', async () => {
    const c = cp.client();
    const ns = 'project-u';
    const where = await seedProject(c, ns, {
      name: 'dfw',
      className: defaultSettings().locationClassName,
      city: 'DFW',
    });
    const ctx = networkContextName('default', where);
    await eventually(
      async () => condOf(await c.get(NETWORK_CONTEXT, ctx, ns), 'Programmed')?.status === 'True',
      'NetworkContext Programmed',
    );
    const blocker = 'security group sg-0abc (ops-debug) is not ours and still in the network';
    backend.injectFault({
      op: 'deleteNetwork',
      mode: 'error',
      reason: 'DependencyNotReady',
      message: blocker,
      times: 1_000, // until cleared below: the platform keeps refusing
    });
    await c.delete(NETWORK_CONTEXT, ctx, ns);
    const held = await eventually(async () => {
      const p = condOf(await c.get(NETWORK_CONTEXT, ctx, ns), 'Programmed');
      return p?.reason === 'DependencyNotReady' ? p : undefined;
    }, 'the blocked teardown on the NetworkContext');
    assert.equal(held.status, 'False');
    assert.equal(held.message, `deletion waits: ${blocker}`);
    backend.clearFaults();
    await eventually(
      () =>
        c.get(NETWORK_CONTEXT, ctx, ns).then(
          () => false,
          () => true,
        ),
      // Gone means our finalizer came off, which happens only once the backend delete went through.
      'the NetworkContext gone once the platform lets go',
    );
  });
});
