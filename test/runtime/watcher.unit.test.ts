/** The watcher's reconnect pacing against a fake client whose watch streams end at once. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import type { Client, WatchEvent } from '../../src/runtime/client/interface.ts';
import type { KubeObject } from '../../src/runtime/client/types.ts';
import { Backoff, runWatcher } from '../../src/runtime/watch/watcher.ts';

const CM = { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };

/** A client that lists nothing and answers every watch with `script(n)`'s events, then ends the stream. */
function fakeClient(script: (n: number) => WatchEvent[] = () => []): { client: Client; watches: number[] } {
  const watches: number[] = [];
  const client = {
    async request() {
      return { items: [], metadata: { resourceVersion: '1' } };
    },
    watch(): AsyncIterable<WatchEvent<KubeObject>> {
      watches.push(performance.now());
      const events = script(watches.length);
      return (async function* () {
        await tick(); // a real stream ends through the event loop, not synchronously
        for (const ev of events) yield ev;
      })();
    },
  } as unknown as Client;
  return { client, watches };
}

/** Backoff that records each delay it hands out and each reset. */
class RecordingBackoff extends Backoff {
  readonly log: (number | 'reset')[] = [];
  override next(now?: number): number {
    const d = super.next(now);
    this.log.push(d);
    return d;
  }
  override reset(): void {
    this.log.push('reset');
    super.reset();
  }
}

async function runFor(client: Client, backoff: Backoff, ms: number): Promise<void> {
  const abort = new AbortController();
  const running = runWatcher({ client, resource: CM, onEvent: () => {}, backoff }, abort.signal);
  await new Promise((r) => setTimeout(r, ms));
  abort.abort();
  await running;
}

describe('watcher reconnects', () => {
  it('backs off when the server ends every watch at once', async () => {
    const { client, watches } = fakeClient();
    await runFor(client, new Backoff(20, 200), 1500);
    // Delays of 10-20, 20-40, 40-80, 80-160, then 100-200 ms: at most ~17 watches in 1.5 s (thousands without).
    assert.ok(watches.length >= 3, `still reconnects (${watches.length} watches)`);
    assert.ok(watches.length <= 25, `${watches.length} watches in 1.5 s`);
    const gaps = watches.slice(1).map((t, i) => t - watches[i]!);
    assert.ok(Math.min(...gaps) >= 9, `no reconnect without a pause (min gap ${Math.min(...gaps)} ms)`);
  });

  it('resets the backoff after a watch that delivered events', async () => {
    const cm = (rv: string) => ({
      type: 'ADDED' as const,
      object: { metadata: { name: 'a', namespace: 'default', resourceVersion: rv } },
    });
    // Watches 1-5 end empty, the 6th delivers an event, the rest end empty again.
    const { client, watches } = fakeClient((n) => (n === 6 ? [cm('7')] : []));
    const backoff = new RecordingBackoff(50, 5000);
    const abort = new AbortController();
    const running = runWatcher({ client, resource: CM, onEvent: () => {}, backoff }, abort.signal);
    const deadline = Date.now() + 10_000;
    while (watches.length < 8 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    abort.abort();
    await running;
    assert.ok(watches.length >= 8, `${watches.length} watches`);
    const delays = backoff.log.slice(0, 7);
    // Five growing delays, a reset after the healthy 6th watch, then the base delay again.
    assert.equal(delays[5], 'reset', `backoff log ${JSON.stringify(delays)}`);
    assert.ok((delays[4] as number) >= 400, `5th delay ${delays[4]} ms`);
    assert.ok((delays[6] as number) <= 50, `delay after the reset ${delays[6]} ms`);
    assert.ok(watches[6]! - watches[5]! < 40, 'a healthy watch reconnects without waiting');
  });
});
