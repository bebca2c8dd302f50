/**
 * A Proxmox API restart in the middle of the provider's work (fakepve, provider on a real API server).
 * fakepve keeps its state in memory only (no state file in 0.5.0): a process restart would be a new, empty
 * cluster, which is not what a PVE restart is. So the API listener is stopped and started again on the same
 * port inside the process (`api_down` / `api_up`) while the container-create tasks it started keep running:
 * what a pveproxy/pvedaemon restart or a node's API outage looks like to a client. The test proves:
 * - calls during the outage fail as retryable Transient errors naming the refused connection, and the
 *   Instances' Programmed condition says why (no crash: the same provider converges them afterwards);
 * - after the restart both Instances converge with one guest each, and nothing of ours is orphaned; the
 *   backend, back while a container was still being created (PVE names it only when the task ends), waits for
 *   it instead of creating a second one past its VMID (a duplicate this test found before the fix).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createProxmoxBackend, type ProxmoxBackend } from '../../src/backends/proxmox/index.ts';
import { guestName } from '../../src/backends/proxmox/names.ts';
import { INSTANCE } from '../../src/datum/api/resources.ts';
import type { Instance } from '../../src/datum/api/types.ts';
import { BackendError, type InstanceDesired } from '../../src/datum/backend.ts';
import { instanceId } from '../../src/datum/reconcilers/instance-desired.ts';
import { defaultSettings } from '../../src/datum/settings.ts';
import type { ControlPlane } from '../../src/localenv/controlplane.ts';
import { type FakePve, startFakePve } from '../../src/localenv/emulators/fakepve/index.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';
import type { Manager } from '../../src/runtime/manager/manager.ts';
import { instanceObject, seedProject } from '../../src/testkit/contract/fixtures.ts';
import { startProviderUnderTest } from '../../src/testkit/contract/provider-under-test.ts';
import { condOf, eventually } from '../../src/testkit/contract/suite.ts';
import { proxmoxConfig } from './proxmox-fixtures.ts';

const NS = 'project-r';
const settings = { ...defaultSettings(), sweepIntervalSeconds: 3600 };

describe('proxmox: the API restarts while Instances converge', { timeout: 180_000 }, () => {
  let pve: FakePve;
  let cp: ControlPlane;
  let mgr: Manager;
  let backend: ProxmoxBackend;
  let config: Record<string, string>;
  let where: { name: string; namespace: string };
  const managedBy = `restart-${randomUUID().slice(0, 8)}`;

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
    await pve?.control({ op: 'api_up' }).catch(() => undefined);
    await mgr?.stop();
    await cp?.stop();
    await backend?.close();
    await pve?.stop();
  });

  const get = (name: string) => cp.client().get<Instance>(INSTANCE, name, NS);
  const ctx = () => ({
    credentials: { source: 'Secret' as const, data: { tokenId: pve.tokenId, tokenSecret: pve.tokenSecret } },
    config,
    location: { namespace: NS, name: 'dfw', topology: { 'topology.datum.net/city-code': 'DFW' } },
    log: createLogger({ level: 'error', sink: () => {} }),
    signal: AbortSignal.timeout(30_000),
  });
  const guests = () =>
    pve.control<{ vmid: number; name: string; tags: string; lock?: string }[]>({ op: 'guests' });

  it('rides out the outage (Transient, condition says why) and converges without duplicates or orphans', async (t) => {
    // Wait for the networking first, so the outage hits the guests' creation.
    await eventually(async () => {
      const subs = await backend.listManaged(ctx());
      return subs.some((r) => r.kind === 'subnet');
    }, 'subnet programmed');
    // Each container create takes 3 s of real time (300 PVE seconds at the launcher's time scale 0.01). Creates
    // on one subnet take turns (its address lock), so the outage starts during the first one.
    await pve.control({ op: 'task_secs', kind: 'create', secs: 300 });
    const names = ['r-0', 'r-1'];
    const made = await Promise.all(
      names.map((name) =>
        cp.client().create<Instance>(INSTANCE, instanceObject({ name, namespace: NS, location: where })),
      ),
    );
    const creates = async () =>
      (await pve.control<[string, string][]>({ op: 'requests' })).filter(
        ([m, p]) => m === 'POST' && /\/lxc$/.test(p),
      ).length;
    const refusedCreates = async () =>
      (await pve.control<[string, string, number, string][]>({ op: 'refusals' })).filter(
        ([m, p, , msg]) => m === 'POST' && /\/lxc$/.test(p) && /already exists/.test(msg),
      ).length;
    await eventually(async () => (await creates()) >= 1, 'a create sent');
    await pve.control({ op: 'api_down' });
    const locked = (await guests()).filter((g) => g.lock === 'create').length;
    t.diagnostic(`guests being created when the API went down: ${locked}`);
    assert.ok(locked >= 1, 'the outage began during a create task');
    const downAt = Date.now();

    const err = await backend.listManaged(ctx()).catch((e: unknown) => e);
    assert.ok(err instanceof BackendError, `${err}`);
    assert.equal(err.reason, 'Transient');
    assert.equal(err.retryable, true);
    assert.match(err.message, /connection failed.*ECONNREFUSED/);
    // The provider reports why, on the Instances it was converging. The API stays down until both say so: every
    // ensure in flight (the one waiting for its task too) has failed.
    const seen: string[] = [];
    const conds = await eventually(
      async () => {
        const out = [];
        for (const name of names) {
          const c = condOf(await get(name), 'Programmed');
          seen.push(`${name} ${c?.status} ${c?.reason}: ${c?.message}`);
          if (c?.status === 'False' && /ECONNREFUSED/.test(c.message)) out.push(c);
        }
        return out.length === names.length ? out : undefined;
      },
      'both Instances say the API refused connections',
      20_000,
    ).catch((e) => {
      throw new Error(`${e}; seen: ${[...new Set(seen)].join(' | ')}`);
    });
    const cond = conds[0]!;
    t.diagnostic(`Programmed=False ${cond.reason}: ${cond.message}`);
    for (const c of conds) assert.equal(c.reason, 'ProgrammingInProgress');

    await pve.control({ op: 'api_up' });
    t.diagnostic(`API down for ${Date.now() - downAt} ms`);
    for (const name of names)
      await eventually(async () => {
        const i = await get(name);
        return condOf(i, 'Programmed')?.status === 'True' && condOf(i, 'Running')?.status === 'True';
      }, `${name} Programmed and Running after the restart`);

    const ours = (await guests()).filter((g) => g.name.startsWith('dp-'));
    assert.deepEqual(
      ours.map((g) => g.name).sort(),
      made.map((i) => guestName(managedBy, instanceId(i))).sort(),
      'one guest per Instance',
    );
    // A create that came back while its container was still being created was refused on that VMID (the next
    // test makes that case certain); every other create made one guest.
    const refused = await refusedCreates();
    t.diagnostic(`creates refused with "already exists": ${refused}`);
    assert.equal((await creates()) - refused, names.length, 'exactly one create per Instance succeeded');
    const managed = (await backend.listManaged(ctx())).filter((r) => r.kind === 'instance');
    assert.deepEqual(
      managed.map((r) => r.id).sort(),
      made.map((i) => instanceId(i)).sort(),
      'nothing orphaned: every guest of ours belongs to a live Instance',
    );

    for (const name of names) await cp.client().delete(INSTANCE, name, NS);
    await eventually(async () => (await guests()).every((g) => !g.name.startsWith('dp-')), 'guests deleted');
  });

  it('an ensure back while its container is still being created waits for it instead of making a second', async () => {
    // The backend directly, on a network of its own (the provider never sees these ids).
    const owner = (name: string) => ({
      cluster: 'c',
      namespace: 'n',
      kind: 'Instance' as const,
      name,
      uid: name,
    });
    await backend.ensureNetwork(ctx(), {
      id: 'rnet',
      owner: owner('rnet'),
      ipv4Cidr: '10.128.0.0/9',
      mtu: 1500,
    });
    await backend.ensureSubnet(ctx(), {
      id: 'rsub',
      owner: owner('rsub'),
      networkId: 'rnet',
      cidr: '10.140.0.0/24',
    });
    const d: InstanceDesired = {
      id: 'direct-0',
      owner: owner('direct-0'),
      instanceType: 'datumcloud/d1-standard-2',
      runtime: {
        kind: 'sandbox',
        containers: [{ name: 'app', image: 'nginx:1.27', env: [], ports: [], files: [] }],
      },
      interfaces: [{ networkId: 'rnet', subnetId: 'rsub', ingress: [] }],
      sshKeys: [],
      templateHash: 'h1',
    };
    await pve.control({ op: 'task_secs', kind: 'create', secs: 400 });
    const before = (await pve.control<unknown[]>({ op: 'requests' })).length;
    const first = backend.ensureInstance(ctx(), d).catch((e: unknown) => e);
    await eventually(
      async () =>
        (await pve.control<[string, string][]>({ op: 'requests' }))
          .slice(before)
          .some(([m, p]) => m === 'POST' && /\/lxc$/.test(p)),
      'the create sent',
      10_000,
    );
    await pve.control({ op: 'api_down' });
    const lost = await first;
    await pve.control({ op: 'api_up' });
    assert.ok(lost instanceof BackendError && lost.reason === 'Transient', `${lost}`);
    assert.match(lost.message, /create the container: connection failed/);
    const name = guestName(managedBy, 'direct-0');
    const creating = (await guests()).filter((g) => g.lock === 'create');
    assert.equal(creating.length, 1, 'PVE is still creating it, without its name yet');
    assert.notEqual(creating[0]!.name, name);
    // Back at once: PVE refuses the create on that VMID, and the backend waits instead of probing past it.
    const again = await backend.ensureInstance(ctx(), d).catch((e: unknown) => e);
    assert.ok(again instanceof BackendError && again.retryable, `${again}`);
    assert.match(again.message, /is being created/);
    const done = await eventually(
      () => backend.ensureInstance(ctx(), d).catch(() => undefined),
      'converged after the create task',
      20_000,
    );
    assert.equal(done.powerState, 'running');
    assert.deepEqual(
      (await guests()).filter((g) => g.name === name).map((g) => g.vmid),
      [creating[0]!.vmid],
      'one guest, the one PVE was creating',
    );
    for (let i = 0; i < 40 && !(await backend.deleteInstance(ctx(), 'direct-0')).gone; i++)
      await new Promise((r) => setTimeout(r, 100));
    await backend.deleteSubnet(ctx(), 'rsub');
    await backend.deleteNetwork(ctx(), 'rnet');
  });
});
