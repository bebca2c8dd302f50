/**
 * Adopt, ObserveOnly and plan on vSphere (vcsim), through the provider against a real API server, and at the
 * backend where the SOAP requests are counted:
 * - a VM left behind by deletion policy Retain (unmarked) is taken over by another Instance with the adopt
 *   annotation (its marks written, no second VM); a second adopter gets AdoptionConflict and writes nothing;
 *   an ObserveOnly Instance reports it and its deletion leaves it alone; plan says nothing to do; deleting
 *   the adopter deletes it;
 * - observe and plan send no mutating request (the backend's own request log, per SOAP method);
 * - adopt is idempotent, refuses another installation's VM, says NotFound for a missing one, and a VM on
 *   another network is kept, never replaced, with the difference named.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { VsphereBackend } from '../../src/backends/vsphere/index.ts';
import { customValues, type VimClient } from '../../src/backends/vsphere/vim.ts';
import { text } from '../../src/backends/vsphere/xml.ts';
import { INSTANCE } from '../../src/datum/api/resources.ts';
import type { InstanceDesired } from '../../src/datum/backend.ts';
import { DELETION_POLICY_ANNOTATION } from '../../src/datum/reconcilers/deletion-policy.ts';
import { ADOPT_ANNOTATION, MANAGEMENT_POLICY_ANNOTATION } from '../../src/datum/reconcilers/management.ts';
import { defaultSettings } from '../../src/datum/settings.ts';
import type { ControlPlane } from '../../src/localenv/controlplane.ts';
import { startVcsim, type Vcsim } from '../../src/localenv/emulators/vcsim/index.ts';
import type { Manager } from '../../src/runtime/manager/manager.ts';
import { seedProject } from '../../src/testkit/contract/fixtures.ts';
import { instanceDriver } from '../../src/testkit/contract/instance-driver.ts';
import { startProviderUnderTest } from '../../src/testkit/contract/provider-under-test.ts';
import { condOf, eventually } from '../../src/testkit/contract/suite.ts';
import {
  admin,
  backendConfig,
  harness,
  instance,
  inventoryNames,
  network,
  subnet,
} from './vsphere-fixtures.ts';

const NS = 'project-v';
const settings = { ...defaultSettings(), sweepIntervalSeconds: 3600 };
/** What observe and plan may send: session, property reads, inventory lookups, views (session-scoped). */
const READ_ONLY = new Set([
  'RetrieveServiceContent',
  'Login',
  'Logout',
  'RetrievePropertiesEx',
  'ContinueRetrievePropertiesEx',
  'FindByInventoryPath',
  'CreateContainerView',
  'DestroyView',
]);

let sim: Vcsim;
let vim: VimClient;

before(async () => {
  sim = await startVcsim({ methodDelayMs: { CloneVm: 200, PowerOn: 100, Destroy: 100, LockHandoff: 0 } });
  vim = admin(sim);
});
after(async () => {
  await vim?.logout();
  await vim?.transport.close();
  await sim?.stop();
});

/** A VM's custom attribute values (all keys), as vcsim holds them. */
async function marksOf(providerId: string): Promise<string[]> {
  const [o] = await vim.retrieve([{ type: 'VirtualMachine', value: providerId }], ['customValue']);
  return [...customValues(o?.props.customValue).values()].filter((v) => v !== '');
}
async function exists(providerId: string): Promise<boolean> {
  const [o] = await vim.retrieve([{ type: 'VirtualMachine', value: providerId }], ['name']).catch(() => []);
  return !!text(o?.props.name);
}

describe('vsphere: adopt, ObserveOnly and plan through the provider', () => {
  let cp: ControlPlane;
  let mgr: Manager;
  let backend: VsphereBackend;
  let where: { name: string; namespace: string };

  before(async () => {
    backend = new VsphereBackend({ config: backendConfig(sim) });
    ({ cp, mgr } = await startProviderUnderTest({
      backend,
      settings,
      credentials: { username: sim.username, password: sim.password },
    }));
    const c = cp.client();
    where = await seedProject(c, NS, { name: 'dfw', className: settings.locationClassName, city: 'DFW' });
  });
  after(async () => {
    await mgr?.stop();
    await backend?.close();
    await cp?.stop();
  });

  const {
    create,
    get,
    programmed,
    deleted: remove,
    plan,
  } = instanceDriver({
    client: () => cp.client(),
    namespace: NS,
    location: () => where,
    fixture: { runtime: 'virtualMachine', networkPolicy: false },
    planWith: () => ({ settings, backend, log: mgr.log }),
  });

  it('a retained VM is adopted (no second VM), a second adopter conflicts, ObserveOnly reports it, deleting the adopter deletes it', async () => {
    await create('kept');
    const kept = await programmed('kept', 'True', 'Programmed');
    const vm = /as (\S+)$/.exec(kept.message)?.[1] ?? '';
    assert.match(vm, /^vm-\d+$/);
    assert.deepEqual(
      await plan('kept'),
      { action: 'none', details: [] },
      'plan: nothing to do once converged',
    );
    await cp.client().patch(INSTANCE, 'kept', NS, {
      type: 'merge',
      patch: { metadata: { annotations: { [DELETION_POLICY_ANNOTATION]: 'Retain' } } },
    });
    await remove('kept');
    assert.equal(await exists(vm), true, 'Retain left the VM');
    assert.deepEqual(await marksOf(vm), [], 'released: no marks left');
    const names = await inventoryNames(vim);

    const adopter = await create('adopter', { [ADOPT_ANNOTATION]: vm });
    const c = await programmed('adopter', 'True', 'Programmed');
    assert.match(c.message, new RegExp(`as ${vm}$`));
    assert.deepEqual(await inventoryNames(vim), names, 'no second VM');
    const marks = await marksOf(vm);
    assert.ok(
      marks.some((m) => m.includes(adopter.metadata.uid!) && m.includes('"adopted":true')),
      'our mark, naming the adopter',
    );
    assert.deepEqual(await plan('adopter'), { action: 'none', details: [] });

    await create('adopter-2', { [ADOPT_ANNOTATION]: vm });
    const conflict = await programmed('adopter-2', 'False', 'AdoptionConflict');
    assert.match(conflict.message, /managed by Instance project-v\/adopter/);
    assert.deepEqual(await marksOf(vm), marks, 'the conflict wrote nothing');

    await create('observer', { [MANAGEMENT_POLICY_ANNOTATION]: 'ObserveOnly', [ADOPT_ANNOTATION]: vm });
    const observed = await programmed('observer', 'True', 'Observed');
    assert.match(observed.message, new RegExp(vm));
    // Running, as vcsim reports the VM (no address: vcsim runs no guest to report one, and its clone dropped the
    // annotation that recorded the assigned one).
    await eventually(async () => condOf(await get('observer'), 'Running')?.status === 'True', 'Running');
    await remove('observer');
    await remove('adopter-2');
    assert.equal(await exists(vm), true, 'ObserveOnly and the conflicted Instance left it alone');
    assert.deepEqual(await marksOf(vm), marks);

    await remove('adopter');
    assert.equal(await exists(vm), false, 'deleting the adopter deleted the VM');
  });
});

describe('vsphere: the controls at the backend', () => {
  const withType = (d: InstanceDesired, instanceType: string, hash: string): InstanceDesired => ({
    ...d,
    instanceType,
    templateHash: hash,
  });

  it('observe and plan send only reads; plan names each change without values', async () => {
    const config = backendConfig(sim, { instanceTypes: 'datumcloud/d1-standard-4=4x16384' });
    const h = harness(sim, { config });
    const reader = harness(sim, { config });
    reader.ctx.installation = h.ctx.installation;
    try {
      await h.backend.ensureNetwork(h.ctx, network('ro'));
      await h.backend.ensureSubnet(h.ctx, subnet('ro-0', 'ro'));
      const d = instance('ro-vm', 'ro', 'ro-0');
      const o = await h.backend.ensureInstance(h.ctx, d);

      const seen = await reader.backend.observeInstance(reader.ctx, { id: 'ro-vm' });
      assert.deepEqual(seen, { ...o, upToDate: false });
      const byRef = await reader.backend.observeInstance(reader.ctx, { id: 'x', providerId: o.providerId });
      assert.equal(byRef?.providerId, o.providerId);
      assert.equal(await reader.backend.observeInstance(reader.ctx, { id: 'nothing' }), undefined);
      assert.equal(
        await reader.backend.observeInstance(reader.ctx, { id: 'x', providerId: 'vm-424242' }),
        undefined,
      );
      assert.deepEqual(await reader.backend.planInstance(reader.ctx, d), { action: 'none', changes: [] });
      assert.deepEqual(await reader.backend.planInstance(reader.ctx, instance('nothing', 'ro', 'ro-0')), {
        action: 'create',
        changes: [],
      });
      const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIsecretish new@example';
      const changed = await reader.backend.planInstance(reader.ctx, {
        ...withType(d, 'datumcloud/d1-standard-4', 'hash-2'),
        sshKeys: [{ user: 'ops', key }],
      });
      // Compared with what the VM has. vcsim v0.46.0 drops a clone spec's config (CPU, memory, extraConfig:
      // its CloneVM_Task copies them into a copy of the spec), so its clones keep the template's hardware.
      const [hw] = await vim.retrieve(
        [{ type: 'VirtualMachine', value: o.providerId }],
        ['config.hardware.numCPU', 'config.hardware.memoryMB', 'config.extraConfig'],
      );
      const hasMetadata = JSON.stringify(hw?.props['config.extraConfig'] ?? '').includes(
        'guestinfo.metadata',
      );
      assert.deepEqual(changed, {
        action: 'update',
        changes: [
          `cpus: ${text(hw?.props['config.hardware.numCPU'])} → 4`,
          `memory: ${text(hw?.props['config.hardware.memoryMB'])} MiB → 16384 MiB`,
          'power: off to resize, then on again',
          'cloud-init user data (ssh keys, files): changed',
          ...(hasMetadata ? [] : ['cloud-init metadata: changed']),
        ],
      });
      assert.equal(JSON.stringify(changed).includes('AAAAIsecretish'), false, 'no value printed');
      const sent = [...reader.backend.calls.keys()];
      assert.deepEqual(
        sent.filter((op) => !READ_ONLY.has(op)),
        [],
        `observe and plan sent only reads: ${sent.join(', ')}`,
      );
      assert.ok(sent.includes('RetrievePropertiesEx'), 'the request log saw the reads');

      // The plan was right: ensure applies exactly that, then plan has nothing left.
      await h.backend.ensureInstance(h.ctx, withType(d, 'datumcloud/d1-standard-4', 'hash-2'));
      assert.deepEqual(
        await reader.backend.planInstance(reader.ctx, withType(d, 'datumcloud/d1-standard-4', 'hash-2')),
        { action: 'none', changes: [] },
      );
      await h.backend.deleteInstance(h.ctx, 'ro-vm');
      await h.backend.deleteSubnet(h.ctx, 'ro-0');
      await h.backend.deleteNetwork(h.ctx, 'ro');
    } finally {
      await Promise.all([h.backend.close(), reader.backend.close()]);
    }
  });

  it('adopt: idempotent, NotFound when missing, AdoptionConflict for another installation, never replaces a VM on another network', async () => {
    const h = harness(sim);
    const other = harness(sim);
    try {
      await h.backend.ensureNetwork(h.ctx, network('adopt'));
      await h.backend.ensureSubnet(h.ctx, subnet('adopt-0', 'adopt'));
      const d = instance('adopt-vm', 'adopt', 'adopt-0');
      await assert.rejects(h.backend.adoptInstance(h.ctx, 'vm-424242', d), { reason: 'NotFound' });

      // vcsim's own VM: on its default network, not on our portgroup.
      const foreign = await vim.findByInventoryPath('/DC0/vm/DC0_C0_RP0_VM0');
      assert.ok(foreign);
      const r = await h.backend.adoptInstance(h.ctx, foreign.value, d);
      assert.deepEqual(r, { providerId: foreign.value });
      const writes = h.backend.calls.get('SetField');
      assert.deepEqual(await h.backend.adoptInstance(h.ctx, foreign.value, d), r);
      assert.equal(h.backend.calls.get('SetField'), writes, 'adopting again writes nothing');
      const second = await vim.findByInventoryPath('/DC0/vm/DC0_C0_RP0_VM1');
      await assert.rejects(h.backend.adoptInstance(h.ctx, second!.value, d), {
        reason: 'InvalidConfiguration',
        message: new RegExp(`already runs as ${foreign.value}`),
      });
      assert.equal(h.backend.calls.get('SetField'), writes, 'nor does a second VM for the same Instance');
      await assert.rejects(h.backend.ensureInstance(h.ctx, d), {
        reason: 'Unsupported',
        message: /adopted VM vm-\d+ differs .*network: .* → .*never replaced/,
      });
      const plan = await h.backend.planInstance(h.ctx, d);
      assert.equal(plan.action, 'update');
      assert.match(plan.changes[0] ?? '', /^network: .* \(an adopted VM is not moved/);
      assert.equal(await exists(foreign.value), true);
      assert.deepEqual(
        (await h.backend.listManaged(h.ctx)).filter((m) => m.kind === 'instance').map((m) => m.providerId),
        [foreign.value],
      );

      // Another installation cannot take it; its marks stay as they are.
      const before = await marksOf(foreign.value);
      const otherWrites = other.backend.calls.get('SetField') ?? 0;
      await assert.rejects(
        other.backend.adoptInstance(other.ctx, foreign.value, instance('theirs', 'a', 'b')),
        {
          reason: 'AdoptionConflict',
          message: new RegExp(`another installation \\(${h.installation}\\)`),
        },
      );
      assert.equal(other.backend.calls.get('SetField') ?? 0, otherWrites);
      assert.deepEqual(await marksOf(foreign.value), before);

      assert.deepEqual(await h.backend.release(h.ctx, 'instance', 'adopt-vm'), { released: [foreign.value] });
      assert.deepEqual(await marksOf(foreign.value), [], 'released again, as it was');
      await h.backend.deleteSubnet(h.ctx, 'adopt-0');
      await h.backend.deleteNetwork(h.ctx, 'adopt');
    } finally {
      await Promise.all([h.backend.close(), other.backend.close()]);
    }
  });
});
