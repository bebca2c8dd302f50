/**
 * Deletion policy Retain and what it leaves behind, on moto through the real SDK (backend level):
 * - released: the instance, its security group (marked `datum.net/released-by`) and its SSM parameters
 *   (kept, untagged, marked with the instance that reads them, and named in `released`, so in the Retained
 *   Event); deleted when that instance, adopted back, is terminated by the adopter's deletion; a parameter
 *   released with another instance stays;
 * - adopted back by another Instance: the released group, detached by the adoption, is deleted; a group a
 *   person made and one another installation released, attached to the same interface, are detached but
 *   never deleted;
 * - network teardown: waits with an error naming the groups that are not ours (never deletes them), deletes
 *   a group released with an instance that is gone since, and once the person's groups are gone leaves no
 *   security group in the VPC (DescribeSecurityGroups, read from moto directly);
 * - the emulator refuses DeleteVpc while a non-default group is in the VPC, as EC2 does.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CreateSecurityGroupCommand,
  CreateVpcCommand,
  DeleteSecurityGroupCommand,
  DeleteVpcCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeVpcsCommand,
  type Instance,
  ModifyNetworkInterfaceAttributeCommand,
  type Tag,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { GetParametersByPathCommand, ListTagsForResourceCommand, SSMClient } from '@aws-sdk/client-ssm';
import { TAG_MANAGED_BY } from '../../src/backends/aws/index.ts';
import { BackendError } from '../../src/datum/backend.ts';
import { type Ec2Emulator, startEc2Emulator } from '../../src/localenv/emulators/moto/index.ts';
import {
  ensureBase,
  type Harness,
  harness,
  INSTANCE_PROFILE,
  instance,
  network,
  untilGone,
  vmRuntime,
} from './aws-fixtures.ts';

const RELEASED_BY = 'datum.net/released-by';
const RELEASED_WITH = 'datum.net/released-with';
const tagsOf = (tags: Tag[] | undefined) => Object.fromEntries((tags ?? []).map((t) => [t.Key, t.Value]));

describe('aws: deletion policy Retain leaves nothing only we could clean up', () => {
  let emu: Ec2Emulator;
  let h: Harness;
  let ssm: SSMClient;

  before(async () => {
    emu = await startEc2Emulator();
    await emu.createInstanceProfile(INSTANCE_PROFILE);
    h = harness(emu);
    ssm = new SSMClient({
      region: emu.region,
      endpoint: emu.motoEndpoint,
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
  });

  after(async () => {
    await h?.backend.close();
    await emu?.stop();
  });

  const ec2Of = async (id: string): Promise<Instance> =>
    (await h.moto.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0]!.Instances![0]!;
  const groupsIn = async (vpcId: string) =>
    (await h.moto.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] })))
      .SecurityGroups ?? [];
  const groupIds = async (vpcId: string) =>
    (await groupsIn(vpcId))
      .filter((g) => g.GroupName !== 'default')
      .map((g) => g.GroupId!)
      .sort();
  const personGroup = async (vpcId: string, name: string, tags: Tag[] = []) =>
    (
      await h.moto.send(
        new CreateSecurityGroupCommand({
          VpcId: vpcId,
          GroupName: name,
          Description: 'made by a person',
          TagSpecifications: tags.length ? [{ ResourceType: 'security-group', Tags: tags }] : undefined,
        }),
      )
    ).GroupId!;

  it('the emulator refuses DeleteVpc while a non-default security group is in it', async () => {
    const vpc = (await h.moto.send(new CreateVpcCommand({ CidrBlock: '10.9.0.0/16' }))).Vpc!.VpcId!;
    const sg = await personGroup(vpc, 'blocker');
    const raw = new (await import('@aws-sdk/client-ec2')).EC2Client({
      region: emu.region,
      endpoint: emu.endpoint,
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      maxAttempts: 1,
    });
    await assert.rejects(raw.send(new DeleteVpcCommand({ VpcId: vpc })), { name: 'DependencyViolation' });
    await h.moto.send(new DeleteSecurityGroupCommand({ GroupId: sg }));
    await raw.send(new DeleteVpcCommand({ VpcId: vpc }));
    raw.destroy();
  });

  it('Retain → adopt → delete: the released group goes, groups that are not ours stay, then the VPC is empty', async () => {
    await ensureBase(h);
    const secretFile = {
      path: '/etc/app/token',
      data: Buffer.from('s3cret-token').toString('base64'),
      sensitive: true,
    };
    const kept = instance('kept-1', { runtime: vmRuntime([secretFile]) });
    const gone = instance('gone-1', { runtime: vmRuntime([secretFile]) });
    const keptEc2 = (await h.backend.ensureInstance(h.ctx, kept)).providerId;
    const goneEc2 = (await h.backend.ensureInstance(h.ctx, gone)).providerId;
    const vpcId = (await ec2Of(keptEc2)).VpcId!;
    const nic = (await ec2Of(keptEc2)).NetworkInterfaces![0]!;
    const keptGroup = nic.Groups![0]!.GroupId!;
    const goneGroup = (await ec2Of(goneEc2)).NetworkInterfaces![0]!.Groups![0]!.GroupId!;
    const params = async (id = 'kept-1') =>
      (
        await ssm.send(new GetParametersByPathCommand({ Path: `/datum-provider/${id}`, Recursive: true }))
      ).Parameters?.map((p) => p.Name!) ?? [];
    const [param] = await params();
    const goneParams = await params('gone-1');
    assert.equal(goneParams.length, 1);
    assert.ok(param, 'the secret file lives in an SSM parameter');
    const paramTags = async () =>
      tagsOf(
        (await ssm.send(new ListTagsForResourceCommand({ ResourceType: 'Parameter', ResourceId: param })))
          .TagList,
      );
    assert.equal((await paramTags())[TAG_MANAGED_BY], h.managedBy, 'tagged as ours while managed');

    // Retain: instance, group and parameter are released; the parameter is kept (read at every boot).
    const { released } = await h.backend.release(h.ctx, 'instance', kept.id);
    for (const r of [keptEc2, keptGroup, param!])
      assert.ok(released.includes(r), `${r} is named in what Retain left (the Retained Event): ${released}`);
    const keptGroupTags = tagsOf(
      (await h.moto.send(new DescribeSecurityGroupsCommand({ GroupIds: [keptGroup] }))).SecurityGroups?.[0]
        ?.Tags,
    );
    assert.equal(keptGroupTags[RELEASED_BY], h.managedBy, 'the released group carries our release mark');
    assert.equal(keptGroupTags[TAG_MANAGED_BY], undefined, 'and no managed-by tag');
    assert.deepEqual(await params(), [param], 'the parameter is kept');
    assert.equal((await paramTags())[TAG_MANAGED_BY], undefined, 'the parameter is untagged');
    assert.equal((await paramTags())[RELEASED_BY], h.managedBy, 'and marked as released by us');
    assert.equal((await paramTags())[RELEASED_WITH], keptEc2, 'with the instance that reads it');
    assert.equal((await ec2Of(keptEc2)).State?.Name, 'running');
    assert.deepEqual(
      await h.backend.release(h.ctx, 'instance', kept.id),
      { released: [param!] },
      'a repeated release changes nothing and still names the kept parameter',
    );
    // gone-1 is released too, then its instance terminated by its new owner: its group has no user left.
    const goneReleased = (await h.backend.release(h.ctx, 'instance', gone.id)).released;
    assert.ok(goneReleased.includes(goneParams[0]!), 'gone-1 parameter named too');
    await h.moto.send(new TerminateInstancesCommand({ InstanceIds: [goneEc2] }));

    // Someone adds their own group and one another installation released to the kept instance.
    const personal = await personGroup(vpcId, 'ops-debug');
    const foreign = await personGroup(vpcId, 'datum-0123456789abcdef0123-0', [
      { Key: RELEASED_BY, Value: 'another-installation' },
    ]);
    await h.moto.send(
      new ModifyNetworkInterfaceAttributeCommand({
        NetworkInterfaceId: nic.NetworkInterfaceId,
        Groups: [keptGroup, personal, foreign],
      }),
    );

    // Adopted back by another Instance: its own group replaces all three; only ours (released) is deleted.
    const adopter = instance('adopter-1');
    await h.backend.adoptInstance!(h.ctx, keptEc2, adopter);
    const obs = await h.backend.ensureInstance(h.ctx, adopter);
    assert.equal(obs.providerId, keptEc2, 'the same EC2 instance');
    const adopterGroups = (await ec2Of(keptEc2)).NetworkInterfaces![0]!.Groups!.map((g) => g.GroupId!);
    assert.equal(adopterGroups.length, 1);
    assert.ok(![keptGroup, personal, foreign].includes(adopterGroups[0]!), 'our new group on the interface');
    const left = await groupIds(vpcId);
    assert.ok(!left.includes(keptGroup), `the released group ${keptGroup} is deleted once detached`);
    assert.ok(
      left.includes(personal) && left.includes(foreign),
      'groups that are not ours are never deleted',
    );

    // The adopter goes (policy Delete) and takes the instance: the parameter released with it has no reader
    // left and goes too; gone-1's (its instance terminated by someone else) stays, for its owner to delete.
    await untilGone(() => h.backend.deleteInstance(h.ctx, adopter.id), 20);
    assert.deepEqual(await params(), [], 'the parameter released with the terminated instance is deleted');
    assert.deepEqual(await params('gone-1'), goneParams, 'a parameter released with another instance stays');
    await untilGone(() => h.backend.deleteSubnet(h.ctx, 'sub-1'), 20);
    const blocked = await h.backend.deleteNetwork(h.ctx, network().id).then(
      () => assert.fail('the network deletion must wait for the groups that are not ours'),
      (err: unknown) => err,
    );
    assert.ok(blocked instanceof BackendError && blocked.reason === 'DependencyNotReady', String(blocked));
    assert.match(blocked.message, new RegExp(`${personal}.*${foreign}|${foreign}.*${personal}`));
    assert.ok(!blocked.message.includes(goneGroup), 'our released group is not reported: it was deleted');
    assert.deepEqual((await groupIds(vpcId)).sort(), [foreign, personal].sort(), 'only theirs are left');
    assert.equal(
      (await h.moto.send(new DescribeVpcsCommand({ VpcIds: [vpcId] }))).Vpcs?.length,
      1,
      'the VPC waits',
    );

    // Their owners delete them: the network goes, and no security group is left in the VPC.
    for (const g of [personal, foreign]) await h.moto.send(new DeleteSecurityGroupCommand({ GroupId: g }));
    await untilGone(() => h.backend.deleteNetwork(h.ctx, network().id), 5);
    assert.deepEqual(await groupIds(vpcId), [], 'no security group left in the VPC');
    const vpcs = await h.moto
      .send(new DescribeVpcsCommand({ VpcIds: [vpcId] }))
      .then((o) => o.Vpcs?.length ?? 0)
      .catch(() => 0);
    assert.equal(vpcs, 0, 'the VPC is deleted');
  });
});
