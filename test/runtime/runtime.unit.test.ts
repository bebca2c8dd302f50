import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { describe, it } from 'node:test';
import { Store } from '../../src/runtime/cache/indexer.ts';
import { parseSelector, selectorMatches } from '../../src/runtime/cache/selector.ts';
import { createClient } from '../../src/runtime/client/client.ts';
import { GoneError, isConflict, isNotFound, TooManyRequestsError } from '../../src/runtime/client/errors.ts';
import { decide } from '../../src/runtime/controller/outcome.ts';
import { annotationsChangedIgnoring, generationChanged } from '../../src/runtime/controller/predicates.ts';
import { TerminalError } from '../../src/runtime/controller/reconcile.ts';
import { ExponentialRateLimiter } from '../../src/runtime/queue/ratelimiter.ts';
import { WorkQueue } from '../../src/runtime/queue/workqueue.ts';
import { conditionsEqual, mergeConditions, setCondition } from '../../src/runtime/util/conditions.ts';
import { Backoff, onError } from '../../src/runtime/watch/watcher.ts';

const CM = { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };

describe('work queue', () => {
  it('de-duplicates, never hands out a key being processed, and requeues it after done', async () => {
    const q = new WorkQueue<string>();
    q.add('a');
    q.add('a');
    q.add('b');
    assert.equal(q.length, 2);
    const k = await q.get();
    assert.equal(k, 'a');
    q.add('a'); // while processing
    assert.equal(await q.get(), 'b');
    let got: string | undefined;
    void q.get().then((x) => {
      got = x;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(got, undefined, 'a is not handed out while processing');
    q.done('a');
    await new Promise((r) => setImmediate(r));
    assert.equal(got, 'a', 'a comes back after done');
  });

  it('backs off per item exponentially from 5 ms to a 1000 s cap, and forget resets it', () => {
    const rl = new ExponentialRateLimiter<string>();
    assert.deepEqual([rl.when('x'), rl.when('x'), rl.when('x')], [5, 10, 20]);
    for (let i = 0; i < 40; i++) rl.when('x');
    assert.equal(rl.when('x'), 1_000_000);
    rl.forget('x');
    assert.equal(rl.when('x'), 5);
  });

  it('delivers delayed adds after the delay and shuts down waiters', async () => {
    const q = new WorkQueue<string>();
    const t0 = Date.now();
    q.addAfter('later', 50);
    assert.equal(await q.get(), 'later');
    assert.ok(Date.now() - t0 >= 45);
    const waiting = q.get();
    q.shutDown();
    assert.equal(await waiting, undefined);
  });
});

describe('outcome mapping', () => {
  it('maps each reconcile outcome to one queue action', () => {
    assert.equal(decide({ kind: 'ok' }).queue.action, 'forget');
    assert.deepEqual(decide({ kind: 'ok', result: { requeueAfter: 500 } }).queue, {
      action: 'requeueAfter',
      ms: 500,
    });
    assert.equal(decide({ kind: 'error', error: new TerminalError('bad input') }).terminal, true);
    assert.deepEqual(
      decide({ kind: 'error', error: Object.assign(new Error('throttled'), { retryAfterMs: 2000 }) }).queue,
      {
        action: 'backoff',
        minMs: 2000,
      },
    );
  });
});

describe('selectors, store and predicates', () => {
  it('parses and matches kubectl label selectors', () => {
    assert.equal(parseSelector('a=b, c!=d, e in (x,y), f notin (z), g, !h').length, 6);
    assert.ok(selectorMatches('env in (prod,stage),!debug', { env: 'prod' }));
    assert.ok(!selectorMatches('env in (prod,stage),!debug', { env: 'prod', debug: '1' }));
    assert.ok(selectorMatches('tier!=db', {}));
    assert.throws(() => parseSelector('a b c'), /invalid label selector/);
  });

  it('keeps indexes consistent through updates and deletes', () => {
    const s = new Store();
    s.addIndex('owner', (o) => [o.metadata.labels?.owner ?? '']);
    s.upsert({ metadata: { name: 'x', namespace: 'n', labels: { owner: 'a' } } });
    s.upsert({ metadata: { name: 'x', namespace: 'n', labels: { owner: 'b' } } });
    assert.equal(s.byIndex('owner', 'a').length, 0);
    assert.equal(s.byIndex('owner', 'b').length, 1);
    s.remove('n/x');
    assert.equal(s.byIndex('namespace', 'n').length, 0);
  });

  it('generationChanged ignores status-only updates', () => {
    const old = { metadata: { name: 'x', generation: 1, resourceVersion: '1' } };
    assert.equal(
      generationChanged({
        type: 'update',
        old,
        obj: { metadata: { ...old.metadata, resourceVersion: '2' } },
      }),
      false,
    );
    assert.equal(
      generationChanged({ type: 'update', old, obj: { metadata: { ...old.metadata, generation: 2 } } }),
      true,
    );
  });
});

describe('bookkeeping-blind predicate and key-order-blind conditions', () => {
  it('ignores changes to the named annotations only', () => {
    const p = annotationsChangedIgnoring('mine');
    const at = (annotations: Record<string, string>) => ({ metadata: { name: 'x', annotations } });
    assert.equal(p({ type: 'update', old: at({ a: '1' }), obj: at({ a: '1', mine: 'p' }) }), false);
    assert.equal(p({ type: 'update', old: at({ a: '1' }), obj: at({ a: '2', mine: 'p' }) }), true);
    assert.equal(p({ type: 'create', obj: at({ mine: 'p' }) }), true);
  });

  it('compares conditions regardless of the order of their keys (the API server sorts them)', () => {
    const ours = {
      type: 'Programmed',
      status: 'True' as const,
      reason: 'R',
      message: 'm',
      lastTransitionTime: 't',
    };
    const server = {
      lastTransitionTime: 't',
      message: 'm',
      reason: 'R',
      status: 'True' as const,
      type: 'Programmed',
    };
    assert.equal(conditionsEqual([ours], [server]), true);
    assert.equal(conditionsEqual([ours], [{ ...server, message: 'n' }]), false);
  });
});

describe('conditions', () => {
  it('keeps lastTransitionTime while the status is unchanged and other writers’ conditions on merge', () => {
    const t1 = new Date('2026-01-01T00:00:00Z');
    let c = setCondition([], { type: 'Programmed', status: 'False', reason: 'A', message: '' }, t1);
    c = setCondition(
      c,
      { type: 'Programmed', status: 'False', reason: 'B', message: '' },
      new Date('2026-02-01T00:00:00Z'),
    );
    assert.equal(c[0]!.lastTransitionTime, '2026-01-01T00:00:00Z');
    assert.equal(c[0]!.reason, 'B');
    const server = [
      { type: 'Ready', status: 'True' as const, reason: 'Running', message: '', lastTransitionTime: 'x' },
    ];
    const merged = mergeConditions(server, c, ['Programmed']);
    assert.deepEqual(merged.map((x) => x.type).sort(), ['Programmed', 'Ready']);
  });
});

describe('watcher state machine', () => {
  it('relists on 410, restarts a broken initial list, and retries a watch in place', () => {
    assert.deepEqual(
      onError({ kind: 'Watching', resourceVersion: '5' }, new GoneError(410, 'Expired', 'too old')),
      {
        next: { kind: 'Empty' },
        backoff: false,
      },
    );
    assert.equal(
      onError({ kind: 'InitListing', continueToken: 'c', resourceVersion: '5' }, new Error('reset')).next
        .kind,
      'Empty',
    );
    assert.deepEqual(onError({ kind: 'Watching', resourceVersion: '5' }, new Error('reset')).next, {
      kind: 'Watching',
      resourceVersion: '5',
    });
  });

  it('backs off from 800 ms to at most 30 s', () => {
    const b = new Backoff();
    const delays = Array.from({ length: 10 }, () => b.next(1000));
    assert.ok(delays[0]! >= 400 && delays[0]! <= 800);
    assert.ok(delays.every((d) => d <= 30_000));
    assert.ok(delays[9]! >= 15_000);
  });
});

describe('client against a fake API server', () => {
  it('honours Retry-After on 429, retries 503 on reads, and maps errors to types', async () => {
    let calls = 0;
    const server = createServer((req, res) => {
      calls++;
      if (req.url?.includes('throttled') && calls === 1) {
        res.writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' });
        return res.end(
          JSON.stringify({ kind: 'Status', code: 429, reason: 'TooManyRequests', message: 'slow down' }),
        );
      }
      if (req.url?.includes('flaky') && calls <= 3) return res.writeHead(503).end('unavailable');
      if (req.url?.includes('missing')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        return res.end(
          JSON.stringify({
            kind: 'Status',
            code: 404,
            reason: 'NotFound',
            message: 'configmaps "missing" not found',
          }),
        );
      }
      if (req.method === 'PUT') {
        res.writeHead(409, { 'content-type': 'application/json' });
        return res.end(
          JSON.stringify({ kind: 'Status', code: 409, reason: 'Conflict', message: 'modified' }),
        );
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ metadata: { name: 'ok' } }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const client = createClient({ server: `http://127.0.0.1:${port}` });
    try {
      const t0 = Date.now();
      await client.get(CM, 'throttled', 'default');
      assert.ok(Date.now() - t0 >= 900, 'waited for Retry-After');
      calls = 1;
      await client.get(CM, 'flaky', 'default');
      await assert.rejects(client.get(CM, 'missing', 'default'), (e) => isNotFound(e));
      await assert.rejects(client.update(CM, { metadata: { name: 'x', namespace: 'default' } }), (e) =>
        isConflict(e),
      );
      const noRetry = createClient({ server: `http://127.0.0.1:${port}` }, { maxAttempts: 1 });
      calls = 0;
      await assert.rejects(
        noRetry.get(CM, 'throttled', 'default'),
        (e) => e instanceof TooManyRequestsError && e.retryAfterMs === 1000,
      );
      await noRetry.close();
    } finally {
      await client.close();
      server.close();
    }
  });
});
