/**
 * The vSphere backend on vcsim under the conditions a real vCenter produces: slow tasks (vcsim -method-delay)
 * awaited, a session terminated server-side (re-login once), a wrong password (CredentialsInvalid without the
 * password), TLS verification (pinned fingerprint, CA bundle, nothing), concurrent creates of one id from two
 * processes' worth of backends, cancellation, retries only where safe, faults mapped to catalogue reasons,
 * and deletion that leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { VimClient } from '../../src/backends/vsphere/vim.ts';
import { arr, el, text } from '../../src/backends/vsphere/xml.ts';
import { BackendError } from '../../src/datum/backend.ts';
import { startVcsim, type Vcsim } from '../../src/localenv/emulators/vcsim/index.ts';
import {
  admin,
  backendConfig,
  harness,
  IMAGE,
  instance,
  inventoryNames,
  network,
  subnet,
  vmState,
} from './vsphere-fixtures.ts';

let sim: Vcsim;
const vmRuntime = { kind: 'virtualMachine' as const, image: IMAGE, diskSizeGiB: 10, ports: [], files: [] };
let vim: VimClient;
// Task names (not method names): the calls return at once and the tasks end later, as on vCenter.
const DELAYS = { CloneVm: 400, PowerOn: 200, PowerOff: 200, Destroy: 300, LockHandoff: 0 };

before(async () => {
  sim = await startVcsim({ methodDelayMs: DELAYS });
  vim = admin(sim);
});
after(async () => {
  await vim?.logout();
  await vim?.transport.close();
  await sim?.stop();
});

/** Polls `fn` (150 ms apart, 20 s at most): observes a state change instead of sleeping for a while. */
async function eventuallyTrue(fn: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (await fn()) return true;
    await new Promise((r) => setTimeout(r, 150));
  }
  return false;
}

describe('vsphere backend on vcsim: faults', () => {
  it('awaits slow clone, power-on and destroy tasks: the VM runs when ensure returns and is gone when delete does', async () => {
    const h = harness(sim);
    try {
      await h.backend.ensureNetwork(h.ctx, network('slow'));
      await h.backend.ensureSubnet(h.ctx, subnet('slow-0', 'slow'));
      const started = Date.now();
      const o = await h.backend.ensureInstance(h.ctx, {
        ...instance('slow-vm', 'slow', 'slow-0'),
        runtime: { ...vmRuntime, diskSizeGiB: 20 },
      });
      assert.ok(Date.now() - started >= DELAYS.CloneVm + DELAYS.PowerOn, 'the delayed tasks were waited for');
      assert.equal(o.powerState, 'running');
      assert.match(o.addresses[0]?.networkIP ?? '', /^10\.128\.0\.\d+$/);
      assert.equal(await vmState(vim, 'datum-slow-vm'), 'poweredOn', 'vcsim says the VM runs');
      const [dev] = await vim.retrieve(
        [{ type: 'VirtualMachine', value: o.providerId }],
        ['config.hardware.device'],
      );
      const disks = dev?.props['config.hardware.device'].VirtualDevice.filter(
        (x: { '@type': string }) => x['@type'] === 'VirtualDisk',
      );
      assert.equal(text(disks[0].capacityInKB), String(20 * 1024 * 1024), 'the boot disk grew to 20 GiB');
      const again = await h.backend.ensureInstance(h.ctx, {
        ...instance('slow-vm', 'slow', 'slow-0'),
        runtime: { ...vmRuntime, diskSizeGiB: 20 },
      });
      assert.equal(again.providerId, o.providerId, 'idempotent by name');
      assert.equal(h.backend.calls.get('CloneVM_Task'), 1);
      assert.deepEqual(await h.backend.deleteInstance(h.ctx, 'slow-vm'), { gone: true });
      assert.equal(await vmState(vim, 'datum-slow-vm'), undefined, 'vcsim no longer has the VM');
      assert.deepEqual(
        await h.backend.deleteInstance(h.ctx, 'slow-vm'),
        { gone: true },
        'deleting a missing VM',
      );
      await h.backend.deleteSubnet(h.ctx, 'slow-0');
      assert.deepEqual(await h.backend.deleteNetwork(h.ctx, 'slow'), { gone: true });
      assert.deepEqual(await inventoryNames(vim), []);
      assert.deepEqual(await h.backend.listManaged(h.ctx), []);
    } finally {
      await h.backend.close();
    }
  });

  it('logs in again once when vCenter ends the session', async () => {
    const h = harness(sim);
    try {
      await h.backend.ensureNetwork(h.ctx, network('relogin'));
      assert.equal(h.backend.calls.get('Login'), 1);
      // End every session but the admin's own, server-side (what an expiry or an operator does).
      const sc = await vim.serviceContent();
      const mine = await vim.sessionKey();
      const [sm] = await vim.retrieve([sc.sessionManager], ['sessionList']);
      const others = arr(sm?.props.sessionList?.UserSession)
        .map((s: { key: unknown }) => text(s.key))
        .filter((k): k is string => !!k && k !== mine);
      assert.ok(others.length >= 1, 'the backend has a session to end');
      await vim.invoke(
        'TerminateSession',
        sc.sessionManager,
        others.map((k: string) => el('sessionId', k)).join(''),
        {
          idempotent: false,
        },
      );
      // Four calls at once all meet the ended session: they share one new login.
      const lists = await Promise.all([1, 2, 3, 4].map(() => h.backend.listManaged(h.ctx)));
      for (const listed of lists) assert.equal(listed.filter((r) => r.kind === 'network').length, 1);
      assert.equal(h.backend.calls.get('Login'), 2, 'exactly one re-login');
      assert.deepEqual(await h.backend.deleteNetwork(h.ctx, 'relogin'), { gone: true });
    } finally {
      await h.backend.close();
    }
  });

  it('reports a wrong password as CredentialsInvalid without the password anywhere in the error', async () => {
    const password = 'wrong-password-9f8e7d';
    const h = harness(sim, { password });
    try {
      const err = await h.backend.listManaged(h.ctx).then(
        () => assert.fail('login succeeded with a wrong password'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof BackendError);
      assert.equal(err.reason, 'CredentialsInvalid');
      assert.match(err.message, /InvalidLogin/);
      const everything = JSON.stringify({ m: err.message, s: err.stack, c: err.cause });
      assert.equal(everything.includes(password), false);
      assert.equal(everything.includes(sim.password), false);
    } finally {
      await h.backend.close();
    }
  });

  it('verifies TLS: a wrong pinned fingerprint and an unknown self-signed certificate are refused, a CA bundle works', async () => {
    const wrong = harness(sim, { config: backendConfig(sim, { fingerprintSha256: 'AB'.repeat(32) }) });
    const none = harness(sim, { config: { ...backendConfig(sim), fingerprintSha256: '' } });
    const ca = harness(sim, {
      config: { ...backendConfig(sim), fingerprintSha256: '', caBundle: sim.caPem },
    });
    try {
      for (const h of [wrong, none]) {
        const err = await h.backend.listManaged(h.ctx).then(
          () => assert.fail('an unverified server was trusted'),
          (e: unknown) => e,
        );
        assert.ok(err instanceof BackendError);
        assert.equal(err.reason, 'InvalidConfiguration');
        assert.match(err.message, /fingerprint|not trusted/);
      }
      assert.equal(wrong.backend.calls.get('Login') ?? 0, 0, 'no credentials sent to an unverified server');
      assert.deepEqual(await ca.backend.listManaged(ca.ctx), []);
    } finally {
      await Promise.all([wrong, none, ca].map((h) => h.backend.close()));
    }
  });

  it('creates one VM when two backends (two processes) ensure the same id at once', async () => {
    const a = harness(sim);
    const b = harness(sim);
    b.ctx.installation = a.ctx.installation;
    try {
      await a.backend.ensureNetwork(a.ctx, network('race'));
      await a.backend.ensureSubnet(a.ctx, subnet('race-0', 'race'));
      const d = instance('race-vm', 'race', 'race-0');
      const [x, y] = await Promise.all([
        a.backend.ensureInstance(a.ctx, d),
        b.backend.ensureInstance(b.ctx, d),
      ]);
      assert.equal(x.providerId, y.providerId);
      assert.deepEqual(
        (await inventoryNames(vim)).filter((n) => n === 'datum-race-vm'),
        ['datum-race-vm'],
        'one VM in vcsim',
      );
      assert.equal((await a.backend.listManaged(a.ctx)).filter((r) => r.kind === 'instance').length, 1);
      await a.backend.deleteInstance(a.ctx, 'race-vm');
      await a.backend.deleteSubnet(a.ctx, 'race-0');
      await a.backend.deleteNetwork(a.ctx, 'race');
      assert.deepEqual(await inventoryNames(vim), []);
    } finally {
      await Promise.all([a.backend.close(), b.backend.close()]);
    }
  });

  it('stops waiting when the caller aborts', async () => {
    const ac = new AbortController();
    const h = harness(sim, { signal: ac.signal });
    const setup = harness(sim);
    setup.ctx.installation = h.ctx.installation;
    try {
      await setup.backend.ensureNetwork(setup.ctx, network('abort'));
      await setup.backend.ensureSubnet(setup.ctx, subnet('abort-0', 'abort'));
      const p = h.backend.ensureInstance(h.ctx, instance('abort-vm', 'abort', 'abort-0'));
      // Cancel once the clone has been sent (seen by the proxy), while its task runs in vcsim.
      sim.proxy.reset();
      const watch = setInterval(() => {
        if (sim.proxy.log.some((e) => e.op === 'CloneVM_Task')) {
          clearInterval(watch);
          ac.abort(new Error('reconcile cancelled'));
        }
      }, 5);
      await assert.rejects(p, /reconcile cancelled/);
      // The clone goes on in vcsim; the backend marks the VM when it appears, so it is never an unmarked
      // leftover: it shows up as ours (for the next reconcile to adopt, or the orphan sweep to delete).
      const listed = await eventuallyTrue(async () =>
        (await setup.backend.listManaged(setup.ctx)).some(
          (r) => r.kind === 'instance' && r.id === 'abort-vm',
        ),
      );
      assert.ok(listed, 'the VM of the abandoned clone carries our mark');
      assert.deepEqual(await setup.backend.deleteInstance(setup.ctx, 'abort-vm'), { gone: true });
      assert.equal(await vmState(vim, 'datum-abort-vm'), undefined);
      await setup.backend.deleteSubnet(setup.ctx, 'abort-0');
      await setup.backend.deleteNetwork(setup.ctx, 'abort');
    } finally {
      await Promise.all([h.backend.close(), setup.backend.close()]);
    }
  });

  it('retries reads through HTTP 503s but never sends a create twice', async () => {
    const h = harness(sim);
    try {
      await h.backend.ensureNetwork(h.ctx, network('flaky'));
      await h.backend.ensureSubnet(h.ctx, subnet('flaky-0', 'flaky'));
      sim.proxy.reset();
      sim.proxy.plan({ op: 'FindByInventoryPath', fault: { kind: 'http', status: 503 }, times: 2 });
      sim.proxy.plan({ op: 'CloneVM_Task', fault: { kind: 'http', status: 503 }, times: 1 });
      const err = await h.backend.ensureInstance(h.ctx, instance('flaky-vm', 'flaky', 'flaky-0')).then(
        () => assert.fail('the injected 503 on the clone was swallowed'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof BackendError);
      assert.equal(err.reason, 'Transient');
      assert.equal(err.retryable, true);
      const ops = sim.proxy.log.map((e) => `${e.op}${e.faulted ? '!' : ''}`);
      assert.deepEqual(
        ops.filter((o) => o.startsWith('FindByInventoryPath')).slice(0, 3),
        ['FindByInventoryPath!', 'FindByInventoryPath!', 'FindByInventoryPath'],
        'the read was retried',
      );
      assert.deepEqual(
        ops.filter((o) => o.startsWith('CloneVM_Task')),
        ['CloneVM_Task!'],
        'the clone was sent once',
      );
      const o = await h.backend.ensureInstance(h.ctx, instance('flaky-vm', 'flaky', 'flaky-0'));
      assert.equal(o.powerState, 'running', 'the next reconcile converges');
      await h.backend.deleteInstance(h.ctx, 'flaky-vm');
      await h.backend.deleteSubnet(h.ctx, 'flaky-0');
      await h.backend.deleteNetwork(h.ctx, 'flaky');
    } finally {
      await h.backend.close();
    }
  });

  it('maps faults from vCenter to catalogue reasons through the real SOAP path', async () => {
    const h = harness(sim);
    try {
      await h.backend.ensureNetwork(h.ctx, network('faulty'));
      await h.backend.ensureSubnet(h.ctx, subnet('faulty-0', 'faulty'));
      const cases: [string, string, boolean][] = [
        ['InsufficientMemoryResourcesFault', 'QuotaExceeded', true],
        ['TaskInProgress', 'Transient', true],
        ['InvalidArgument', 'InvalidConfiguration', false],
        ['NoPermission', 'CredentialsInvalid', false],
      ];
      for (const [type, reason, retryable] of cases) {
        sim.proxy.plan({
          op: 'CloneVM_Task',
          fault: { kind: 'fault', type, message: `injected ${type}` },
          times: 1,
        });
        await assert.rejects(h.backend.ensureInstance(h.ctx, instance('faulty-vm', 'faulty', 'faulty-0')), {
          name: 'BackendError',
          reason,
          retryable,
          message: new RegExp(`CloneVM_Task: ${type}: injected ${type}`),
        });
      }
      assert.equal(
        (await h.backend.ensureInstance(h.ctx, instance('faulty-vm', 'faulty', 'faulty-0'))).powerState,
        'running',
      );
      await h.backend.deleteInstance(h.ctx, 'faulty-vm');
      await h.backend.deleteSubnet(h.ctx, 'faulty-0');
      await h.backend.deleteNetwork(h.ctx, 'faulty');
    } finally {
      await h.backend.close();
    }
  });
});
