/**
 * Operator controls on the in-memory backend:
 * - pause: the annotation on an Instance, or `spec.paused` on the ProviderConfig serving it, stops every
 *   backend call for it (a spec change is not applied, a deletion waits with the finalizer held) until removed;
 *   the object says so in its Paused condition, and a gauge counts paused objects;
 * - deletion policy: `Retain` releases the platform resource instead of deleting it (an Event names it); an
 *   unreadable policy holds the deletion.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InMemoryBackend } from '../../src/backends/inmemory/backend.ts';
import { INSTANCE, SECRET } from '../../src/datum/api/resources.ts';
import type { Instance } from '../../src/datum/api/types.ts';
import { type Provider, registerProvider } from '../../src/datum/provider.ts';
import { PROVIDER_CONFIG } from '../../src/datum/providerconfig.ts';
import { DELETION_POLICY_ANNOTATION } from '../../src/datum/reconcilers/deletion-policy.ts';
import { instanceId } from '../../src/datum/reconcilers/instance-desired.ts';
import { PAUSED_ANNOTATION, PAUSED_CONDITION } from '../../src/datum/reconcilers/pause.ts';
import { defaultSettings } from '../../src/datum/settings.ts';
import { ControlPlane, DATUM_CRDS } from '../../src/localenv/controlplane.ts';
import { isNotFound } from '../../src/runtime/client/errors.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';
import { Manager } from '../../src/runtime/manager/manager.ts';
import { EVENT_RESOURCE } from '../../src/runtime/util/events.ts';
import { createInstance, ensureNamespace, seedProject } from '../../src/testkit/contract/fixtures.ts';
import { condOf, eventually, OUR_CRDS } from '../../src/testkit/contract/suite.ts';

const NS = 'project-p';
const where = { name: 'dfw', namespace: NS };

describe('operator controls', () => {
  let cp: ControlPlane;
  let mgr: Manager;
  let provider: Provider;
  const backend = new InMemoryBackend({ latencyMs: 5 });
  const callsFor = (id: string) => backend.calls.filter((c) => c.id === id).length;

  before(async () => {
    cp = await ControlPlane.start({ crdDirs: [DATUM_CRDS.compute, DATUM_CRDS.networkClassic, OUR_CRDS] });
    const c = cp.client();
    await ensureNamespace(c, 'provider-system');
    await c.create(SECRET, {
      metadata: { name: 'creds', namespace: 'provider-system' },
      stringData: { token: 'pause-test-token-value' },
    });
    await c.create(PROVIDER_CONFIG, {
      metadata: { name: 'default' },
      spec: { credentials: { source: 'Secret', secretRef: { namespace: 'provider-system', name: 'creds' } } },
    });
    mgr = new Manager({ log: createLogger({ level: 'error', sink: () => {} }) });
    await mgr.engage('project-p', cp.connection);
    provider = registerProvider(mgr, {
      backend,
      settings: { ...defaultSettings(), sweepIntervalSeconds: 3600 },
      home: c,
    });
    await mgr.start();
    await seedProject(c, NS, { name: 'dfw', className: defaultSettings().locationClassName, city: 'DFW' });
  });

  after(async () => {
    await mgr?.stop();
    await cp?.stop();
  });

  const get = (name: string) => cp.client().get<Instance>(INSTANCE, name, NS);
  const paused = (i: Instance | undefined) => condOf(i, PAUSED_CONDITION);

  it('an annotated Instance gets no backend call for a spec change, and its deletion waits until resumed', async () => {
    const c = cp.client();
    const inst = await createInstance(c, { name: 'web-0', namespace: NS, location: where });
    await eventually(async () => condOf(await get('web-0'), 'Programmed')?.status === 'True', 'Programmed');
    const id = instanceId(inst);
    await c.patch(INSTANCE, 'web-0', NS, {
      type: 'merge',
      patch: { metadata: { annotations: { [PAUSED_ANNOTATION]: 'true' } } },
    });
    await eventually(async () => paused(await get('web-0'))?.status === 'True', 'Paused=True');
    const before = callsFor(id);
    const changed = await c.patch<Instance>(INSTANCE, 'web-0', NS, {
      type: 'json',
      patch: [{ op: 'replace', path: '/spec/runtime/sandbox/containers/0/image', value: 'nginx:1.28' }],
    });
    // The provider has seen the change once its Paused condition names the new generation.
    await eventually(
      async () => paused(await get('web-0'))?.observedGeneration === changed.metadata.generation,
      'the change observed while paused',
    );
    await c.delete(INSTANCE, 'web-0', NS);
    const deleting = await eventually(async () => {
      const i = await get('web-0');
      return /deletion waits/.test(paused(i)?.message ?? '') ? i : undefined;
    }, 'the deletion observed while paused');
    assert.ok(deleting.metadata.finalizers?.includes('infra.provider-ts.io/provider'), 'finalizer held');
    assert.equal(callsFor(id), before, 'no backend call while paused');
    const gauge = await mgr.metrics.registry.getSingleMetricAsString('datum_provider_paused_objects');
    assert.match(gauge, /datum_provider_paused_objects\{kind="Instance"\} 1/);

    await c.patch(INSTANCE, 'web-0', NS, {
      type: 'merge',
      patch: { metadata: { annotations: { [PAUSED_ANNOTATION]: null } } },
    });
    await eventually(
      async () =>
        get('web-0').then(
          () => false,
          (e) => isNotFound(e),
        ),
      'deleted once resumed',
    );
    assert.ok(callsFor(id) > before, 'backend calls resumed');
    assert.equal(backend.snapshot().instances.filter((i) => i.id === id).length, 0, 'backend instance gone');
  });

  it('a paused ProviderConfig holds new Instances of its Locations until unpaused', async () => {
    const c = cp.client();
    await c.patch(PROVIDER_CONFIG, 'default', undefined, {
      type: 'merge',
      patch: { spec: { paused: true } },
    });
    // The resolver reads ProviderConfigs through a watch: create the Instance once it is seen as paused.
    await eventually(
      async () => (await provider.context.resolver.get('default'))?.spec.paused === true,
      'the provider sees the ProviderConfig paused',
    );
    const inst = await createInstance(c, { name: 'web-1', namespace: NS, location: where });
    const held = await eventually(async () => {
      const i = await get('web-1');
      return /ProviderConfig default/.test(paused(i)?.message ?? '') ? i : undefined;
    }, 'Paused by the ProviderConfig');
    assert.equal(callsFor(instanceId(inst)), 0, 'nothing created while paused');
    assert.notEqual(condOf(held, 'Programmed')?.status, 'True');
    await c.patch(PROVIDER_CONFIG, 'default', undefined, {
      type: 'merge',
      patch: { spec: { paused: false } },
    });
    const resumed = await eventually(
      async () => {
        const i = await get('web-1');
        return condOf(i, 'Programmed')?.status === 'True' ? i : undefined;
      },
      'Programmed after unpausing',
      60_000,
    );
    assert.equal(paused(resumed)?.status, 'False');
    assert.equal(paused(resumed)?.reason, 'Resumed');
  });

  it('deletion policy Retain releases the platform resource and lets the object go; a bad policy holds it', async () => {
    const c = cp.client();
    const kept = await createInstance(c, { name: 'keep-0', namespace: NS, location: where });
    const odd = await createInstance(c, { name: 'odd-0', namespace: NS, location: where });
    for (const [name, policy] of [
      ['keep-0', 'Retain'],
      ['odd-0', 'Keep-it-please'],
    ])
      await c.patch(INSTANCE, name!, NS, {
        type: 'merge',
        patch: { metadata: { annotations: { [DELETION_POLICY_ANNOTATION]: policy } } },
      });
    for (const name of ['keep-0', 'odd-0'])
      await eventually(
        async () => condOf(await get(name), 'Programmed')?.status === 'True',
        `${name} Programmed`,
      );
    const providerId = backend.snapshot().instances.find((i) => i.id === instanceId(kept))!.providerId;
    await c.delete(INSTANCE, 'keep-0', NS);
    await c.delete(INSTANCE, 'odd-0', NS);
    await eventually(
      async () =>
        get('keep-0').then(
          () => false,
          (e) => isNotFound(e),
        ),
      'keep-0 deleted',
    );
    assert.deepEqual(backend.retained, [{ kind: 'instance', id: instanceId(kept), providerId }]);
    assert.equal(
      backend.calls.filter((x) => x.op === 'deleteInstance' && x.id === instanceId(kept)).length,
      0,
      'never deleted on the platform',
    );
    const events = (await c.list(EVENT_RESOURCE, { namespace: NS })).items;
    assert.ok(events.some((e) => e.reason === 'Retained' && String(e.message).includes(providerId)));
    const held = await eventually(
      async () =>
        (await c.list(EVENT_RESOURCE, { namespace: NS })).items.some(
          (e) => e.reason === 'InvalidDeletionPolicy',
        )
          ? get('odd-0')
          : undefined,
      'odd-0 says why its deletion waits',
    );
    assert.ok(held.metadata.finalizers?.includes('infra.provider-ts.io/provider'), 'finalizer held');
    assert.equal(
      backend.snapshot().instances.filter((i) => i.id === instanceId(odd)).length,
      1,
      'still there',
    );
    await c.patch(INSTANCE, 'odd-0', NS, {
      type: 'merge',
      patch: { metadata: { annotations: { [DELETION_POLICY_ANNOTATION]: 'Delete' } } },
    });
    await eventually(
      async () =>
        get('odd-0').then(
          () => false,
          (e) => isNotFound(e),
        ),
      'odd-0 deleted once fixed',
    );
    assert.equal(backend.snapshot().instances.filter((i) => i.id === instanceId(odd)).length, 0);
  });
});
