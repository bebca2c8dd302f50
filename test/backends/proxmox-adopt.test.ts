/**
 * Adopt, ObserveOnly and plan on Proxmox (fakepve), through the provider against a real API server, with
 * LXC guests (the contract suite's sandbox runtime):
 * - the contract sequence: `kept` converges; Retain-deleted, its guest stays, unmarked; `adopter` (adopt
 *   annotation = that guest) takes it over with no second guest; a second adopter gets AdoptionConflict and
 *   changes nothing; an ObserveOnly Instance on it reports it without one write request reaching fakepve, and
 *   its deletion leaves the guest alone; a new image on the adopter is refused (never replaced); plan says
 *   none; deleting `adopter` deletes the guest;
 * - a guest with another installation's marks is refused and untouched, a missing one is NotFound;
 * - a hand-made VM is adopted for a VM Instance (started, converged, plan none), refused for a sandbox;
 * - observe and plan called directly make GET requests only (our client's own request log); plan says none for
 *   a converged guest and, for a changed spec, one line per change (marks, cores, memory, firewall) with no
 *   environment value in them.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  createProxmoxBackend,
  type ProxmoxBackend,
  ProxmoxClient,
} from '../../src/backends/proxmox/index.ts';
import { guestName } from '../../src/backends/proxmox/names.ts';
import { INSTANCE } from '../../src/datum/api/resources.ts';
import type { InstanceDesired } from '../../src/datum/backend.ts';
import { planInstances } from '../../src/datum/plan.ts';
import { DELETION_POLICY_ANNOTATION } from '../../src/datum/reconcilers/deletion-policy.ts';
import { instanceId } from '../../src/datum/reconcilers/instance-desired.ts';
import { ADOPT_ANNOTATION, MANAGEMENT_POLICY_ANNOTATION } from '../../src/datum/reconcilers/management.ts';
import { defaultSettings } from '../../src/datum/settings.ts';
import type { ControlPlane } from '../../src/localenv/controlplane.ts';
import { type FakePve, startFakePve } from '../../src/localenv/emulators/fakepve/index.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';
import type { Manager } from '../../src/runtime/manager/manager.ts';
import { seedProject } from '../../src/testkit/contract/fixtures.ts';
import { instanceDriver } from '../../src/testkit/contract/instance-driver.ts';
import { startProviderUnderTest } from '../../src/testkit/contract/provider-under-test.ts';
import { proxmoxConfig } from './proxmox-fixtures.ts';

const NS = 'project-a';
const settings = { ...defaultSettings(), sweepIntervalSeconds: 3600 };
const WRITE = /^(POST|PUT|DELETE)$/;

interface FakeGuest {
  vmid: number;
  name: string;
  node: string;
  type: string;
  tags: string;
  status: string;
}

describe('proxmox: adopt, ObserveOnly and plan', { timeout: 240_000 }, () => {
  let pve: FakePve;
  let cp: ControlPlane;
  let mgr: Manager;
  let backend: ProxmoxBackend;
  let config: Record<string, string>;
  let where: { name: string; namespace: string };
  const managedBy = `adopt-${randomUUID().slice(0, 8)}`;

  before(async () => {
    pve = await startFakePve();
    config = proxmoxConfig(pve, managedBy);
    backend = createProxmoxBackend({ backendConfig: config });
    ({ cp, mgr } = await startProviderUnderTest({
      backend,
      settings,
      credentials: { tokenId: pve.tokenId, tokenSecret: pve.tokenSecret },
    }));
    const c = cp.client();
    where = await seedProject(c, NS, { name: 'dfw', className: settings.locationClassName, city: 'DFW' });
  });

  after(async () => {
    await mgr?.stop();
    await cp?.stop();
    await backend?.close();
    await pve?.stop();
  });

  const client = () =>
    new ProxmoxClient({
      endpoint: pve.endpoint,
      tokenId: pve.tokenId,
      tokenSecret: pve.tokenSecret,
      trust: { kind: 'fingerprint', sha256: pve.fingerprint },
    });
  const guests = () => pve.control<FakeGuest[]>({ op: 'guests' });
  const guest = async (vmid: number) => (await guests()).find((g) => g.vmid === vmid);
  const configOf = (g: FakeGuest) =>
    client().get<Record<string, string>>(`/nodes/${g.node}/lxc/${g.vmid}/config`, undefined, {
      signal: AbortSignal.timeout(30_000),
    });
  const writesTo = async (vmid: number, from = 0) =>
    (await pve.control<[string, string][]>({ op: 'requests' }))
      .slice(from)
      .filter(([m, p]) => WRITE.test(m) && p.includes(`/${vmid}`));
  const requestCount = async () => (await pve.control<unknown[]>({ op: 'requests' })).length;
  const {
    create,
    get,
    programmed,
    running,
    deleted: remove,
    plan,
  } = instanceDriver({
    client: () => cp.client(),
    namespace: NS,
    location: () => where,
    fixture: { runtime: 'sandbox' },
    planWith: () => ({ settings, backend, log: mgr.log }),
  });

  it('the contract sequence: release, adopt without a second guest, conflict, observe read-only, delete', async () => {
    const kept = await create('kept');
    await programmed('kept', 'True', 'Programmed');
    const [g0] = (await guests()).filter((g) => g.name === guestName(managedBy, instanceId(kept)));
    assert.ok(g0, 'kept has its guest');
    const id = `${g0.node}/lxc/${g0.vmid}`;
    const total = (await guests()).length;

    // Retain: the guest stays, without our marks.
    await cp.client().patch(INSTANCE, 'kept', NS, {
      type: 'merge',
      patch: { metadata: { annotations: { [DELETION_POLICY_ANNOTATION]: 'Retain' } } },
    });
    await remove('kept');
    const released = await guest(g0.vmid);
    assert.ok(released, 'the retained guest still exists');
    assert.doesNotMatch(released.tags, /datum|dpi-/, 'our tags are gone');
    assert.doesNotMatch((await configOf(g0)).description ?? '', /datum-provider:/, 'our marks are gone');

    const adoptFrom = await requestCount();
    const adopter = await create('adopter', { [ADOPT_ANNOTATION]: id });
    const c = await programmed('adopter', 'True', 'Programmed');
    assert.equal(c.message, `Instance has been programmed as ${id}`);
    await running('adopter');
    const taken = await guest(g0.vmid);
    assert.equal(taken?.name, guestName(managedBy, instanceId(adopter)), 'found by our name from now on');
    assert.match(taken?.tags ?? '', /datum/);
    assert.match((await configOf(g0)).description ?? '', /"adopted":true/);
    assert.equal((await guests()).length, total, 'no second guest');
    // The request log does show writes on the guest when there are some (so the checks below can fail).
    assert.ok(
      (await writesTo(g0.vmid, adoptFrom)).some(([m]) => m === 'PUT'),
      'adoption wrote its config',
    );
    assert.deepEqual(await plan('adopter'), { action: 'none', details: [] });

    // A second adopter: refused, and the guest's config is as it was.
    const before = await configOf(g0);
    await create('adopter-2', { [ADOPT_ANNOTATION]: id });
    const conflict = await programmed('adopter-2', 'False', 'AdoptionConflict');
    assert.match(conflict.message, /managed by Instance project-a\/adopter/);
    assert.equal((await configOf(g0)).digest, before.digest, 'nothing written');
    await remove('adopter-2');
    assert.ok(await guest(g0.vmid), "the conflicting Instance's deletion leaves the guest");

    // ObserveOnly on the same guest: status reported, not one write request on it.
    const from = await requestCount();
    await create('observer', { [MANAGEMENT_POLICY_ANNOTATION]: 'ObserveOnly', [ADOPT_ANNOTATION]: id });
    const seen = await programmed('observer', 'True', 'Observed');
    assert.match(seen.message, new RegExp(`${id}$`));
    await running('observer');
    const ip = (await get('observer')).status?.networkInterfaces?.[0]?.assignments?.networkIP;
    assert.ok(ip, 'address reported');
    await remove('observer');
    assert.deepEqual(await writesTo(g0.vmid, from), [], 'no write request reached fakepve for the guest');
    assert.equal((await guest(g0.vmid))?.status, 'running', 'left running');

    // A new image cannot be applied to an adopted guest in place: refused, never replaced.
    await cp.client().patch(INSTANCE, 'adopter', NS, {
      type: 'json',
      patch: [{ op: 'replace', path: '/spec/runtime/sandbox/containers/0/image', value: 'nginx:1.28' }],
    });
    const refused = await programmed('adopter', 'False', 'Unsupported');
    assert.match(refused.message, /image nginx:1\.27 → nginx:1\.28.*never replaced/);
    assert.equal((await guest(g0.vmid))?.name, taken?.name, 'the same guest');

    await remove('adopter');
    assert.equal(await guest(g0.vmid), undefined, 'deleting the adopter deletes the guest');
  });

  it("refuses a guest with another installation's marks, untouched, and reports a missing one as NotFound", async () => {
    const pc = client();
    const vmid = 4242;
    const theirs = `datum-provider:${JSON.stringify({
      owner: { cluster: 'x', namespace: 'y', kind: 'Instance', name: 'z', uid: 'u' },
      id: 'z',
      installation: 'someone-else',
    })}`;
    const upid = await pc.post<string>(
      '/nodes/pve1/lxc',
      {
        vmid,
        hostname: 'theirs',
        ostemplate: 'local:vztmpl/nginx-1.27.tar',
        storage: 'local-lvm',
        rootfs: 'local-lvm:8',
        description: theirs,
      },
      { signal: AbortSignal.timeout(30_000) },
    );
    await pc.waitTask(upid, { signal: AbortSignal.timeout(30_000) });
    const from = await requestCount();
    await create('steal', { [ADOPT_ANNOTATION]: `pve1/lxc/${vmid}` });
    const c = await programmed('steal', 'False', 'AdoptionConflict');
    assert.match(c.message, /another installation/);
    assert.deepEqual(await writesTo(vmid, from), [], 'nothing written to it');
    await remove('steal');
    assert.equal((await guest(vmid))?.name, 'theirs');

    await create('ghost', { [ADOPT_ANNOTATION]: 'pve1/lxc/4343' });
    await programmed('ghost', 'False', 'NotFound');
    await remove('ghost');
  });

  it('adopts a hand-made VM (a clone of the template) for a VM Instance, and refuses it for a sandbox', async () => {
    const pc = client();
    const signal = () => ({ signal: AbortSignal.timeout(30_000) });
    const vmid = 4444;
    const upid = await pc.post<string>(
      '/nodes/pve1/qemu/9000/clone',
      { newid: vmid, name: 'hand-vm' },
      signal(),
    );
    await pc.waitTask(upid, signal());
    const id = `pve1/qemu/${vmid}`;
    const from = await requestCount();
    await create('wrong-kind', { [ADOPT_ANNOTATION]: id });
    const c = await programmed('wrong-kind', 'False', 'InvalidConfiguration');
    assert.match(c.message, /is a VM, but the Instance's runtime needs an LXC container/);
    assert.deepEqual(await writesTo(vmid, from), [], 'nothing written to it');
    await remove('wrong-kind');

    const total = (await guests()).length;
    const inst = await create('vm-adopter', { [ADOPT_ANNOTATION]: id }, { runtime: 'virtualMachine' });
    const ok = await programmed('vm-adopter', 'True', 'Programmed');
    assert.equal(ok.message, `Instance has been programmed as ${id}`);
    await running('vm-adopter');
    assert.equal((await guest(vmid))?.name, guestName(managedBy, instanceId(inst)));
    assert.equal((await guests()).length, total, 'no second guest');
    assert.deepEqual(await plan('vm-adopter'), { action: 'none', details: [] });
    await remove('vm-adopter');
    assert.equal(await guest(vmid), undefined, 'deleted with its Instance');
  });

  it('observe and plan called directly send GET requests only (our request log)', async () => {
    const inst = await create('direct');
    await programmed('direct', 'True', 'Programmed');
    await running('direct');
    // A backend of its own, so its request log holds only these calls.
    // It knows one more instance type, so a plan can be asked for a resize.
    const probeConfig = { ...config, instanceTypes: 'datumcloud/d1-standard-4=4:16384' };
    const probe = createProxmoxBackend({ backendConfig: probeConfig });
    const ctx = {
      credentials: {
        source: 'Secret' as const,
        data: { tokenId: pve.tokenId, tokenSecret: pve.tokenSecret },
      },
      config: probeConfig,
      location: { namespace: NS, name: 'dfw', topology: { 'topology.datum.net/city-code': 'DFW' } },
      log: createLogger({ level: 'error', sink: () => {} }),
      signal: AbortSignal.timeout(30_000),
    };
    const seen = await probe.observeInstance(ctx, { id: instanceId(inst) });
    assert.equal(seen?.powerState, 'running');
    assert.ok(seen?.addresses[0]?.networkIP);
    assert.equal(await probe.observeInstance(ctx, { id: 'nothing-here' }), undefined);
    const [line] = await planInstances({
      client: cp.client(),
      home: cp.client(),
      settings,
      backend: probe,
      log: mgr.log,
      namespace: NS,
      name: 'direct',
    });
    assert.deepEqual([line!.action, line!.details], ['none', []]);
    // What an ensure of a changed spec would do: one line per change, no value from the environment.
    const managed = await probe.listManaged(ctx);
    const changed: InstanceDesired = {
      id: instanceId(inst),
      owner: { cluster: 'c', namespace: NS, kind: 'Instance', name: 'direct', uid: inst.metadata.uid! },
      instanceType: 'datumcloud/d1-standard-4',
      runtime: {
        kind: 'sandbox',
        containers: [
          {
            name: 'app',
            image: 'nginx:1.27',
            env: [{ name: 'GREETING', value: 'env-value-7f3a', sensitive: false }],
            ports: [],
            files: [],
          },
        ],
      },
      interfaces: [
        {
          networkId: managed.find((r) => r.kind === 'network')!.id,
          subnetId: managed.find((r) => r.kind === 'subnet')!.id,
          ingress: [{ ports: [{ protocol: 'TCP', port: 8080 }], from: [] }],
        },
      ],
      sshKeys: [],
      templateHash: 'changed',
    };
    const update = await probe.planInstance(ctx, changed);
    assert.equal(update.action, 'update');
    assert.deepEqual(update.changes.slice(0, 3), [
      'ownership marks (template hash)',
      'cores: 2 → 4',
      'memory: 8192 MiB → 16384 MiB',
    ]);
    assert.match(update.changes[3] ?? '', /^firewall rules \(ingress\): \d+ → \d+$/);
    assert.equal(update.changes.length, 4, update.changes.join(' | '));
    assert.doesNotMatch(update.changes.join('\n'), /env-value-7f3a/);
    const calls = [...probe.calls.keys()];
    assert.ok(calls.length > 0);
    assert.deepEqual(
      calls.filter((k) => !k.startsWith('GET ')),
      [],
      `observe and plan made only GETs: ${calls.join(', ')}`,
    );
    assert.deepEqual(
      await probe.planInstance(ctx, changed),
      update,
      'planning applied nothing: the same plan again',
    );
    await probe.close();
    await remove('direct');
  });
});
