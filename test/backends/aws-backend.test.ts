/**
 * The AWS backend end to end against moto (through the fault proxy, no faults planned here): ensure,
 * idempotence, security group convergence, secondary VPC blocks, deletion order and waiting, listManaged,
 * and "nothing of ours is left" after deleting everything.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { DescribeSecurityGroupsCommand, DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import { BackendError } from '../../src/datum/backend.ts';
import { type Ec2Emulator, startEc2Emulator } from '../../src/localenv/emulators/moto/index.ts';
import {
  ensureBase,
  type Harness,
  harness,
  INSTANCE_PROFILE,
  instance,
  network,
  owned,
  subnet,
  untilGone,
} from './aws-fixtures.ts';

let emu: Ec2Emulator;
let h: Harness;

before(async () => {
  emu = await startEc2Emulator();
});
after(async () => {
  await h?.backend.close();
  await emu?.stop();
});
beforeEach(async () => {
  await emu.reset();
  await emu.createInstanceProfile(INSTANCE_PROFILE);
  h = harness(emu);
});

describe('aws backend on moto', () => {
  it('ensures network, subnet and instance end to end, once each when called twice', async () => {
    const n1 = await h.backend.ensureNetwork(h.ctx, network());
    const n2 = await h.backend.ensureNetwork(h.ctx, network());
    assert.equal(n1.providerId, n2.providerId);
    assert.match(n1.providerId, /^vpc-/);
    assert.equal(n2.ready, true);
    const s1 = await h.backend.ensureSubnet(h.ctx, subnet());
    const s2 = await h.backend.ensureSubnet(h.ctx, subnet());
    assert.equal(s1.providerId, s2.providerId);
    assert.match(s1.providerId, /^subnet-/);
    const i1 = await h.backend.ensureInstance(h.ctx, instance());
    const i2 = await h.backend.ensureInstance(h.ctx, instance());
    assert.equal(i1.providerId, i2.providerId);
    assert.match(i1.providerId, /^i-/);
    assert.equal(i2.powerState, 'running');
    assert.equal(i2.addresses.length, 1);
    assert.match(i2.addresses[0]!.networkIP ?? '', /^10\.128\.0\.\d+$/);
    assert.ok(i2.addresses[0]!.externalIP, 'a public IP is reported');

    const o = await owned(h);
    assert.equal(o.vpcs, 1);
    assert.equal(o.subnets, 1);
    assert.equal(o.instances.length, 1);
    assert.equal(o.groups, 1);
    assert.equal(o.gateways, 1, 'an internet gateway for public IPs');
    assert.equal(emu.proxy.log.filter((e) => e.action === 'RunInstances').length, 1);
    // Tags at launch name the upstream owner.
    const tags = Object.fromEntries((o.instances[0]!.Tags ?? []).map((t) => [t.Key, t.Value]));
    assert.equal(tags['meta.datumapis.com/upstream-kind'], 'Instance');
    assert.equal(tags['meta.datumapis.com/upstream-name'], 'inst-1');
    assert.equal(tags['meta.datumapis.com/upstream-cluster-name'], 'project-a');
    assert.equal(tags['datum.net/id'], 'inst-1');
    const run = emu.proxy.log.find((e) => e.action === 'RunInstances')!;
    assert.match(run.clientToken ?? '', /^datum-[0-9a-f]{40}$/);
    assert.equal(run.params?.InstanceType, 'm6i.large');
    assert.equal(run.params?.['BlockDeviceMapping.1.Ebs.VolumeSize'], '25');
    assert.equal(run.params?.['IamInstanceProfile.Name'], INSTANCE_PROFILE);
    const userData = Buffer.from(run.params?.UserData ?? '', 'base64').toString('utf8');
    assert.match(userData, /^#cloud-config/);
    assert.match(userData, /ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample/);
  });

  it('takes the first /16 of a larger range for the VPC and associates a secondary block for a far subnet', async () => {
    await h.backend.ensureNetwork(h.ctx, network());
    const vpc = await h.moto.send(
      new DescribeVpcsCommand({ Filters: [{ Name: 'tag:datum.net/id', Values: ['net-1'] }] }),
    );
    assert.equal(vpc.Vpcs?.[0]?.CidrBlock, '10.128.0.0/16');
    await h.backend.ensureSubnet(h.ctx, subnet('sub-far', 'net-1', '10.200.4.0/24'));
    const after = await h.moto.send(new DescribeVpcsCommand({ VpcIds: [vpc.Vpcs![0]!.VpcId!] }));
    const blocks = (after.Vpcs?.[0]?.CidrBlockAssociationSet ?? []).map((a) => a.CidrBlock).sort();
    assert.deepEqual(blocks, ['10.128.0.0/16', '10.200.0.0/16']);
    await assert.rejects(
      h.backend.ensureSubnet(h.ctx, subnet('sub-out', 'net-1', '192.168.0.0/24')),
      (e: unknown) =>
        e instanceof BackendError && e.reason === 'InvalidConfiguration' && /outside/.test(e.message),
    );
    await assert.rejects(
      h.backend.ensureSubnet(h.ctx, subnet('sub-big', 'net-1', '10.130.0.0/15')),
      (e: unknown) => e instanceof BackendError && e.reason === 'InvalidConfiguration',
    );
  });

  it('converges security group rules towards the desired ingress (authorize missing, revoke extra)', async () => {
    await ensureBase(h);
    const d = instance();
    await h.backend.ensureInstance(h.ctx, d);
    const changed = instance('inst-1', {
      owner: d.owner,
      interfaces: [
        {
          networkId: 'net-1',
          subnetId: 'sub-1',
          ingress: [
            {
              ports: [
                { protocol: 'TCP', port: 443 },
                { protocol: 'UDP', port: 5000, endPort: 5010 },
              ],
              from: [{ cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] }],
            },
          ],
        },
      ],
    });
    const before = emu.proxy.log.filter((e) => e.action === 'RunInstances').length;
    await h.backend.ensureInstance(h.ctx, changed);
    const sg = await h.moto.send(
      new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'tag:datum.net/id', Values: ['inst-1'] }] }),
    );
    const perms = (sg.SecurityGroups?.[0]?.IpPermissions ?? [])
      .flatMap((p) => (p.IpRanges ?? []).map((r) => `${p.IpProtocol}:${p.FromPort}-${p.ToPort}:${r.CidrIp}`))
      .sort();
    // 10.0.0.0/8 minus 10.1.0.0/16 = 8 blocks, for 2 port rules.
    assert.equal(perms.length, 16);
    assert.ok(perms.includes('tcp:443-443:10.0.0.0/16'));
    assert.ok(perms.includes('udp:5000-5010:10.128.0.0/9'));
    assert.ok(!perms.some((p) => p.includes('10.1.0.0/16') || p.startsWith('tcp:22-22')));
    // A rule change does not relaunch the instance.
    assert.equal(emu.proxy.log.filter((e) => e.action === 'RunInstances').length, before);
    // No rules = no ingress.
    await h.backend.ensureInstance(h.ctx, {
      ...changed,
      interfaces: [{ ...changed.interfaces[0]!, ingress: [] }],
    });
    const empty = await h.moto.send(
      new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'tag:datum.net/id', Values: ['inst-1'] }] }),
    );
    assert.deepEqual(empty.SecurityGroups?.[0]?.IpPermissions ?? [], []);
  });

  it('replaces the instance when the launch spec changes (terminate, wait, relaunch with a new token)', async () => {
    await ensureBase(h);
    const d = instance();
    const first = await h.backend.ensureInstance(h.ctx, d);
    const bigger = {
      ...d,
      runtime: { ...(d.runtime as { kind: 'virtualMachine' } & typeof d.runtime), diskSizeGiB: 40 },
    };
    const during = await h.backend.ensureInstance(h.ctx, bigger);
    assert.equal(during.powerState, 'stopping');
    const next = await h.backend.ensureInstance(h.ctx, bigger);
    assert.notEqual(next.providerId, first.providerId);
    const o = await owned(h);
    assert.equal(o.instances.length, 1);
    const runs = emu.proxy.log.filter((e) => e.action === 'RunInstances');
    assert.equal(runs.length, 2);
    assert.notEqual(runs[0]!.clientToken, runs[1]!.clientToken);
  });

  it('refuses unknown instance types and images with Unsupported, before creating anything', async () => {
    await ensureBase(h);
    await assert.rejects(
      h.backend.ensureInstance(h.ctx, instance('x', { instanceType: 'datumcloud/huge' })),
      (e: unknown) =>
        e instanceof BackendError && e.reason === 'Unsupported' && /datumcloud\/huge/.test(e.message),
    );
    await assert.rejects(
      h.backend.ensureInstance(
        h.ctx,
        instance('y', {
          runtime: {
            kind: 'virtualMachine',
            image: 'datumcloud/nope',
            diskSizeGiB: 10,
            ports: [],
            files: [],
          },
        }),
      ),
      (e: unknown) => e instanceof BackendError && e.reason === 'Unsupported',
    );
    assert.equal(emu.proxy.log.filter((e) => e.action === 'RunInstances').length, 0);
  });

  it('waits on deletion order: subnet not gone while an instance is in it, network not gone while subnets remain', async () => {
    await ensureBase(h);
    await h.backend.ensureInstance(h.ctx, instance());
    assert.deepEqual(await h.backend.deleteSubnet(h.ctx, 'sub-1'), { gone: false });
    assert.deepEqual(await h.backend.deleteNetwork(h.ctx, 'net-1'), { gone: false });
    assert.equal((await owned(h)).subnets, 1, 'the subnet survived while its instance lives');
    const calls = await untilGone(() => h.backend.deleteInstance(h.ctx, 'inst-1'));
    assert.ok(calls >= 2, 'the first delete only starts termination');
    await untilGone(() => h.backend.deleteSubnet(h.ctx, 'sub-1'));
    await untilGone(() => h.backend.deleteNetwork(h.ctx, 'net-1'));
    // Idempotent: deleting again is gone at once.
    assert.deepEqual(await h.backend.deleteInstance(h.ctx, 'inst-1'), { gone: true });
    assert.deepEqual(await h.backend.deleteSubnet(h.ctx, 'sub-1'), { gone: true });
    assert.deepEqual(await h.backend.deleteNetwork(h.ctx, 'net-1'), { gone: true });
  });

  it('reports shutting-down as not gone (pending-state realism), gone once terminated', async () => {
    emu.proxy.settings.shuttingDownDescribes = 2;
    emu.proxy.settings.pendingDescribes = 1;
    await ensureBase(h);
    const launched = await h.backend.ensureInstance(h.ctx, instance());
    assert.equal(launched.powerState, 'pending');
    const d = instance();
    assert.equal((await h.backend.ensureInstance(h.ctx, d)).powerState, 'pending', 'first describe: pending');
    assert.equal((await h.backend.ensureInstance(h.ctx, d)).powerState, 'running');
    const calls = await untilGone(() => h.backend.deleteInstance(h.ctx, 'inst-1'));
    assert.equal(calls, 4, 'terminate, 2 × shutting-down, then gone');
    assert.equal(emu.proxy.log.filter((e) => e.action === 'TerminateInstances').length, 1);
  });

  it('lists every managed resource by tag, and nothing of ours is left after deleting everything', async () => {
    await ensureBase(h);
    await h.backend.ensureInstance(h.ctx, instance());
    const listed = await h.backend.listManaged(h.ctx);
    const kinds = listed.map((r) => `${r.kind}:${r.id}`).sort();
    assert.deepEqual(kinds, ['firewall:inst-1', 'instance:inst-1', 'network:net-1', 'subnet:sub-1']);
    assert.ok(listed.every((r) => r.owner.cluster === 'project-a' && r.owner.uid.length > 0));
    // Another deployment's backend sees none of it.
    const other = harness(emu);
    assert.deepEqual(await other.backend.listManaged(other.ctx), []);

    await untilGone(() => h.backend.deleteInstance(h.ctx, 'inst-1'));
    await untilGone(() => h.backend.deleteSubnet(h.ctx, 'sub-1'));
    await untilGone(() => h.backend.deleteNetwork(h.ctx, 'net-1'));
    assert.deepEqual(await owned(h), { instances: [], vpcs: 0, subnets: 0, groups: 0, gateways: 0 });
    assert.deepEqual(await h.backend.listManaged(h.ctx), []);
  });

  it('runs sandbox containers on a container host, reporting the capabilities it promises', async () => {
    const caps = h.backend.capabilities();
    assert.deepEqual(caps.runtimes, ['sandbox', 'virtualMachine']);
    assert.ok(caps.instanceTypes.includes('datumcloud/d1-standard-2'));
    assert.ok(caps.features.includes('networkPolicy') && caps.features.includes('externalIP'));
    await ensureBase(h);
    const d = instance('sb-1', {
      runtime: {
        kind: 'sandbox',
        containers: [
          {
            name: 'web',
            image: 'nginx:1.27',
            env: [{ name: 'MODE', value: 'prod', sensitive: false }],
            ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
            files: [
              {
                path: '/etc/nginx/conf.d/x.conf',
                data: Buffer.from('server {}').toString('base64'),
                sensitive: false,
              },
            ],
          },
        ],
      },
    });
    assert.equal((await h.backend.ensureInstance(h.ctx, d)).powerState, 'pending', 'as RunInstances answers');
    assert.equal((await h.backend.ensureInstance(h.ctx, d)).powerState, 'running');
    const run = emu.proxy.log.find((e) => e.action === 'RunInstances')!;
    assert.equal(run.params?.ImageId, 'ami-0fedcba9876543210');
    assert.equal(run.params?.['BlockDeviceMapping.1.DeviceName'], '/dev/xvda');
    const ud = Buffer.from(run.params!.UserData!, 'base64').toString('utf8');
    assert.match(ud, /docker run --rm --name datum-web --network host/);
    assert.match(ud, /MODE=prod/);
    assert.match(ud, /nginx:1\.27/);
  });
});
