/**
 * Adopt, ObserveOnly and plan on GCE (gcplocal behind our proxy), through the provider against a real API
 * server:
 * - Retain → adopt: an Instance's machine kept with deletion policy Retain loses our labels; another Instance
 *   adopting it takes it over (no second insert), a third one is refused with AdoptionConflict (labels
 *   untouched), the rules released with the machine give way to the adopter's own, and deleting the adopter
 *   deletes the machine;
 * - adopt of a hand-made instance with the desired zone, machine type and subnetwork: our labels, ownership
 *   record and network tag, no insert; one of another machine type is kept (never replaced) and the condition
 *   names the difference; one labelled by another installation is refused and no write reaches it;
 * - ObserveOnly reports an instance and sends no write for it (the proxy's request log), nor on deletion;
 * - plan: an update lists one line per changed field; nothing to do after converging or adopting.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createGcpBackend, type GcpBackend } from '../../src/backends/gcp/index.ts';
import { INSTANCE, SUBNET } from '../../src/datum/api/resources.ts';
import type { Subnet } from '../../src/datum/api/types.ts';
import { DELETION_POLICY_ANNOTATION } from '../../src/datum/reconcilers/deletion-policy.ts';
import { instanceId } from '../../src/datum/reconcilers/instance-desired.ts';
import { ADOPT_ANNOTATION, MANAGEMENT_POLICY_ANNOTATION } from '../../src/datum/reconcilers/management.ts';
import { PAUSED_ANNOTATION, PAUSED_CONDITION } from '../../src/datum/reconcilers/pause.ts';
import { defaultSettings } from '../../src/datum/settings.ts';
import type { ControlPlane } from '../../src/localenv/controlplane.ts';
import { type GceEmulator, startGceEmulator } from '../../src/localenv/emulators/gcplocal/index.ts';
import type { Manager } from '../../src/runtime/manager/manager.ts';
import { seedProject } from '../../src/testkit/contract/fixtures.ts';
import { instanceDriver } from '../../src/testkit/contract/instance-driver.ts';
import { startProviderUnderTest } from '../../src/testkit/contract/provider-under-test.ts';
import { condOf, eventually } from '../../src/testkit/contract/suite.ts';

const NS = 'project-a';
const settings = { ...defaultSettings(), sweepIntervalSeconds: 3600 };

interface Gce {
  name: string;
  status: string;
  labels?: Record<string, string>;
  tags?: { items?: string[] };
  metadata?: { items?: { key: string; value: string }[] };
}

describe('gcp: adopt, ObserveOnly and plan', { timeout: 240_000 }, () => {
  let emu: GceEmulator;
  let cp: ControlPlane;
  let mgr: Manager;
  let backend: GcpBackend;
  let zone: string;
  let nic: { network: string; subnetwork: string };
  let where: { name: string; namespace: string };

  const api = (path: string) => `${emu.endpoint}/compute/v1/projects/${emu.project}/${path}`;
  const read = async (name: string, via = emu.endpoint): Promise<Gce | undefined> => {
    const res = await fetch(`${via}/compute/v1/projects/${emu.project}/zones/${zone}/instances/${name}`);
    return res.status === 404 ? undefined : ((await res.json()) as Gce);
  };
  const linkOf = (name: string) => `projects/${emu.project}/zones/${zone}/instances/${name}`;

  before(async () => {
    emu = await startGceEmulator();
    zone = `${emu.region}-a`;
    backend = createGcpBackend({
      backendConfig: {
        endpoint: emu.endpoint,
        project: emu.project,
        region: emu.region,
        managedBy: 'adopt-test',
      },
    });
    ({ cp, mgr } = await startProviderUnderTest({ backend, settings, region: emu.region }));
    const c = cp.client();
    where = await seedProject(c, NS, { name: 'dfw', className: settings.locationClassName, city: 'DFW' });
    await eventually(async () => {
      const s = await c.get<Subnet>(SUBNET, 'default-project-a-dfw-0', NS);
      return condOf(s, 'Programmed')?.status === 'True' ? s : undefined;
    }, 'Subnet programmed');
    const subs = (await (await fetch(api(`regions/${emu.region}/subnetworks`))).json()) as {
      items: { name: string; network: string }[];
    };
    const sub = subs.items[0]!;
    nic = {
      network: `projects/${emu.project}/global/networks/${sub.network.split('/').pop()}`,
      subnetwork: `projects/${emu.project}/regions/${emu.region}/subnetworks/${sub.name}`,
    };
  });

  after(async () => {
    await mgr?.stop();
    await backend?.close();
    await cp?.stop();
    await emu?.stop();
  });

  /** An instance made by hand (as an operator would), running in the Location's zone. */
  const plant = async (name: string, o: { machineType?: string; labels?: Record<string, string> } = {}) => {
    const res = await fetch(api(`zones/${zone}/instances`), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        name,
        machineType: `zones/${zone}/machineTypes/${o.machineType ?? 'n2-standard-2'}`,
        networkInterfaces: [nic],
        disks: [
          {
            boot: true,
            autoDelete: true,
            initializeParams: { sourceImage: 'projects/cos-cloud/global/images/family/cos-stable' },
          },
        ],
        metadata: { items: [{ key: 'team', value: 'ops' }] },
        tags: { items: ['hand-made'] },
        labels: o.labels ?? {},
      }),
    });
    assert.equal(res.status, 200, await res.text());
    await eventually(async () => (await read(name))?.status === 'RUNNING', `${name} running`);
    return linkOf(name);
  };
  const { create, get, programmed, deleted, plan } = instanceDriver({
    client: () => cp.client(),
    namespace: NS,
    location: () => where,
    planWith: () => ({ settings, backend, log: mgr.log }),
  });
  const annotate = (name: string, annotations: Record<string, string | null>, spec?: unknown) =>
    cp.client().patch(INSTANCE, name, NS, {
      type: 'merge',
      patch: { metadata: { annotations }, ...(spec ? { spec } : {}) },
    });
  const inserts = () => emu.proxy.log.filter((e) => e.action === 'instances.insert').length;
  /** Requests that change the named instance (anything but a read), from log position `from`. */
  const writesTo = (name: string, from = 0) =>
    emu.proxy.log.slice(from).filter((e) => e.method !== 'GET' && e.path.includes(`/instances/${name}`));
  const ours = (i: Gce | undefined) =>
    Object.keys(i?.labels ?? {})
      .filter((k) => k.startsWith('datum-'))
      .sort();

  it('Retain then adopt: the kept machine is taken over without a second insert, never stolen, deleted with its adopter', async () => {
    await create('kept');
    const c = await programmed('kept', 'True', 'Programmed');
    const providerId = c.message.split(' ').pop()!;
    const name = providerId.split('/').pop()!;
    assert.deepEqual(await plan('kept'), { action: 'none', details: [] });
    // An update, planned while paused: one line per changed field, nothing applied.
    const policy = {
      ingress: [{ ports: [{ port: 'http' }], from: [{ ipBlock: { cidr: '10.0.0.0/8' } }] }],
    };
    const original = (await get('kept')).spec!.networkInterfaces;
    await annotate('kept', {
      [PAUSED_ANNOTATION]: 'true',
      'compute.datumapis.com/ssh-keys': 'ops:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAItest ops@example',
    });
    await eventually(async () => condOf(await get('kept'), PAUSED_CONDITION)?.status === 'True', 'paused');
    await cp.client().patch(INSTANCE, 'kept', NS, {
      type: 'json',
      patch: [{ op: 'replace', path: '/spec/networkInterfaces/0/networkPolicy', value: policy }],
    });
    const before = emu.proxy.log.length;
    assert.deepEqual(await plan('kept'), {
      action: 'update',
      details: ['ssh keys (the instance is replaced)', 'firewall rules'],
    });
    assert.deepEqual(writesTo(name, before), [], 'plan wrote nothing');
    await cp.client().patch(INSTANCE, 'kept', NS, {
      type: 'json',
      patch: [{ op: 'replace', path: '/spec/networkInterfaces', value: original }],
    });
    await annotate('kept', {
      [PAUSED_ANNOTATION]: null,
      'compute.datumapis.com/ssh-keys': null,
      [DELETION_POLICY_ANNOTATION]: 'Retain',
    });
    await eventually(async () => condOf(await get('kept'), PAUSED_CONDITION)?.status !== 'True', 'resumed');
    await deleted('kept');
    assert.deepEqual(ours(await read(name)), [], 'released: none of our labels left');
    const rulesFor = async () => {
      const res = await fetch(api('global/firewalls'));
      const items = ((await res.json()) as { items?: { description?: string; targetTags?: string[] }[] })
        .items;
      return (items ?? []).filter((f) => f.targetTags?.includes(name));
    };
    const released = await rulesFor();
    assert.ok(released.length > 0, 'its firewall rules stay with it');
    assert.ok(
      released.every((f) => f.description?.startsWith('released by ')),
      'unmarked',
    );
    assert.equal((await read(name))?.status, 'RUNNING', 'retained');

    const inserted = inserts();
    const adopter = await create('adopter', { [ADOPT_ANNOTATION]: providerId });
    const a = await programmed('adopter', 'True', 'Programmed');
    assert.equal(a.message, `Instance has been programmed as ${providerId}`);
    const now = (await read(name))!;
    assert.equal(now.labels?.['datum-id'], instanceId(adopter));
    assert.equal(now.labels?.['datum-adopted'], 'true');
    assert.ok(now.labels?.['datum-spec'], 'accepted: the spec is recorded');
    assert.equal(inserts(), inserted, 'no second instance');
    assert.deepEqual(await rulesFor(), [], "the rules released with it are superseded by the adopter's");
    assert.deepEqual(await plan('adopter'), { action: 'none', details: [] });

    const labels = now.labels;
    const from = emu.proxy.log.length;
    await create('thief', { [ADOPT_ANNOTATION]: providerId });
    const t = await programmed('thief', 'False', 'AdoptionConflict');
    assert.match(t.message, /Instance project-a\/adopter/);
    assert.deepEqual((await read(name))?.labels, labels, 'labels untouched');
    assert.deepEqual(writesTo(name, from), [], 'no write reached it');
    await deleted('thief');

    await deleted('adopter');
    assert.equal(await read(name, emu.gcplocalEndpoint), undefined, 'deleted with its adopter');
  });

  it('adopts a matching hand-made instance: our labels, record and network tag; no insert', async () => {
    const providerId = await plant('hand-0');
    const inserted = inserts();
    const inst = await create('adopted-0', { [ADOPT_ANNOTATION]: providerId });
    await programmed('adopted-0', 'True', 'Programmed');
    const i = (await read('hand-0'))!;
    assert.equal(i.labels?.['datum-id'], instanceId(inst));
    assert.ok(i.tags?.items?.includes('hand-made'), 'its own tag kept');
    assert.equal(i.tags?.items?.length, 2, 'our network tag added');
    const record = i.metadata?.items?.find((m) => m.key === 'datum-owner')?.value ?? '';
    assert.match(record, /"name":"adopted-0"/);
    assert.ok(
      i.metadata?.items?.some((m) => m.key === 'team'),
      'its own metadata kept',
    );
    assert.equal(inserts(), inserted, 'nothing inserted');
    const managed = await backend.listManaged({
      credentials: { source: 'InjectedIdentity' },
      config: {},
      location: { namespace: NS, name: 'dfw', topology: {} },
      log: mgr.log,
      signal: new AbortController().signal,
    });
    assert.deepEqual(
      managed
        .filter((m) => m.kind === 'instance' && m.owner.uid === inst.metadata.uid)
        .map((m) => m.owner.name),
      ['adopted-0'],
      'listed with its adopter as owner',
    );
    assert.deepEqual(await plan('adopted-0'), { action: 'none', details: [] });
  });

  it('keeps an adopted instance that differs where GCE cannot change it, and says what differs', async () => {
    const providerId = await plant('hand-1', { machineType: 'e2-small' });
    const from = emu.proxy.log.length;
    await create('adopted-1', { [ADOPT_ANNOTATION]: providerId });
    const c = await programmed('adopted-1', 'False', 'Unsupported');
    assert.match(c.message, /machine type: e2-small → n2-standard-2/);
    assert.equal((await read('hand-1'))?.status, 'RUNNING', 'never replaced');
    assert.deepEqual(
      writesTo('hand-1', from).map((e) => e.action),
      ['instances.setMetadata', 'instances.setLabels'],
      'only the adoption marks',
    );
  });

  it('refuses an instance labelled by another installation and sends it no write', async () => {
    const theirs = { 'datum-installation': 'someone-else', 'datum-id': 'theirs' };
    const providerId = await plant('hand-2', { labels: theirs });
    const from = emu.proxy.log.length;
    await create('steal-0', { [ADOPT_ANNOTATION]: providerId });
    const c = await programmed('steal-0', 'False', 'AdoptionConflict');
    assert.match(c.message, /another installation \(someone-else\)/);
    assert.deepEqual((await read('hand-2'))?.labels, theirs);
    assert.deepEqual(writesTo('hand-2', from), []);
  });

  it('ObserveOnly reports an instance and sends no write for it, nor on deletion', async () => {
    const providerId = await plant('hand-3');
    const from = emu.proxy.log.length;
    await create('observed-0', {
      [MANAGEMENT_POLICY_ANNOTATION]: 'ObserveOnly',
      [ADOPT_ANNOTATION]: providerId,
    });
    const c = await programmed('observed-0', 'True', 'Observed');
    assert.match(c.message, new RegExp(`${providerId}$`));
    await eventually(async () => condOf(await get('observed-0'), 'Running')?.status === 'True', 'Running');
    assert.ok((await get('observed-0')).status?.networkInterfaces?.[0]?.assignments?.networkIP, 'address');
    await deleted('observed-0');
    const log = emu.proxy.log.slice(from);
    assert.ok(
      log.some((e) => e.action === 'instances.get' && e.path.endsWith('/hand-3')),
      'it was read',
    );
    assert.deepEqual(
      log.filter((e) => e.method !== 'GET').map((e) => e.action),
      [],
      'no write of any kind',
    );
    assert.equal((await read('hand-3'))?.status, 'RUNNING', 'left running');
  });
});
