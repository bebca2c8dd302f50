/** Work queue bookkeeping and the retry metric: what counts as a retry and what drop() forgets. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyOutcome } from '../../src/runtime/controller/outcome.ts';
import { RuntimeMetrics } from '../../src/runtime/metrics/metrics.ts';
import { ExponentialRateLimiter } from '../../src/runtime/queue/ratelimiter.ts';
import { WorkQueue } from '../../src/runtime/queue/workqueue.ts';

async function counter(m: RuntimeMetrics, name: string, labels: Record<string, string>): Promise<number> {
  const metric = (await m.registry.getSingleMetric(name)?.get()) as
    | { values: { labels: Record<string, string>; value: number }[] }
    | undefined;
  const v = metric?.values.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
  return v?.value ?? 0;
}

describe('work queue drop()', () => {
  it('forgets the backoff of dropped keys and only of those', () => {
    const rl = new ExponentialRateLimiter<string>();
    const q = new WorkQueue<string>({ rateLimiter: rl });
    for (let i = 0; i < 4; i++) {
      q.addRateLimited('gone/ns/a');
      q.addRateLimited('kept/ns/b');
    }
    assert.equal(rl.retries('gone/ns/a'), 4);
    q.drop((k) => k.startsWith('gone/'));
    assert.equal(rl.retries('gone/ns/a'), 0, 'backoff of a dropped key is forgotten');
    assert.equal(rl.retries('kept/ns/b'), 4, 'other keys keep their backoff');
    // The next failure of a key that comes back starts at the base delay again.
    assert.equal(q.addRateLimited('gone/ns/a'), rl.baseMs);
    q.shutDown();
  });

  it('drops a key re-added while it was processing, so done() does not bring it back', async () => {
    const q = new WorkQueue<string>();
    q.add('gone/ns/a');
    assert.equal(await q.get(), 'gone/ns/a');
    q.add('gone/ns/a'); // an event while the reconcile runs
    q.drop((k) => k.startsWith('gone/'));
    q.done('gone/ns/a');
    assert.equal(q.length, 0);
    q.shutDown();
  });
});

describe('work queue shutDown()', () => {
  it('hands out no more work, even with keys still queued', async () => {
    const q = new WorkQueue<string>();
    q.add('a');
    q.add('b');
    assert.equal(await q.get(), 'a');
    q.shutDown();
    assert.equal(await q.get(), undefined, 'a stopping controller starts no new reconcile');
    q.done('a');
    assert.equal(await q.get(), undefined);
  });
});

describe('retries metric', () => {
  const setup = () => {
    const metrics = new RuntimeMetrics({ defaultMetrics: false });
    const queue = new WorkQueue<string>({ metrics: metrics.queueMetrics('c') });
    return { metrics, queue };
  };
  const retries = (m: RuntimeMetrics) => counter(m, 'workqueue_retries_total', { controller: 'c' });
  const total = (m: RuntimeMetrics, result: string) =>
    counter(m, 'controller_runtime_reconcile_total', { controller: 'c', result });

  it('does not count periodic resyncs (requeueAfter) as retries', async () => {
    const { metrics, queue } = setup();
    for (let i = 0; i < 5; i++)
      applyOutcome('k', { kind: 'ok', result: { requeueAfter: 60_000 } }, queue, metrics, 'c');
    applyOutcome('k', { kind: 'ok' }, queue, metrics, 'c');
    assert.equal(await retries(metrics), 0);
    assert.equal(await total(metrics, 'requeue_after'), 5);
    assert.equal(await total(metrics, 'success'), 1);
    assert.equal(queue.rateLimiter.retries('k'), 0, 'a resync leaves no backoff behind');
    queue.shutDown();
  });

  it('counts errors and explicit requeues, each with per-item backoff', async () => {
    const { metrics, queue } = setup();
    applyOutcome('k', { kind: 'error', error: new Error('boom') }, queue, metrics, 'c');
    applyOutcome('k', { kind: 'error', error: new Error('boom') }, queue, metrics, 'c');
    applyOutcome('k', { kind: 'ok', result: { requeue: true } }, queue, metrics, 'c');
    assert.equal(await retries(metrics), 3);
    assert.equal(await total(metrics, 'error'), 2);
    assert.equal(await total(metrics, 'requeue'), 1);
    assert.equal(queue.rateLimiter.retries('k'), 3);
    // requeueAfter wins over requeue, as in controller-runtime, and resets the backoff.
    applyOutcome('k', { kind: 'ok', result: { requeue: true, requeueAfter: 1000 } }, queue, metrics, 'c');
    assert.equal(await retries(metrics), 3);
    assert.equal(queue.rateLimiter.retries('k'), 0);
    queue.shutDown();
  });

  it('clamps the backoff to the given bounds (throttling hint, unsynced cache cap)', async () => {
    const { metrics, queue } = setup();
    assert.equal(queue.addRateLimited('k', { minMs: 2000 }), 2000);
    for (let i = 0; i < 20; i++) queue.addRateLimited('k');
    assert.equal(queue.addRateLimited('k', { maxMs: 5000 }), 5000);
    assert.equal(await retries(metrics), 22);
    queue.shutDown();
  });
});
