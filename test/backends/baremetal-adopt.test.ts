/**
 * Adopt, ObserveOnly and plan on bare metal (sushy-tools' fake BMCs behind our proxy, BareMetalHosts in a real
 * API server), through the provider:
 * - Retain → adopt: a host kept with deletion policy Retain is taken over by another Instance as it runs (no
 *   other host claimed, no virtual media inserted, no reset sent: never re-imaged), a third Instance is refused
 *   with AdoptionConflict and the host is not written, and deleting the adopter powers it off and frees it
 *   (then ObserveOnly on it finds nothing: a free host that is off runs no instance);
 * - a host too small for the instance type is kept, not re-imaged, and the condition says what differs;
 * - a host claimed by another installation is refused and not written (its resourceVersion unchanged);
 * - ObserveOnly reports a running host and writes nothing: no BMC request but GETs, no BareMetalHost write;
 * - plan: a template change is one line, nothing to do after converging or adopting.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BARE_METAL_HOST, BareMetalBackend, type BareMetalHost } from '../../src/backends/baremetal/index.ts';
import { INSTANCE, SUBNET } from '../../src/datum/api/resources.ts';
import type { Subnet } from '../../src/datum/api/types.ts';
import { registerProvider } from '../../src/datum/provider.ts';
import { PROVIDER_CONFIG } from '../../src/datum/providerconfig.ts';
import { DELETION_POLICY_ANNOTATION } from '../../src/datum/reconcilers/deletion-policy.ts';
import { instanceId } from '../../src/datum/reconcilers/instance-desired.ts';
import { ADOPT_ANNOTATION, MANAGEMENT_POLICY_ANNOTATION } from '../../src/datum/reconcilers/management.ts';
import { PAUSED_ANNOTATION, PAUSED_CONDITION } from '../../src/datum/reconcilers/pause.ts';
import { defaultSettings } from '../../src/datum/settings.ts';
import { applyAll } from '../../src/localenv/apply.ts';
import { ControlPlane, DATUM_CRDS } from '../../src/localenv/controlplane.ts';
import {
  applyInventory,
  hostManifests,
  type RedfishEmulator,
  startRedfishEmulator,
} from '../../src/localenv/emulators/sushy/index.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';
import { Manager } from '../../src/runtime/manager/manager.ts';
import { seedProject } from '../../src/testkit/contract/fixtures.ts';
import { instanceDriver } from '../../src/testkit/contract/instance-driver.ts';
import { condOf, eventually, OUR_CRDS } from '../../src/testkit/contract/suite.ts';

const NS = 'project-a';
const DFW = { 'topology.datum.net/city-code': 'DFW' };
const HOSTS = [
  { name: 'dfw-0', site: DFW, addresses: ['10.128.0.10'] },
  { name: 'dfw-1', site: DFW, addresses: ['10.128.0.11'] },
  { name: 'tiny', site: DFW, cpu: 1, memoryGiB: 2, addresses: ['10.128.0.12'] },
  { name: 'theirs', site: { 'topology.datum.net/city-code': 'NONE' }, addresses: ['10.128.0.13'] },
  { name: 'watched', site: { 'topology.datum.net/city-code': 'NONE' }, addresses: ['10.128.0.14'] },
];
const settings = { ...defaultSettings(), sweepIntervalSeconds: 3600 };

describe('baremetal: adopt, ObserveOnly and plan', { timeout: 300_000 }, () => {
  let emu: RedfishEmulator;
  let cp: ControlPlane;
  let mgr: Manager;
  let backend: BareMetalBackend;
  let where: { name: string; namespace: string };
  /** Hosts switched on by hand at the start (the emulator takes 1-11 s), for the tests that adopt or watch them. */
  const switchedOn = new Map<string, Promise<void>>();

  before(async () => {
    [cp, emu] = await Promise.all([
      ControlPlane.start({ crdDirs: [DATUM_CRDS.compute, DATUM_CRDS.networkClassic, OUR_CRDS] }),
      startRedfishEmulator({ systems: HOSTS.map((h) => ({ name: h.name })) }),
    ]);
    const c = cp.client();
    await applyAll(c, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bmc' } }], 't');
    await applyInventory(c, hostManifests(emu, HOSTS, { namespace: 'bmc', name: 'bmc-admin' }));
    for (const name of ['tiny', 'watched']) {
      const on = powerOn(name);
      on.catch(() => {}); // awaited by its test
      switchedOn.set(name, on);
    }
    await c.create(PROVIDER_CONFIG, {
      metadata: { name: 'default' },
      spec: { credentials: { source: 'InjectedIdentity' } },
    });
    backend = new BareMetalBackend({
      home: c,
      config: {
        images: `datumcloud/ubuntu-2204-lts=${emu.imageBaseUrl}ubuntu-2204-lts.iso`,
        powerRetryMs: '15000',
      },
    });
    mgr = new Manager({ log: createLogger({ level: 'error', sink: () => {} }) });
    await mgr.engage('single', cp.connection);
    registerProvider(mgr, { backend, settings, home: c });
    await mgr.start();
    where = await seedProject(c, NS, { name: 'dfw', className: settings.locationClassName, city: 'DFW' });
    await eventually(async () => {
      const s = await c.get<Subnet>(SUBNET, 'default-project-a-dfw-0', NS);
      return condOf(s, 'Programmed')?.status === 'True' ? s : undefined;
    }, 'Subnet programmed');
  });

  after(async () => {
    await mgr?.stop();
    await backend?.close();
    await cp?.stop();
    await emu?.stop();
  });

  const host = (name: string) => cp.client().get<BareMetalHost>(BARE_METAL_HOST, name);
  const uuid = (name: string) => emu.systems.find((s) => s.name === name)!.uuid;
  /** BMC requests for one host that change something (anything but a GET), from log position `from`. */
  const bmcWrites = (name: string, from = 0) =>
    emu.proxy.requests.slice(from).filter((r) => !r.startsWith('GET ') && r.includes(uuid(name)));
  /** Switches a host on by hand; asked again every 15 s (as the backend does) while it is still off. */
  const powerOn = async (name: string) => {
    const u = emu.users[0]!;
    const ask = async () => {
      const res = await fetch(
        `${emu.directEndpoint}/redfish/v1/Systems/${uuid(name)}/Actions/ComputerSystem.Reset`,
        {
          method: 'POST',
          headers: {
            authorization: `Basic ${Buffer.from(`${u.username}:${u.password}`).toString('base64')}`,
            'content-type': 'application/json',
          },
          body: JSON.stringify({ ResetType: 'On' }),
        },
      );
      assert.ok(res.status < 300, `power on ${name}: HTTP ${res.status}`);
    };
    await ask();
    let asked = Date.now();
    await eventually(async () => {
      if ((await emu.powerState(name)) === 'On') return true;
      if (Date.now() - asked > 15_000) {
        await ask();
        asked = Date.now();
      }
      return false;
    }, `${name} on`);
  };
  const { create, get, programmed, deleted, plan } = instanceDriver({
    client: () => cp.client(),
    namespace: NS,
    location: () => where,
    fixture: { runtime: 'virtualMachine' },
    planWith: () => ({ settings, backend, log: mgr.log }),
  });
  const claimedFor = async (uid: string) =>
    (await cp.client().list<BareMetalHost>(BARE_METAL_HOST)).items
      .filter((h) => h.status?.owner?.uid === uid)
      .map((h) => h.metadata.name);

  it('Retain then adopt: the kept host is taken over as it runs, never stolen, freed with its adopter', async () => {
    await create('kept');
    const c = await programmed('kept', 'True', 'Programmed');
    const name = c.message.split(' ').pop()!;
    await eventually(async () => condOf(await get('kept'), 'Running')?.status === 'True', 'kept running');
    assert.deepEqual(await plan('kept'), { action: 'none', details: [] });
    // A template change, planned while paused: one line, nothing sent to the BMC or the host.
    await cp.client().patch(INSTANCE, 'kept', NS, {
      type: 'merge',
      patch: { metadata: { annotations: { [PAUSED_ANNOTATION]: 'true' } } },
    });
    await eventually(async () => condOf(await get('kept'), PAUSED_CONDITION)?.status === 'True', 'paused');
    await cp.client().patch(INSTANCE, 'kept', NS, {
      type: 'merge',
      patch: { spec: { controller: { templateHash: 'hash-2' } } },
    });
    const rv = (await host(name)).metadata.resourceVersion;
    const before = emu.proxy.requests.length;
    assert.deepEqual(await plan('kept'), {
      action: 'update',
      details: ['template (files, ssh keys or ingress rules): the host is re-imaged'],
    });
    assert.deepEqual(bmcWrites(name, before), [], 'plan sent no BMC write');
    assert.equal((await host(name)).metadata.resourceVersion, rv, 'plan wrote no host status');
    await cp.client().patch(INSTANCE, 'kept', NS, {
      type: 'merge',
      patch: {
        metadata: { annotations: { [PAUSED_ANNOTATION]: null, [DELETION_POLICY_ANNOTATION]: 'Retain' } },
        spec: { controller: { templateHash: 'hash-1' } },
      },
    });
    await eventually(async () => condOf(await get('kept'), PAUSED_CONDITION)?.status !== 'True', 'resumed');
    await deleted('kept');
    const retained = await host(name);
    assert.equal(retained.status?.phase, 'retained');
    assert.equal(retained.status?.claimedBy, undefined, 'released: no claim left');
    assert.equal(await emu.powerState(name), 'On', 'left running');

    const from = emu.proxy.requests.length;
    const adopter = await create('adopter', { [ADOPT_ANNOTATION]: name });
    const a = await programmed('adopter', 'True', 'Programmed');
    assert.equal(a.message, `Instance has been programmed as ${name}`);
    await eventually(
      async () => condOf(await get('adopter'), 'Running')?.status === 'True',
      'adopter running',
    );
    const now = await host(name);
    assert.equal(now.status?.claimedBy, instanceId(adopter));
    assert.equal(now.status?.adopted, true);
    assert.equal(now.status?.templateHash, 'hash-1', 'accepted');
    assert.deepEqual(await claimedFor(adopter.metadata.uid!), [name], 'no second host');
    assert.deepEqual(bmcWrites(name, from), [], 'never re-imaged: no media inserted, no reset');
    assert.deepEqual(await plan('adopter'), { action: 'none', details: [] });

    const taken = (await host(name)).metadata.resourceVersion;
    await create('thief', { [ADOPT_ANNOTATION]: name });
    const t = await programmed('thief', 'False', 'AdoptionConflict');
    assert.match(t.message, /Instance project-a\/adopter/);
    assert.equal((await host(name)).metadata.resourceVersion, taken, 'the host was not written');
    await deleted('thief');

    await deleted('adopter');
    assert.equal((await host(name)).status?.phase, 'free', 'freed with its adopter');
    assert.equal(await emu.powerState(name), 'Off');
    // Back in the pool and off: nothing runs there to observe.
    await create('seeker', { [MANAGEMENT_POLICY_ANNOTATION]: 'ObserveOnly', [ADOPT_ANNOTATION]: name });
    await programmed('seeker', 'False', 'NotFound');
    await deleted('seeker');
  });

  it('keeps an adopted host too small for the instance type, and says what differs', async () => {
    await switchedOn.get('tiny');
    const from = emu.proxy.requests.length;
    await create('adopted-tiny', { [ADOPT_ANNOTATION]: 'tiny' });
    const c = await programmed('adopted-tiny', 'False', 'Unsupported');
    assert.match(c.message, /capacity: 1 CPUs, 2 GiB/);
    assert.equal((await host('tiny')).status?.adopted, true);
    assert.deepEqual(bmcWrites('tiny', from), [], 'not re-imaged, not reset');
    assert.equal(await emu.powerState('tiny'), 'On');
  });

  it('refuses a host claimed by another installation and does not write it', async () => {
    const h = await host('theirs');
    const claimed = await cp.client().updateStatus<BareMetalHost>(BARE_METAL_HOST, {
      ...h,
      status: { phase: 'provisioned', claimedBy: 'inst-x', installation: 'someone-else' },
    });
    await create('steal-0', { [ADOPT_ANNOTATION]: 'theirs' });
    const c = await programmed('steal-0', 'False', 'AdoptionConflict');
    assert.match(c.message, /another installation \(someone-else\)/);
    assert.equal((await host('theirs')).metadata.resourceVersion, claimed.metadata.resourceVersion);
  });

  it('ObserveOnly reports a running host and writes nothing: BMC GETs only, no host write', async () => {
    await switchedOn.get('watched');
    const rv = (await host('watched')).metadata.resourceVersion;
    const from = emu.proxy.requests.length;
    await create('observed-0', {
      [MANAGEMENT_POLICY_ANNOTATION]: 'ObserveOnly',
      [ADOPT_ANNOTATION]: 'watched',
    });
    const c = await programmed('observed-0', 'True', 'Observed');
    assert.match(c.message, /watched$/);
    await eventually(async () => condOf(await get('observed-0'), 'Running')?.status === 'True', 'Running');
    assert.equal(
      (await get('observed-0')).status?.networkInterfaces?.[0]?.assignments?.networkIP,
      '10.128.0.14',
    );
    await deleted('observed-0');
    const requests = emu.proxy.requests.slice(from).filter((r) => r.includes(uuid('watched')));
    assert.ok(requests.length > 0, 'the BMC was read');
    assert.deepEqual(bmcWrites('watched', from), [], 'no BMC write');
    assert.equal((await host('watched')).metadata.resourceVersion, rv, 'no host write');
    assert.equal(await emu.powerState('watched'), 'On', 'left running');
  });
});
