/**
 * The provider on EC2 (moto), for what needs a real regional cloud API:
 * - where a resource was created is where it is deleted: a second ProviderConfig serves city code LHR in
 * eu-west-2; after the LHR Location is deleted, deleting the Instance, its Subnet and NetworkContext must still
 * terminate the VM and remove the VPC in eu-west-2 (not look in the default ProviderConfig's region, find
 * nothing, and let the finalizer go while the VM runs on);
 * - the orphan sweep covers every region in use, and never touches another installation's resources;
 * - an instance replacement is reported as in progress, never as the new template on the old machine.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DescribeInstancesCommand, DescribeVpcsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { createAwsBackend } from '../../src/backends/aws/index.ts';
import { INSTANCE, LOCATION, NETWORK_CONTEXT, SECRET, SUBNET } from '../../src/datum/api/resources.ts';
import type { BackendContext } from '../../src/datum/backend.ts';
import { type Provider, registerProvider } from '../../src/datum/provider.ts';
import { PROVIDER_CONFIG } from '../../src/datum/providerconfig.ts';
import { recordedPlacement } from '../../src/datum/reconcilers/placement.ts';
import { defaultSettings } from '../../src/datum/settings.ts';
import { ControlPlane, DATUM_CRDS } from '../../src/localenv/controlplane.ts';
import { type Ec2Emulator, startEc2Emulator } from '../../src/localenv/emulators/moto/index.ts';
import { isNotFound } from '../../src/runtime/client/errors.ts';
import type { KubeObject } from '../../src/runtime/client/types.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';
import { Manager } from '../../src/runtime/manager/manager.ts';
import { createInstance, ensureNamespace, seedProject } from '../../src/testkit/contract/fixtures.ts';
import { condOf, eventually, OUR_CRDS } from '../../src/testkit/contract/suite.ts';

const NS = 'project-a';
const LONDON = 'eu-west-2';

describe('aws provider on EC2: placement, sweep, replacement', () => {
  let emu: Ec2Emulator;
  let cp: ControlPlane;
  let mgr: Manager;
  let provider: Provider;
  let backendConfig: Record<string, string>;
  const logs: string[] = [];

  before(async () => {
    // Terminated instances stay `shutting-down` for a few describes, as on EC2: replacements take a while.
    emu = await startEc2Emulator({ shuttingDownDescribes: 3, pendingDescribes: 2 });
    await emu.createInstanceProfile('datum-instance');
    cp = await ControlPlane.start({ crdDirs: [DATUM_CRDS.compute, DATUM_CRDS.networkClassic, OUR_CRDS] });
    const c = cp.client();
    await ensureNamespace(c, 'provider-system');
    await c.create(SECRET, {
      metadata: { name: 'aws', namespace: 'provider-system' },
      stringData: { accessKeyId: 'AKIDPLACEMENT', secretAccessKey: 'placement-secret-key' },
    });
    const credentials = { source: 'Secret', secretRef: { namespace: 'provider-system', name: 'aws' } };
    await c.create(PROVIDER_CONFIG, {
      metadata: { name: 'default' },
      spec: { credentials, region: emu.region },
    });
    await c.create(PROVIDER_CONFIG, {
      metadata: { name: 'london' },
      spec: { credentials, region: LONDON, locations: { cityCodes: ['LHR'] } },
    });
    const settings = { ...defaultSettings(), sweepIntervalSeconds: 3600 };
    // No managedBy: resources are tagged with the installation identity the provider derives.
    backendConfig = {
      endpoint: emu.endpoint,
      instanceProfile: 'datum-instance',
      containerHostImage: 'ami-0fedcba9876543210#/dev/xvda',
    };
    const backend = createAwsBackend({ backendConfig });
    mgr = new Manager({ log: createLogger({ level: 'info', sink: (l) => logs.push(l) }) });
    await mgr.engage('project-a', cp.connection);
    provider = registerProvider(mgr, { backend, settings, home: c });
    await mgr.start();
  });

  after(async () => {
    await mgr?.stop();
    await cp?.stop();
    await emu?.stop();
  });

  it('terminates the VM and removes the VPC in eu-west-2 after the LHR Location is gone', async () => {
    const c = cp.client();
    const where = await seedProject(c, NS, {
      name: 'lhr-1',
      className: defaultSettings().locationClassName,
      city: 'LHR',
      cidr: '10.132.0.0/20',
    });
    const inst = await createInstance(c, { name: 'web-0', namespace: NS, location: where });
    const programmed = await eventually(async () => {
      const i = await c.get(INSTANCE, 'web-0', NS);
      return condOf(i, 'Programmed')?.status === 'True' ? i : undefined;
    }, 'Instance Programmed');
    assert.deepEqual(recordedPlacement(programmed), {
      providerConfig: 'london',
      region: LONDON,
      location: where,
    });
    const london = new EC2Client({
      region: LONDON,
      endpoint: emu.motoEndpoint,
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    const states = async () =>
      (
        await london.send(
          new DescribeInstancesCommand({
            Filters: [{ Name: 'tag:meta.datumapis.com/upstream-uid', Values: [inst.metadata.uid!] }],
          }),
        )
      ).Reservations?.flatMap((r) => r.Instances ?? []).map((i) => i.State?.Name) ?? [];
    assert.equal((await states()).length, 1, 'the VM runs in eu-west-2');

    await c.delete(LOCATION, 'lhr-1', NS);
    await c.delete(INSTANCE, 'web-0', NS);
    await c.delete(SUBNET, 'default-project-a-lhr-1-0', NS);
    await c.delete(NETWORK_CONTEXT, 'default-project-a-lhr-1', NS);
    const gone = (r: typeof INSTANCE, name: string) =>
      c.get(r, name, NS).then(
        () => false,
        (e) => isNotFound(e),
      );
    await eventually(
      async () =>
        (await gone(INSTANCE, 'web-0')) &&
        (await gone(SUBNET, 'default-project-a-lhr-1-0')) &&
        (await gone(NETWORK_CONTEXT, 'default-project-a-lhr-1')),
      'Instance, Subnet and NetworkContext deleted',
    );
    assert.ok(
      (await states()).every((s) => s === 'terminated' || s === 'shutting-down'),
      `the VM in eu-west-2 is terminated, not ${await states()}`,
    );
    const vpcs = await london.send(
      new DescribeVpcsCommand({
        Filters: [{ Name: 'tag:meta.datumapis.com/upstream-name', Values: ['default-project-a-lhr-1'] }],
      }),
    );
    assert.equal(vpcs.Vpcs?.length ?? 0, 0, 'the VPC in eu-west-2 is gone');
  });

  it('sweeps orphans in every region in use, and never what another installation owns', async () => {
    const backend = createAwsBackend({ backendConfig });
    const ctx = (region: string, installation: string): BackendContext => ({
      credentials: {
        source: 'Secret',
        data: { accessKeyId: 'AKIDPLACEMENT', secretAccessKey: 'x-secret-x' },
      },
      region,
      config: backendConfig,
      location: { namespace: NS, name: 'gone', topology: {} },
      installation,
      log: createLogger({ level: 'error', sink: () => {} }),
      signal: new AbortController().signal,
    });
    const orphanOwner = (name: string) => ({
      cluster: 'project-a',
      namespace: NS,
      kind: 'NetworkContext' as const,
      name,
      uid: randomUUID(),
    });
    const ours = await provider.context.installation();
    const plant = (region: string, installation: string, name: string, cidr: string) =>
      backend.ensureNetwork(ctx(region, installation), {
        id: `net-${name}`,
        owner: orphanOwner(name),
        ipv4Cidr: cidr,
        mtu: 1460,
      });
    await plant(LONDON, ours, 'our-orphan', '10.200.0.0/16');
    await plant(LONDON, 'another-installation', 'their-network', '10.201.0.0/16');
    const deleted = await provider.sweeper.sweep();
    assert.deepEqual(deleted, ['net-our-orphan'], 'only our orphan, found in eu-west-2, is swept');
    const remaining = await backend.listManaged(ctx(LONDON, 'another-installation'));
    assert.deepEqual(
      remaining.map((r) => r.id),
      ['net-their-network'],
      "the other installation's network survives",
    );
  });

  it('reports Programmed=False while an instance is replaced, never the new template on the old machine', async () => {
    const c = cp.client();
    const ns = 'project-b';
    const where = await seedProject(c, ns, {
      name: 'dfw-1',
      className: defaultSettings().locationClassName,
      city: 'DFW',
    });
    await createInstance(c, { name: 'web-r', namespace: ns, location: where, templateHash: 'hash-1' });
    const first = await eventually(async () => {
      const i = await c.get(INSTANCE, 'web-r', ns);
      return condOf(i, 'Programmed')?.status === 'True' ? i : undefined;
    }, 'Instance Programmed');
    const machine = (o: KubeObject) => /as (i-[0-9a-f]+)/.exec(condOf(o, 'Programmed')?.message ?? '')?.[1];
    const oldId = machine(first);
    assert.ok(oldId, 'the Programmed message names the EC2 instance');

    const seen: KubeObject[] = [];
    const abort = new AbortController();
    const watching = (async () => {
      try {
        for await (const ev of c.watch(INSTANCE, {
          namespace: ns,
          resourceVersion: first.metadata.resourceVersion,
          signal: abort.signal,
        }))
          if (ev.type !== 'BOOKMARK') seen.push(ev.object as KubeObject);
      } catch {}
    })();
    await c.patch(INSTANCE, 'web-r', ns, {
      type: 'json',
      patch: [
        { op: 'replace', path: '/spec/runtime/sandbox/containers/0/image', value: 'nginx:1.28' },
        { op: 'replace', path: '/spec/controller/templateHash', value: 'hash-2' },
      ],
    });
    const done = await eventually(
      async () =>
        seen.find(
          (o) =>
            condOf(o, 'Programmed')?.status === 'True' &&
            o.status?.controller?.observedTemplateHash === 'hash-2',
        ),
      'the new template programmed',
      120_000,
    );
    abort.abort();
    await watching;
    assert.notEqual(machine(done), oldId, 'the new template runs on a new machine');
    assert.ok(
      seen.some((o) => condOf(o, 'Programmed')?.reason === 'ProgrammingInProgress'),
      'the replacement was visible as ProgrammingInProgress',
    );
    const lies = seen.filter(
      (o) =>
        condOf(o, 'Programmed')?.status === 'True' &&
        o.status?.controller?.observedTemplateHash === 'hash-2' &&
        machine(o) === oldId,
    );
    assert.equal(lies.length, 0, 'never Programmed=True with the new hash on the old machine');
  });

  it('deletion policy Retain leaves the EC2 instance running, without our tags', async () => {
    const c = cp.client();
    const ns = 'project-b';
    const where = { name: 'dfw-1', namespace: ns };
    const inst = await createInstance(c, { name: 'kept-0', namespace: ns, location: where });
    await c.patch(INSTANCE, 'kept-0', ns, {
      type: 'merge',
      patch: { metadata: { annotations: { 'infra.provider-ts.io/deletion-policy': 'Retain' } } },
    });
    await eventually(
      async () => condOf(await c.get(INSTANCE, 'kept-0', ns), 'Programmed')?.status === 'True',
      'Programmed',
    );
    const moto = new EC2Client({
      region: emu.region,
      endpoint: emu.motoEndpoint,
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    const byUid = async () =>
      (
        await moto.send(
          new DescribeInstancesCommand({
            Filters: [{ Name: 'tag:meta.datumapis.com/upstream-uid', Values: [inst.metadata.uid!] }],
          }),
        )
      ).Reservations?.flatMap((r) => r.Instances ?? []) ?? [];
    const [ec2] = await byUid();
    assert.ok(ec2?.InstanceId, 'the EC2 instance exists');
    await c.delete(INSTANCE, 'kept-0', ns);
    await eventually(
      async () =>
        c.get(INSTANCE, 'kept-0', ns).then(
          () => false,
          (e) => isNotFound(e),
        ),
      'the Instance object is gone',
    );
    assert.equal((await byUid()).length, 0, 'our tags are gone');
    const after = (await moto.send(new DescribeInstancesCommand({ InstanceIds: [ec2.InstanceId!] })))
      .Reservations?.[0]?.Instances?.[0];
    assert.equal(after?.State?.Name, 'running', 'the instance keeps running');
    assert.ok(!after?.Tags?.some((t) => t.Key === 'datum.net/managed-by'), 'no managed-by tag');
    const managed = await provider.sweeper.sweep();
    assert.ok(!managed.includes(ec2.InstanceId!), 'the sweep never touches it');
  });
});
