/**
 * Tasks awaited with PropertyCollector WaitForUpdatesEx on vcsim, whose tasks really run asynchronously here
 * (`-method-delay` by task name: the call returns at once, the task ends later): the requests one awaited
 * task costs, against polling the same kind of task (counted per SOAP method by the client's request log);
 * the collector (with its filter) destroyed after success, abort and timeout; an abort ends the wait at once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { toBackendError } from '../../src/backends/vsphere/errors.ts';
import { SoapTransport } from '../../src/backends/vsphere/transport.ts';
import { VimClient, type VimOptions } from '../../src/backends/vsphere/vim.ts';
import type { MoRef } from '../../src/backends/vsphere/xml.ts';
import { startVcsim, type Vcsim } from '../../src/localenv/emulators/vcsim/index.ts';

/** Reset (power off, then on) takes this long after ResetVM_Task returned. */
const RESET_MS = 4000;
let sim: Vcsim;

before(async () => {
  sim = await startVcsim({ methodDelayMs: { Reset: RESET_MS, LockHandoff: 0 } });
});
after(async () => {
  await sim?.stop();
});

function client(options: VimOptions = {}): VimClient {
  return new VimClient(
    new SoapTransport({ endpoint: sim.endpoint, tls: { caPem: sim.caPem } }),
    sim,
    options,
  );
}

async function vm(c: VimClient, name: string): Promise<MoRef> {
  const ref = await c.findByInventoryPath(`/DC0/vm/${name}`);
  assert.ok(ref, name);
  return ref;
}

/** Requests per SOAP method sent while `fn` ran. */
async function counted(c: VimClient, fn: () => Promise<unknown>): Promise<Record<string, number>> {
  const before = new Map(c.transport.calls);
  await fn();
  const out: Record<string, number> = {};
  for (const [op, n] of c.transport.calls)
    if (n - (before.get(op) ?? 0) > 0) out[op] = n - (before.get(op) ?? 0);
  return out;
}

const total = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

describe('vsphere: awaiting tasks', () => {
  it('one awaited task costs a fixed handful of requests with WaitForUpdatesEx, against a poll a second', async () => {
    const updates = client();
    const polling = client({ taskWait: 'poll' });
    try {
      const [a, b] = await Promise.all([vm(updates, 'DC0_H0_VM1'), vm(polling, 'DC0_C0_RP0_VM1')]);
      const started = Date.now();
      const [viaUpdates, viaPolling] = await Promise.all([
        counted(updates, () => updates.runTask('ResetVM_Task', a, '')),
        counted(polling, () => polling.runTask('ResetVM_Task', b, '')),
      ]);
      assert.ok(Date.now() - started >= RESET_MS, 'the tasks ran asynchronously and were awaited');
      console.log(
        `requests per ${RESET_MS} ms task: updates ${JSON.stringify(viaUpdates)}; polling ${JSON.stringify(viaPolling)}`,
      );
      assert.deepEqual(viaUpdates, {
        ResetVM_Task: 1,
        CreatePropertyCollector: 1,
        CreateFilter: 1,
        // The first answer is the task's state (running), the second its end.
        WaitForUpdatesEx: 2,
        DestroyPropertyCollector: 1,
      });
      assert.equal(viaPolling.WaitForUpdatesEx, undefined);
      assert.ok(
        (viaPolling.RetrievePropertiesEx ?? 0) >= 7,
        `polled ${viaPolling.RetrievePropertiesEx} times`,
      );
      assert.ok(total(viaUpdates) < total(viaPolling), 'fewer requests per awaited task');
    } finally {
      await Promise.all([updates.logout(), polling.logout()]);
      await Promise.all([updates.transport.close(), polling.transport.close()]);
    }
  });

  it('an abort ends the wait at once and a timeout gives up retryably; the collector is destroyed both times', async () => {
    const c = client({ taskTimeoutMs: 400 });
    try {
      const target = await vm(c, 'DC0_C0_RP0_VM0');
      const ac = new AbortController();
      const started = Date.now();
      const calls = await counted(c, async () => {
        const p = c.runTask('ResetVM_Task', target, '', ac.signal);
        setTimeout(() => ac.abort(new Error('reconcile cancelled')), 200);
        await assert.rejects(p, /reconcile cancelled/);
      });
      assert.ok(Date.now() - started < RESET_MS - 500, 'the abort did not wait for the task');
      assert.equal(calls.DestroyPropertyCollector, calls.CreatePropertyCollector, 'collector destroyed');

      const other = await vm(c, 'DC0_H0_VM0');
      const timedOut = await counted(c, async () => {
        const moref = await c.startTask('ResetVM_Task', other, '');
        const err = await c.waitForTask(moref, 'ResetVM_Task').then(
          () => assert.fail('a 400 ms budget outlasted the task'),
          (e: unknown) => e,
        );
        const be = toBackendError(err, 'vsphere ensureInstance');
        assert.equal(be.reason, 'Transient');
        assert.equal(be.retryable, true);
        assert.match(be.message, /still running when the wait timed out/);
      });
      assert.equal(timedOut.DestroyPropertyCollector, 1, 'collector destroyed after the timeout');
      assert.ok((timedOut.WaitForUpdatesEx ?? 0) >= 1);
    } finally {
      await c.logout();
      await c.transport.close();
    }
  });
});
