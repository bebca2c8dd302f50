/**
 * Adopt, ObserveOnly and plan on EC2 (moto), through the provider against a real API server:
 * - adopt: a hand-launched instance with the desired type, image and subnet gets our ownership tags, our
 *   security group and the launch-spec tag, and no second instance is launched; one of another type is
 *   kept (never replaced) and the condition names the difference; one tagged by another installation is
 *   refused with AdoptionConflict and its tags stay as they were;
 * - ObserveOnly reports the instance as it runs and leaves its tags and state alone;
 * - plan (the same code as `datum-provider plan`) says create before, nothing to do after converging.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  EC2Client,
  type Instance as Ec2Instance,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { createAwsBackend } from '../../src/backends/aws/index.ts';
import { INSTANCE, SUBNET } from '../../src/datum/api/resources.ts';
import type { Subnet } from '../../src/datum/api/types.ts';
import type { Backend } from '../../src/datum/backend.ts';
import { subnetId } from '../../src/datum/reconcilers/common.ts';
import { instanceId } from '../../src/datum/reconcilers/instance-desired.ts';
import { ADOPT_ANNOTATION, MANAGEMENT_POLICY_ANNOTATION } from '../../src/datum/reconcilers/management.ts';
import { PAUSED_ANNOTATION, PAUSED_CONDITION } from '../../src/datum/reconcilers/pause.ts';
import { defaultSettings } from '../../src/datum/settings.ts';
import type { ControlPlane } from '../../src/localenv/controlplane.ts';
import { type Ec2Emulator, startEc2Emulator } from '../../src/localenv/emulators/moto/index.ts';
import type { Manager } from '../../src/runtime/manager/manager.ts';
import { seedProject } from '../../src/testkit/contract/fixtures.ts';
import { instanceDriver } from '../../src/testkit/contract/instance-driver.ts';
import { startProviderUnderTest } from '../../src/testkit/contract/provider-under-test.ts';
import { condOf, eventually } from '../../src/testkit/contract/suite.ts';

const NS = 'project-a';
const AMI = 'ami-0fedcba9876543210';
const settings = { ...defaultSettings(), sweepIntervalSeconds: 3600 };

describe('aws: adopt, ObserveOnly and plan', () => {
  let emu: Ec2Emulator;
  let cp: ControlPlane;
  let mgr: Manager;
  let ec2: EC2Client;
  let backend: Backend;
  let subnet: string;
  let where: { name: string; namespace: string };

  before(async () => {
    emu = await startEc2Emulator({ pendingDescribes: 1 });
    backend = createAwsBackend({
      backendConfig: { endpoint: emu.endpoint, containerHostImage: `${AMI}#/dev/xvda` },
    });
    ({ cp, mgr } = await startProviderUnderTest({
      backend,
      settings,
      credentials: { accessKeyId: 'AKIDADOPT', secretAccessKey: 'adopt-secret-key' },
      region: emu.region,
    }));
    const c = cp.client();
    ec2 = new EC2Client({
      region: emu.region,
      endpoint: emu.motoEndpoint,
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    where = await seedProject(c, NS, { name: 'dfw', className: settings.locationClassName, city: 'DFW' });
    const sub = await eventually(async () => {
      const s = await c.get<Subnet>(SUBNET, 'default-project-a-dfw-0', NS);
      return condOf(s, 'Programmed')?.status === 'True' ? s : undefined;
    }, 'Subnet programmed');
    const found = await ec2.send(
      new DescribeSubnetsCommand({ Filters: [{ Name: 'tag:datum.net/id', Values: [subnetId(sub)] }] }),
    );
    subnet = found.Subnets![0]!.SubnetId!;
  });

  after(async () => {
    await mgr?.stop();
    await cp?.stop();
    await emu?.stop();
  });

  const plant = async (type = 'm6i.large', tags: Record<string, string> = {}) => {
    const out = await ec2.send(
      new RunInstancesCommand({
        ImageId: AMI,
        InstanceType: type as 'm6i.large',
        MinCount: 1,
        MaxCount: 1,
        SubnetId: subnet,
        TagSpecifications: Object.keys(tags).length
          ? [{ ResourceType: 'instance', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }]
          : undefined,
      }),
    );
    return out.Instances![0]!.InstanceId!;
  };
  const describe1 = async (id: string): Promise<Ec2Instance> =>
    (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0]!.Instances![0]!;
  const tagsOf = (i: Ec2Instance) => Object.fromEntries((i.Tags ?? []).map((t) => [t.Key, t.Value]));
  const byUid = async (uid: string) =>
    (
      await ec2.send(
        new DescribeInstancesCommand({
          Filters: [{ Name: 'tag:meta.datumapis.com/upstream-uid', Values: [uid] }],
        }),
      )
    ).Reservations?.flatMap((r) => r.Instances ?? []) ?? [];
  const { create, get, programmed, plan } = instanceDriver({
    client: () => cp.client(),
    namespace: NS,
    location: () => where,
    planWith: () => ({ settings, backend, log: mgr.log }),
  });

  it('adopts a matching instance: our tags and security group, no second launch; plan then says nothing to do', async () => {
    const planted = await plant();
    const inst = await create('adopted-0', { [ADOPT_ANNOTATION]: planted });
    const c = await programmed('adopted-0', 'True', 'Programmed');
    assert.match(c.message, new RegExp(`${planted}$`));
    const tags = tagsOf(await describe1(planted));
    assert.equal(tags['datum.net/id'], instanceId(inst));
    assert.equal(tags['datum.net/adopted'], 'true');
    assert.ok(tags['datum.net/launch-spec'], 'accepted: the launch spec is ours');
    assert.deepEqual(
      (await byUid(inst.metadata.uid!)).map((i) => i.InstanceId),
      [planted],
      'no second instance',
    );
    const groups = (await describe1(planted)).NetworkInterfaces![0]!.Groups!.map((g) => g.GroupId!);
    const sg = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: groups }));
    assert.deepEqual(
      sg.SecurityGroups!.map((g) => tagsOf(g as Ec2Instance)['datum.net/kind']),
      ['firewall'],
      'our security group replaced its own',
    );
    assert.deepEqual(await plan('adopted-0'), { action: 'none', details: [] });
  });

  it('keeps an adopted instance that differs where EC2 cannot change it, and says what differs', async () => {
    const planted = await plant('t3.micro');
    await create('adopted-1', { [ADOPT_ANNOTATION]: planted });
    const c = await programmed('adopted-1', 'False', 'Unsupported');
    assert.match(c.message, /instance type: t3\.micro → m6i\.large/);
    assert.equal((await describe1(planted)).State?.Name, 'running', 'never replaced');
  });

  it('refuses an instance tagged by another installation and leaves its tags alone', async () => {
    const planted = await plant('m6i.large', {
      'datum.net/managed-by': 'someone-else',
      'datum.net/id': 'theirs',
    });
    await create('steal-0', { [ADOPT_ANNOTATION]: planted });
    const c = await programmed('steal-0', 'False', 'AdoptionConflict');
    assert.match(c.message, /another installation \(someone-else\)/);
    assert.deepEqual(tagsOf(await describe1(planted)), {
      'datum.net/managed-by': 'someone-else',
      'datum.net/id': 'theirs',
    });
  });

  it('ObserveOnly reports a running instance and changes nothing on it', async () => {
    const planted = await plant('t3.micro', { team: 'ops' });
    const inst = await create('observed-0', {
      [MANAGEMENT_POLICY_ANNOTATION]: 'ObserveOnly',
      [ADOPT_ANNOTATION]: planted,
    });
    const c = await programmed('observed-0', 'True', 'Observed');
    assert.match(c.message, new RegExp(planted));
    await eventually(async () => condOf(await get('observed-0'), 'Running')?.status === 'True', 'Running');
    const i = await get('observed-0');
    assert.ok(i.status?.networkInterfaces?.[0]?.assignments?.networkIP, 'address reported');
    assert.deepEqual(tagsOf(await describe1(planted)), { team: 'ops' }, 'tags untouched');
    assert.equal((await byUid(inst.metadata.uid!)).length, 0, 'nothing launched');
    await cp.client().delete(INSTANCE, 'observed-0', NS);
    await eventually(
      () =>
        get('observed-0').then(
          () => false,
          () => true,
        ),
      'deleted',
    );
    assert.equal((await describe1(planted)).State?.Name, 'running', 'left running');
  });

  it('plan says create before the provider applies an Instance, nothing to do after', async () => {
    await create('planned-0', { [PAUSED_ANNOTATION]: 'true' });
    await eventually(
      async () => condOf(await get('planned-0'), PAUSED_CONDITION)?.status === 'True',
      'paused',
    );
    assert.equal((await plan('planned-0')).action, 'create');
    await cp.client().patch(INSTANCE, 'planned-0', NS, {
      type: 'merge',
      patch: { metadata: { annotations: { [PAUSED_ANNOTATION]: null } } },
    });
    await programmed('planned-0', 'True', 'Programmed');
    assert.deepEqual(await plan('planned-0'), { action: 'none', details: [] });
  });
});
