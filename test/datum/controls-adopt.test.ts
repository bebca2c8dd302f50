/**
 * Adopt, ObserveOnly and plan on the in-memory backend, against a real API server:
 * - the adopt annotation takes a planted platform instance over (no second one is created); one carrying
 *   another installation's or another object's marks is refused with AdoptionConflict and left untouched;
 * - ObserveOnly reports Programmed/Running from what exists and makes no writing backend call (the backend's
 *   call log holds only observeInstance for it), also when the object is deleted;
 * - `datum-provider plan`, run as a process on the same state file, says create before, nothing after the
 *   provider converged, and names the changed field of a pending change.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { InMemoryBackend } from '../../src/backends/inmemory/backend.ts';
import { INSTANCE, SECRET } from '../../src/datum/api/resources.ts';
import type { Instance } from '../../src/datum/api/types.ts';
import { registerProvider } from '../../src/datum/provider.ts';
import { PROVIDER_CONFIG } from '../../src/datum/providerconfig.ts';
import { instanceId } from '../../src/datum/reconcilers/instance-desired.ts';
import { ADOPT_ANNOTATION, MANAGEMENT_POLICY_ANNOTATION } from '../../src/datum/reconcilers/management.ts';
import { PAUSED_ANNOTATION, PAUSED_CONDITION } from '../../src/datum/reconcilers/pause.ts';
import { defaultSettings } from '../../src/datum/settings.ts';
import { ControlPlane, DATUM_CRDS } from '../../src/localenv/controlplane.ts';
import { isNotFound } from '../../src/runtime/client/errors.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';
import { Manager } from '../../src/runtime/manager/manager.ts';
import { ensureNamespace, instanceObject, seedProject } from '../../src/testkit/contract/fixtures.ts';
import { condOf, eventually, OUR_CRDS } from '../../src/testkit/contract/suite.ts';

const NS = 'project-a';
const where = { name: 'dfw', namespace: NS };
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const WRITES = new Set(['ensureInstance', 'deleteInstance', 'adoptInstance', 'release']);

describe('adopt, ObserveOnly and plan (in-memory)', () => {
  let cp: ControlPlane;
  let mgr: Manager;
  const dir = mkdtempSync(join(tmpdir(), 'controls-adopt-'));
  const stateFile = join(dir, 'state.json');
  const backend = new InMemoryBackend({ latencyMs: 5, stateFile });
  const opsFor = (id: string) => backend.calls.filter((c) => c.id === id).map((c) => c.op);

  before(async () => {
    cp = await ControlPlane.start({ crdDirs: [DATUM_CRDS.compute, DATUM_CRDS.networkClassic, OUR_CRDS] });
    const c = cp.client();
    await ensureNamespace(c, 'provider-system');
    await c.create(SECRET, {
      metadata: { name: 'creds', namespace: 'provider-system' },
      stringData: { token: 'adopt-test-token-value' },
    });
    await c.create(PROVIDER_CONFIG, {
      metadata: { name: 'default' },
      spec: { credentials: { source: 'Secret', secretRef: { namespace: 'provider-system', name: 'creds' } } },
    });
    mgr = new Manager({ log: createLogger({ level: 'error', sink: () => {} }) });
    await mgr.engage('single', cp.connection);
    registerProvider(mgr, {
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
    rmSync(dir, { recursive: true, force: true });
  });

  const get = (name: string) => cp.client().get<Instance>(INSTANCE, name, NS);
  const create = (name: string, annotations: Record<string, string>, image?: string) => {
    const o = instanceObject({ name, namespace: NS, location: where, image });
    o.metadata.annotations = { ...o.metadata.annotations, ...annotations };
    return cp.client().create<Instance>(INSTANCE, o);
  };
  const programmed = (name: string, status: string, reason?: string) =>
    eventually(
      async () => {
        const c = condOf(await get(name), 'Programmed');
        return c?.status === status && (!reason || c.reason === reason) ? c : undefined;
      },
      `${name} Programmed=${status} ${reason ?? ''}`,
    );
  const gone = (name: string) =>
    eventually(
      () =>
        get(name).then(
          () => false,
          (e) => isNotFound(e),
        ),
      `${name} deleted`,
    );

  it('adopts a planted platform instance instead of creating one', async () => {
    const planted = backend.plantUnmanaged();
    const inst = await create('adopted-0', { [ADOPT_ANNOTATION]: planted });
    const c = await programmed('adopted-0', 'True', 'Programmed');
    assert.match(c.message, new RegExp(`${planted}$`));
    const mine = backend.snapshot().instances.filter((i) => i.id === instanceId(inst));
    assert.deepEqual(
      mine.map((i) => i.providerId),
      [planted],
      'the planted instance implements it, nothing else',
    );
    assert.equal(mine[0]!.desired.runtime.kind, 'sandbox');
    assert.equal(
      (mine[0]!.desired.runtime as { containers: unknown[] }).containers.length,
      1,
      'converged to the spec',
    );
    assert.deepEqual(opsFor(instanceId(inst)).slice(0, 2), ['adoptInstance', 'ensureInstance']);
  });

  it('refuses to adopt what carries another installation’s or another object’s marks, and touches nothing', async () => {
    const other = backend.plantUnmanaged({ installation: 'datum-provider-someone-else' });
    const taken = backend.snapshot().instances.find((i) => i.owner.name === 'adopted-0')!.providerId;
    const a = await create('steal-0', { [ADOPT_ANNOTATION]: other });
    const b = await create('steal-1', { [ADOPT_ANNOTATION]: taken });
    for (const name of ['steal-0', 'steal-1']) {
      const c = await programmed(name, 'False', 'AdoptionConflict');
      assert.match(c.message, /not adopting it/);
    }
    const snap = backend.snapshot();
    for (const inst of [a, b]) {
      assert.equal(snap.instances.filter((i) => i.id === instanceId(inst)).length, 0, 'nothing created');
      assert.ok(!opsFor(instanceId(inst)).includes('ensureInstance'), 'never ensured');
    }
    assert.equal(snap.instances.find((i) => i.providerId === taken)?.owner.name, 'adopted-0', 'not stolen');
  });

  it('ObserveOnly reports what exists and never writes, also on deletion', async () => {
    const planted = backend.plantUnmanaged();
    const seen = await create('observed-0', {
      [MANAGEMENT_POLICY_ANNOTATION]: 'ObserveOnly',
      [ADOPT_ANNOTATION]: planted,
    });
    const missing = await create('observed-1', { [MANAGEMENT_POLICY_ANNOTATION]: 'ObserveOnly' });
    const c = await programmed('observed-0', 'True', 'Observed');
    assert.match(c.message, new RegExp(planted));
    assert.equal(condOf(await get('observed-0'), 'Running')?.status, 'True');
    const m = await programmed('observed-1', 'False', 'NotFound');
    assert.match(m.message, /creates nothing/);
    await cp.client().delete(INSTANCE, 'observed-0', NS);
    await cp.client().delete(INSTANCE, 'observed-1', NS);
    await gone('observed-0');
    await gone('observed-1');
    for (const inst of [seen, missing]) {
      const ops = opsFor(instanceId(inst));
      assert.ok(ops.includes('observeInstance'), 'observed');
      assert.deepEqual(
        ops.filter((op) => WRITES.has(op)),
        [],
        `no writing call for ${inst.metadata.name}`,
      );
    }
    assert.equal(
      backend.snapshot().instances.filter((i) => i.providerId === planted).length,
      0,
      'still not managed',
    );
  });

  it('switching from ObserveOnly to Full adopts the observed instance instead of creating one', async () => {
    const planted = backend.plantUnmanaged();
    const inst = await create('switch-0', {
      [MANAGEMENT_POLICY_ANNOTATION]: 'ObserveOnly',
      [ADOPT_ANNOTATION]: planted,
    });
    await programmed('switch-0', 'True', 'Observed');
    await cp.client().patch(INSTANCE, 'switch-0', NS, {
      type: 'merge',
      patch: { metadata: { annotations: { [MANAGEMENT_POLICY_ANNOTATION]: null } } },
    });
    await programmed('switch-0', 'True', 'Programmed');
    assert.deepEqual(
      backend
        .snapshot()
        .instances.filter((i) => i.id === instanceId(inst))
        .map((i) => i.providerId),
      [planted],
    );
  });

  const plan = async (name: string) => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        MAIN,
        'plan',
        '--kubeconfig',
        cp.kubeconfigPath,
        '--backend',
        'inmemory',
        '--namespace',
        NS,
        '--name',
        name,
      ],
      { env: { ...process.env, DATUM_BACKEND_CONFIG: JSON.stringify({ stateFile }) }, timeout: 30_000 },
    );
    return stdout;
  };
  const pause = (name: string, on: boolean) =>
    cp.client().patch(INSTANCE, name, NS, {
      type: 'merge',
      patch: { metadata: { annotations: { [PAUSED_ANNOTATION]: on ? 'true' : null } } },
    });

  it('datum-provider plan: create before, nothing after converging, the changed field of a pending change', async () => {
    const inst = await create('planned-0', { [PAUSED_ANNOTATION]: 'true' });
    await eventually(
      async () => condOf(await get('planned-0'), PAUSED_CONDITION)?.status === 'True',
      'paused',
    );
    assert.match(await plan('planned-0'), new RegExp(`Instance ${NS}/planned-0: create\\n`));
    assert.ok(!opsFor(instanceId(inst)).includes('ensureInstance'), 'plan created nothing');
    await pause('planned-0', false);
    await programmed('planned-0', 'True', 'Programmed');
    assert.match(await plan('planned-0'), new RegExp(`Instance ${NS}/planned-0: nothing to do\\n`));
    await pause('planned-0', true);
    await eventually(
      async () => condOf(await get('planned-0'), PAUSED_CONDITION)?.status === 'True',
      'paused',
    );
    await cp.client().patch(INSTANCE, 'planned-0', NS, {
      type: 'json',
      patch: [{ op: 'replace', path: '/spec/runtime/sandbox/containers/0/image', value: 'nginx:1.28' }],
    });
    assert.match(
      await plan('planned-0'),
      new RegExp(`Instance ${NS}/planned-0: update\\n +container app image: nginx:1.27 → nginx:1.28`),
    );
  });
});
