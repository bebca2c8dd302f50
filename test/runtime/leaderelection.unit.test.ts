/** The lease renewal bound, against an in-memory Lease store that can start hanging (no control plane). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NotFoundError } from '../../src/runtime/client/errors.ts';
import type { Client, RequestOptions } from '../../src/runtime/client/interface.ts';
import type { KubeObject } from '../../src/runtime/client/types.ts';
import { LeaderElector } from '../../src/runtime/leaderelection/leaderelection.ts';

/** One Lease in memory. While `hanging`, requests never answer; they end only when their signal aborts. */
function fakeLeaseClient() {
  const state = { lease: undefined as KubeObject | undefined, rv: 0, hanging: false, unsignalled: 0 };
  const call = <T>(opts: RequestOptions | undefined, fn: () => T): Promise<T> => {
    if (!opts?.signal) state.unsignalled++;
    if (!state.hanging) return Promise.resolve().then(fn);
    return new Promise((_, reject) => {
      opts?.signal?.addEventListener('abort', () => reject(opts.signal?.reason), { once: true });
    });
  };
  const notFound = () => new NotFoundError(404, 'NotFound', 'leases "lock" not found');
  const store = (obj: KubeObject) => {
    state.lease = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++state.rv) } };
    return state.lease;
  };
  const client = {
    get: (_r: unknown, _n: string, _ns?: string, opts?: RequestOptions) =>
      call(opts, () => {
        if (!state.lease) throw notFound();
        return state.lease;
      }),
    create: (_r: unknown, obj: KubeObject, opts?: RequestOptions) => call(opts, () => store(obj)),
    update: (_r: unknown, obj: KubeObject, opts?: RequestOptions) => call(opts, () => store(obj)),
  } as unknown as Client;
  return { client, state };
}

describe('leader election renew deadline', () => {
  it('stops leading by the renew deadline when the API server stops answering', async () => {
    const { client, state } = fakeLeaseClient();
    const elector = new LeaderElector(client, {
      namespace: 'default',
      name: 'lock',
      identity: 'me',
      leaseDurationMs: 1500,
      renewDeadlineMs: 1000,
      retryPeriodMs: 100,
    });
    const abort = new AbortController();
    let startedAt = 0;
    let stoppedAt = 0;
    const running = elector.run(
      {
        onStartedLeading: () => {
          startedAt = performance.now();
        },
        onStoppedLeading: () => {
          stoppedAt = performance.now();
          abort.abort(); // do not campaign again
        },
      },
      abort.signal,
    );
    try {
      const leadBy = Date.now() + 5000;
      while (!startedAt && Date.now() < leadBy) await new Promise((r) => setTimeout(r, 10));
      assert.ok(startedAt, 'became leader');
      await new Promise((r) => setTimeout(r, 350)); // a few renewals
      const hungAt = performance.now();
      state.hanging = true;
      const deadline = Date.now() + 5000;
      while (!stoppedAt && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.ok(stoppedAt, 'stopped leading while the renewal hung');
      // The last successful renewal started at most one retry period (+ slack) before the hang.
      const after = stoppedAt - hungAt;
      // Slack for timers on a loaded machine; without the bound it would wait for the hung request forever.
      assert.ok(after <= 1000 + 300, `stopped ${Math.round(after)} ms after the hang (deadline 1000 ms)`);
      assert.ok(after >= 1000 - 400, `not long before the deadline (${Math.round(after)} ms)`);
      assert.equal(state.unsignalled, 0, 'every lease request can be aborted');
    } finally {
      abort.abort();
      // Bounded: an elector stuck in a request that ignores its signal would never return.
      await Promise.race([running, new Promise((r) => setTimeout(r, 3000))]);
    }
  });
});
