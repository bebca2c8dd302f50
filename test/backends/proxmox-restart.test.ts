/**
 * A Proxmox API restart in the middle of the provider's work (fakepve, provider on a real API server).
 * fakepve keeps its state in memory only (no state file in 0.5.0): a process restart would be a new, empty
 * cluster, which is not what a PVE restart is. So the API listener is stopped and started again on the same
 * port inside the process (`api_down` / `api_up`) while the container-create tasks it started keep running:
 * what a pveproxy/pvedaemon restart or a node's API outage looks like to a client. The test proves:
 * - calls during the outage fail as retryable Transient errors naming the refused connection, and the
 *   Instances' Programmed condition says why (no crash: the same provider converges them afterwards);
 * - after the restart both Instances converge with one guest each, and nothing of ours is orphaned.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createProxmoxBackend, type ProxmoxBackend } from '../../src/backends/proxmox/index.ts';
import { guestName } from '../../src/backends/proxmox/names.ts';
import { INSTANCE, SECRET } from '../../src/datum/api/resources.ts';
import type { Instance } from '../../src/datum/api/types.ts';
import { BackendError } from '../../src/datum/backend.ts';
import { registerProvider } from '../../src/datum/provider.ts';
import { PROVIDER_CONFIG } from '../../src/datum/providerconfig.ts';
import { instanceId } from '../../src/datum/reconcilers/instance-desired.ts';
import { defaultSettings } from '../../src/datum/settings.ts';
import { ControlPlane, DATUM_CRDS } from '../../src/localenv/controlplane.ts';
import { type FakePve, startFakePve } from '../../src/localenv/emulators/fakepve/index.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';
import { Manager } from '../../src/runtime/manager/manager.ts';
import { ensureNamespace, instanceObject, seedProject } from '../../src/testkit/contract/fixtures.ts';
import { condOf, eventually, OUR_CRDS } from '../../src/testkit/contract/suite.ts';
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
    cp = await ControlPlane.start({ crdDirs: [DATUM_CRDS.compute, DATUM_CRDS.networkClassic, OUR_CRDS] });
    const c = cp.client();
    await ensureNamespace(c, 'provider-system');
    await c.create(SECRET, {
      metadata: { name: 'pve', namespace: 'provider-system' },
      stringData: { tokenId: pve.tokenId, tokenSecret: pve.tokenSecret },
    });
    await c.create(PROVIDER_CONFIG, {
      metadata: { name: 'default' },
      spec: { credentials: { source: 'Secret', secretRef: { namespace: 'provider-system', name: 'pve' } } },
    });
    backend = createProxmoxBackend({ backendConfig: config });
    mgr = new Manager({ log: createLogger({ level: 'error', sink: () => {} }) });
    await mgr.engage('single', cp.connection);
    registerProvider(mgr, { backend, settings, home: c });
    await mgr.start();
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
    // Each container create takes 3 s of real time (300 PVE seconds at the launcher's time scale 0.01).
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
    await eventually(async () => (await creates()) >= names.length, 'both creates sent');
    const locked = (await guests()).filter((g) => g.lock === 'create').length;
    t.diagnostic(`guests still being created when the API went down: ${locked}`);
    await pve.control({ op: 'api_down' });
    const downAt = Date.now();

    const err = await backend.listManaged(ctx()).catch((e: unknown) => e);
    assert.ok(err instanceof BackendError, `${err}`);
    assert.equal(err.reason, 'Transient');
    assert.equal(err.retryable, true);
    assert.match(err.message, /connection failed.*ECONNREFUSED/);
    // The provider reports why, on the Instances it was converging.
    const cond = await eventually(async () => {
      const c = condOf(await get('r-0'), 'Programmed');
      return c?.status === 'False' && /ECONNREFUSED/.test(c.message) ? c : undefined;
    }, 'r-0 says the API refused connections');
    t.diagnostic(`Programmed=False ${cond.reason}: ${cond.message}`);
    assert.equal(cond.reason, 'ProgrammingInProgress');

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
    assert.equal(await creates(), names.length, 'no create was repeated');
    const managed = (await backend.listManaged(ctx())).filter((r) => r.kind === 'instance');
    assert.deepEqual(
      managed.map((r) => r.id).sort(),
      made.map((i) => instanceId(i)).sort(),
      'nothing orphaned: every guest of ours belongs to a live Instance',
    );

    for (const name of names) await cp.client().delete(INSTANCE, name, NS);
    await eventually(async () => (await guests()).every((g) => !g.name.startsWith('dp-')), 'guests deleted');
  });
});
