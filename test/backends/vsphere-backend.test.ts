/**
 * The vSphere backend's behaviour on vcsim beyond the faults: Retain releases without touching, installations
 * never see nor take each other's resources, a changed instance type reconfigures the VM, standard
 * portgroups, and refusals made before any call.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { VimClient } from '../../src/backends/vsphere/vim.ts';
import { arr, text } from '../../src/backends/vsphere/xml.ts';
import { startVcsim, type Vcsim } from '../../src/localenv/emulators/vcsim/index.ts';
import {
  admin,
  backendConfig,
  harness,
  instance,
  inventoryNames,
  network,
  subnet,
  vmState,
} from './vsphere-fixtures.ts';

let sim: Vcsim;
let vim: VimClient;

before(async () => {
  sim = await startVcsim();
  vim = admin(sim);
});
after(async () => {
  await vim?.logout();
  await vim?.transport.close();
  await sim?.stop();
});

describe('vsphere backend on vcsim: behaviour', () => {
  it('releases without touching (Retain), hides ours from other installations, and reconfigures a changed instance type', async () => {
    const config = backendConfig(sim, { instanceTypes: 'datumcloud/d1-large=4x16384' });
    const h = harness(sim, { config });
    const other = harness(sim, { config });
    try {
      await h.backend.ensureNetwork(h.ctx, network('keep'));
      await h.backend.ensureSubnet(h.ctx, subnet('keep-0', 'keep'));
      const d = instance('keep-vm', 'keep', 'keep-0');
      const o = await h.backend.ensureInstance(h.ctx, d);
      assert.deepEqual(
        await other.backend.listManaged(other.ctx),
        [],
        'another installation sees nothing of ours',
      );
      await assert.rejects(other.backend.ensureInstance(other.ctx, d), {
        reason: 'InvalidConfiguration',
        message: /belongs to another installation/,
      });

      const bigger = { ...d, instanceType: 'datumcloud/d1-large', templateHash: 'hash-2' };
      assert.equal((await h.backend.ensureInstance(h.ctx, bigger)).powerState, 'running');
      const [hw] = await vim.retrieve(
        [{ type: 'VirtualMachine', value: o.providerId }],
        ['config.hardware.numCPU', 'config.hardware.memoryMB', 'runtime.powerState'],
      );
      assert.equal(text(hw?.props['config.hardware.numCPU']), '4');
      assert.equal(text(hw?.props['config.hardware.memoryMB']), '16384');
      assert.equal(text(hw?.props['runtime.powerState']), 'poweredOn');

      assert.deepEqual(await h.backend.release(h.ctx, 'instance', 'keep-vm'), { released: [o.providerId] });
      assert.deepEqual((await h.backend.listManaged(h.ctx)).map((r) => `${r.kind}/${r.id}`).sort(), [
        'network/keep',
        'subnet/keep-0',
      ]);
      assert.equal(await vmState(vim, 'datum-keep-vm'), 'poweredOn', 'the released VM still runs');
      assert.deepEqual(await h.backend.release(h.ctx, 'subnet', 'keep-0'), {
        released: [`${(await h.backend.ensureNetwork(h.ctx, network('keep'))).providerId}/10.128.0.0/24`],
      });
      assert.equal((await h.backend.release(h.ctx, 'network', 'keep')).released.length, 1);
      assert.deepEqual(await h.backend.listManaged(h.ctx), []);
      assert.deepEqual(await inventoryNames(vim), ['datum-keep', 'datum-keep-vm'], 'nothing was deleted');
      assert.deepEqual(await h.backend.release(h.ctx, 'instance', 'missing'), { released: [] });
    } finally {
      await Promise.all([h.backend.close(), other.backend.close()]);
    }
  });

  it('allocates a VLAN no distributed portgroup uses, whoever owns it', async () => {
    const h = harness(sim, { config: backendConfig(sim, { vlanRange: '100-101' }) });
    try {
      // Someone else's portgroup on VLAN 100 (created straight in vcsim, unmarked).
      const dvs = await vim.findByInventoryPath('/DC0/network/DVS0');
      await vim.runTask(
        'AddDVPortgroup_Task',
        dvs!,
        '<spec><name>their-pg</name><numPorts>8</numPorts><defaultPortConfig xsi:type="VMwareDVSPortSetting">' +
          '<vlan xsi:type="VmwareDistributedVirtualSwitchVlanIdSpec"><inherited>false</inherited><vlanId>100</vlanId>' +
          '</vlan></defaultPortConfig><type>earlyBinding</type></spec>',
      );
      const n = await h.backend.ensureNetwork(h.ctx, network('vlan'));
      const [pg] = await vim.retrieve(
        [{ type: 'DistributedVirtualPortgroup', value: n.providerId }],
        ['config.defaultPortConfig'],
      );
      assert.equal(text(pg?.props['config.defaultPortConfig'].vlan.vlanId), '101');
      await assert.rejects(h.backend.ensureNetwork(h.ctx, network('vlan-2')), { reason: 'QuotaExceeded' });
      assert.deepEqual(await h.backend.deleteNetwork(h.ctx, 'vlan'), { gone: true });
    } finally {
      await h.backend.close();
    }
  });

  it('uses standard portgroups on every host of the cluster when configured', async () => {
    const h = harness(sim, { config: backendConfig(sim, { portgroupType: 'standard' }) });
    try {
      const n = await h.backend.ensureNetwork(h.ctx, network('std'));
      assert.match(n.providerId, /^network-/, 'a standard network, not a distributed portgroup');
      await h.backend.ensureSubnet(h.ctx, subnet('std-0', 'std'));
      const o = await h.backend.ensureInstance(h.ctx, instance('std-vm', 'std', 'std-0'));
      assert.equal(o.powerState, 'running');
      // (vcsim keeps no host or VM list on standard networks, so "on every host" is not observable here.)
      const [vm] = await vim.retrieve([{ type: 'VirtualMachine', value: o.providerId }], ['network']);
      assert.equal(text(vm?.props.network.ManagedObjectReference), n.providerId, 'the VM’s NIC is on it');
      assert.deepEqual((await h.backend.listManaged(h.ctx)).map((r) => `${r.kind}/${r.id}`).sort(), [
        'instance/std-vm',
        'network/std',
        'subnet/std-0',
      ]);
      await assert.rejects(h.backend.deleteNetwork(h.ctx, 'std'), { reason: 'DependencyNotReady' });
      await h.backend.deleteInstance(h.ctx, 'std-vm');
      await h.backend.deleteSubnet(h.ctx, 'std-0');
      assert.deepEqual(await h.backend.deleteNetwork(h.ctx, 'std'), { gone: true });
      assert.deepEqual(await inventoryNames(vim, 'datum-std'), []);
    } finally {
      await h.backend.close();
    }
  });

  it('logs its session out on close', async () => {
    const sessions = async () => {
      const sc = await vim.serviceContent();
      const [sm] = await vim.retrieve([sc.sessionManager], ['sessionList']);
      return arr(sm?.props.sessionList?.UserSession).length;
    };
    const h = harness(sim);
    const before = await sessions();
    await h.backend.listManaged(h.ctx);
    assert.equal(await sessions(), before + 1);
    await h.backend.close();
    assert.equal(await sessions(), before, 'no session left behind');
  });

  it('refuses sandboxes and secret files with Unsupported, before any call', async () => {
    const h = harness(sim);
    try {
      const sandbox = { ...instance('sb', 'n', 's'), runtime: { kind: 'sandbox' as const, containers: [] } };
      await assert.rejects(h.backend.ensureInstance(h.ctx, sandbox), { reason: 'Unsupported' });
      const secretFile = instance('sf', 'n', 's');
      if (secretFile.runtime.kind === 'virtualMachine')
        secretFile.runtime.files.push({ path: '/etc/token', data: 'c2VjcmV0', sensitive: true });
      await assert.rejects(h.backend.ensureInstance(h.ctx, secretFile), {
        reason: 'Unsupported',
        message: /\/etc\/token comes from a Secret/,
      });
      assert.deepEqual(h.backend.capabilities().runtimes, ['virtualMachine']);
      assert.equal(h.backend.capabilities().features.includes('networkPolicy'), false);
    } finally {
      await h.backend.close();
    }
  });
});
