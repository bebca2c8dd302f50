/**
 * vCenter (vcsim) stops in the middle of the provider's work and starts again on the same port, through the
 * provider against a real API server. vcsim keeps its inventory and sessions in memory: a restart loses both
 * (its `-load` could restore a saved inventory, not sessions; a real vCenter keeps its inventory). Shown:
 * - during the outage the provider keeps running and the Instance's Programmed condition says why
 *   (a retryable Transient error: ProgrammingInProgress with the failed call), no login is attempted against
 *   a server that is down;
 * - after the restart the session is re-established by exactly one login, shared by every reconcile;
 * - the provider converges again: what the fresh inventory lacks (the portgroup, the VM) is re-created.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { VsphereBackend } from '../../src/backends/vsphere/index.ts';
import type { VimClient } from '../../src/backends/vsphere/vim.ts';
import { INSTANCE } from '../../src/datum/api/resources.ts';
import type { Instance } from '../../src/datum/api/types.ts';
import { BackendError } from '../../src/datum/backend.ts';
import { instanceId } from '../../src/datum/reconcilers/instance-desired.ts';
import { defaultSettings } from '../../src/datum/settings.ts';
import type { ControlPlane } from '../../src/localenv/controlplane.ts';
import { startVcsim, type Vcsim } from '../../src/localenv/emulators/vcsim/index.ts';
import type { Manager } from '../../src/runtime/manager/manager.ts';
import { instanceObject, seedProject } from '../../src/testkit/contract/fixtures.ts';
import { startProviderUnderTest } from '../../src/testkit/contract/provider-under-test.ts';
import { condOf, eventually } from '../../src/testkit/contract/suite.ts';
import { admin, backendConfig, vmState } from './vsphere-fixtures.ts';

const NS = 'project-r';
// A short resync, so the networks re-ensure their portgroups soon after the simulator lost them.
const settings = { ...defaultSettings(), sweepIntervalSeconds: 3600, resyncSeconds: 2 };

describe('vsphere: vCenter restarts under the provider', () => {
  let sim: Vcsim;
  let cp: ControlPlane;
  let mgr: Manager;
  let backend: VsphereBackend;
  let vim: VimClient;

  before(async () => {
    // Clones take a while, so the restart can land while one is in flight.
    sim = await startVcsim({ methodDelayMs: { CloneVm: 1000, PowerOn: 50, LockHandoff: 0 } });
    backend = new VsphereBackend({ config: backendConfig(sim) });
    ({ cp, mgr } = await startProviderUnderTest({
      backend,
      settings,
      credentials: { username: sim.username, password: sim.password },
    }));
    const _c = cp.client();
    vim = admin(sim);
  });
  after(async () => {
    await mgr?.stop();
    await backend?.close();
    await vim?.transport.close();
    await cp?.stop();
    await sim?.stop();
  });

  it('reports the outage as Transient, logs in again once, and converges on the fresh inventory', async () => {
    const c = cp.client();
    const where = await seedProject(c, NS, {
      name: 'dfw',
      className: settings.locationClassName,
      city: 'DFW',
    });
    const create = (name: string) =>
      c.create<Instance>(
        INSTANCE,
        instanceObject({
          name,
          namespace: NS,
          location: where,
          runtime: 'virtualMachine',
          networkPolicy: false,
        }),
      );
    const get = (name: string) => c.get<Instance>(INSTANCE, name, NS);
    const programmed = (name: string, status: string, reason: string, message?: RegExp) =>
      eventually(async () => {
        const p = condOf(await get(name), 'Programmed');
        return p?.status === status && p.reason === reason && (!message || message.test(p.message))
          ? p
          : undefined;
      }, `${name} Programmed=${status} ${reason}`);
    await create('survivor');
    await programmed('survivor', 'True', 'Programmed');
    const logins = backend.calls.get('Login');
    assert.equal(logins, 1, 'one session so far');

    // Stop vCenter while the provider awaits a clone for a second Instance.
    sim.proxy.reset();
    await create('midway');
    await eventually(
      async () => sim.proxy.log.some((e) => e.op === 'CloneVM_Task'),
      'the clone sent',
      10_000,
    );
    await sim.kill();
    const down = Date.now();
    // More work while it is down: a new template for the first Instance.
    await c.patch(INSTANCE, 'survivor', NS, {
      type: 'merge',
      patch: { spec: { controller: { templateHash: 'hash-2' } } },
    });
    // Transient backend errors are reported as ProgrammingInProgress, with the failed call in the message.
    for (const name of ['survivor', 'midway']) {
      const outage = await programmed(name, 'False', 'ProgrammingInProgress', /HTTP 502/);
      console.log(`${name}: outage reported after ${Date.now() - down} ms: ${outage.message}`);
    }
    // A call of its own meanwhile: a typed, retryable error, not a crash or a hang.
    const err = await backend
      .listManaged({
        credentials: { source: 'Secret', data: { username: sim.username, password: sim.password } },
        config: {},
        location: { namespace: NS, name: 'dfw', topology: {} },
        log: mgr.log,
        signal: new AbortController().signal,
      })
      .then(
        () => assert.fail('listed from a server that is down'),
        (e: unknown) => e,
      );
    assert.ok(err instanceof BackendError, String(err));
    assert.deepEqual([err.reason, err.retryable], ['Transient', true]);
    assert.match(err.message, /HTTP 502/);
    assert.equal(backend.calls.get('Login'), logins, 'no login against a server that is down');
    const clones = backend.calls.get('CloneVM_Task') ?? 0;

    await sim.revive();
    const revived = Date.now();
    for (const name of ['survivor', 'midway']) {
      await programmed(name, 'True', 'Programmed', /programmed as vm-/);
      await eventually(async () => condOf(await get(name), 'Running')?.status === 'True', `${name} Running`);
    }
    console.log(`converged ${Date.now() - revived} ms after the restart`);
    assert.equal(backend.calls.get('Login'), (logins ?? 0) + 1, 'exactly one re-login');
    assert.equal(
      backend.calls.get('CloneVM_Task'),
      clones + 2,
      'both VMs cloned again into the fresh inventory',
    );
    for (const name of ['survivor', 'midway'])
      assert.equal(
        await vmState(vim, `datum-${instanceId(await get(name))}`),
        'poweredOn',
        `${name}: re-created, running, in the fresh inventory`,
      );
  });
});
