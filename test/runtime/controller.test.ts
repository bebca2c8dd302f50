import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  ControllerBuilder,
  createLogger,
  generationChanged,
  type KubeObject,
  Manager,
  type ResourceType,
} from '../../src/runtime/index.ts';
import { ControlPlane } from '../../src/testkit/index.ts';
import { startBlackholeProxy } from './fixtures/blackhole-proxy.ts';

const CM: ResourceType = {
  group: '',
  version: 'v1',
  kind: 'ConfigMap',
  plural: 'configmaps',
  namespaced: true,
};
const quiet = createLogger({ level: 'error', sink: () => {} });

async function eventually(
  fn: () => boolean | Promise<boolean>,
  ms = 20_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('controllers against a real API server', () => {
  let cp: ControlPlane;
  before(async () => {
    cp = await ControlPlane.start();
  });
  after(async () => {
    await cp?.stop();
  });

  it('converges objects created before and after start, never reconciling one key twice at once, deduplicating bursts', async () => {
    const client = cp.client();
    const ns = 'conv';
    await client.create(
      { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false },
      { metadata: { name: ns } },
    );
    await client.create(CM, { metadata: { name: 'early', namespace: ns }, data: { want: 'a' } });
    const mgr = new Manager({ log: quiet, probeAddr: '127.0.0.1:0', metricsAddr: '127.0.0.1:0' });
    const cluster = await mgr.engage('single', cp.connection);
    let inFlight = 0;
    let maxInFlight = 0;
    const perKey = new Map<string, number>();
    let sameKeyOverlap = 0;
    const runs = new Map<string, number>();
    new ControllerBuilder(mgr, 'mirror')
      .for(CM, { labelSelector: 'test!=ignored' })
      .withOptions({ maxConcurrentReconciles: 4 })
      .complete({
        async reconcile(req) {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          perKey.set(req.name, (perKey.get(req.name) ?? 0) + 1);
          if (perKey.get(req.name)! > 1) sameKeyOverlap++;
          runs.set(req.name, (runs.get(req.name) ?? 0) + 1);
          try {
            const cm = cluster.cache
              .informerFor(CM, { labelSelector: 'test!=ignored' })
              .get(req.name, req.namespace);
            if (!cm || cm.data?.want === cm.data?.have) return;
            await new Promise((r) => setTimeout(r, 20));
            await cluster.client.patch(CM, req.name, req.namespace, {
              type: 'merge',
              patch: { data: { have: cm.data?.want } },
            });
          } finally {
            inFlight--;
            perKey.set(req.name, perKey.get(req.name)! - 1);
          }
        },
      });
    await mgr.startServers();
    const ready = await fetch(`http://127.0.0.1:${mgr.probePort}/readyz`);
    assert.equal(ready.status, 503, '/readyz fails before caches have synced');
    await mgr.start();
    assert.equal(
      (await fetch(`http://127.0.0.1:${mgr.probePort}/readyz`)).status,
      200,
      '/readyz passes after sync',
    );
    await client.create(CM, { metadata: { name: 'late', namespace: ns }, data: { want: 'b' } });
    await eventually(
      async () => (await client.get(CM, 'early', ns)).data?.have === 'a',
      20_000,
      'early converged',
    );
    await eventually(
      async () => (await client.get(CM, 'late', ns)).data?.have === 'b',
      20_000,
      'late converged',
    );

    // A burst of 100 updates to one object.
    await client.create(CM, { metadata: { name: 'burst', namespace: ns }, data: { want: '0' } });
    await eventually(() => (runs.get('burst') ?? 0) > 0);
    const before = runs.get('burst')!;
    for (let i = 1; i <= 100; i++)
      await client.patch(CM, 'burst', ns, { type: 'merge', patch: { data: { want: String(i) } } });
    await eventually(
      async () => (await client.get(CM, 'burst', ns)).data?.have === '100',
      20_000,
      'burst converged',
    );
    const burstRuns = runs.get('burst')! - before;
    assert.ok(burstRuns < 100, `100 updates caused ${burstRuns} reconciles`);
    assert.ok(maxInFlight <= 4);
    assert.equal(sameKeyOverlap, 0, 'one key was never reconciled twice at once');

    const metrics = await (await fetch(`http://127.0.0.1:${mgr.metricsPort}/metrics`)).text();
    for (const name of [
      'controller_runtime_reconcile_total{controller="mirror",result="success"}',
      'controller_runtime_reconcile_time_seconds_bucket',
      'workqueue_depth{name="mirror",controller="mirror"}',
      'workqueue_adds_total{name="mirror",controller="mirror"}',
      'rest_client_requests_total{code="200",method="PATCH"',
      'controller_runtime_max_concurrent_reconciles{controller="mirror"} 4',
      'workqueue_longest_running_processor_seconds{name="mirror",controller="mirror"}',
      'workqueue_unfinished_work_seconds{name="mirror",controller="mirror"}',
    ]) {
      assert.ok(metrics.includes(name), `metrics has ${name}`);
    }
    const total = Number(
      /controller_runtime_reconcile_total\{controller="mirror",result="success"\} (\d+)/.exec(metrics)?.[1],
    );
    assert.ok(total >= 3 && total < 300, `plausible reconcile count ${total}`);
    await mgr.stop();
  });

  it('keeps the cache equal to the server across an apiserver outage and a forced relist (410), with deletions', async () => {
    const client = cp.client();
    const ns = 'outage';
    await client.create(
      { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false },
      { metadata: { name: ns } },
    );
    for (const n of ['keep', 'gone-1', 'gone-2'])
      await client.create(CM, { metadata: { name: n, namespace: ns } });
    // The informer talks through a proxy we can black-hole, so it provably misses what happens meanwhile.
    const proxy = await startBlackholeProxy(Number(new URL(cp.connection.server).port));
    const mgr = new Manager({ log: quiet });
    try {
      const cluster = await mgr.engage('single', {
        ...cp.connection,
        server: `https://127.0.0.1:${proxy.port}`,
      });
      const inf = cluster.cache.informerFor<KubeObject>(CM, { namespace: ns });
      const deleted: string[] = [];
      inf.addEventHandler({ onDelete: (o) => deleted.push(o.metadata.name!) });
      await mgr.start();
      assert.equal(inf.list({ namespace: ns }).length, 3);

      await cp.stopApiServer();
      await new Promise((r) => setTimeout(r, 1000)); // the length of the outage, not a negative check
      await cp.startApiServer();
      await client.delete(CM, 'gone-1', ns);
      await client.create(CM, { metadata: { name: 'new-1', namespace: ns } });
      await eventually(
        () => !inf.get('gone-1', ns) && !!inf.get('new-1', ns),
        60_000,
        'cache caught up after outage',
      );

      // Force 410: the informer's watch hangs (black hole) at a resourceVersion before the deletion and the
      // churn; etcd is compacted past it and the apiserver restarted so its watch cache is cold. When the
      // connection is cut, the only way back is a relist, which must deliver the deletion it never watched.
      const relists = inf.stats.relists;
      const lists = inf.stats.lists;
      proxy.blackhole();
      await client.delete(CM, 'gone-2', ns);
      for (let i = 0; i < 5; i++)
        await client.create(CM, { metadata: { name: `churn-${i}`, namespace: ns } });
      await cp.compactEtcd();
      await cp.restartApiServer();
      assert.ok(inf.get('gone-2', ns), 'the cache has not seen the deletion yet');
      proxy.restore();
      const server = async () =>
        (await client.list(CM, { namespace: ns })).items.map((o) => o.metadata.name).sort();
      await eventually(
        async () =>
          JSON.stringify(
            inf
              .list({ namespace: ns })
              .map((o) => o.metadata.name)
              .sort(),
          ) === JSON.stringify(await server()),
        60_000,
        'cache equals server',
      );
      assert.ok(
        deleted.includes('gone-1') && deleted.includes('gone-2'),
        `deletions delivered: ${deleted.join(',')}`,
      );
      // The watcher counts a relist only when a watch answered 410 Gone (watcher.ts, onError).
      assert.ok(inf.stats.relists > relists, 'a relist happened, forced by the 410');
      assert.ok(inf.stats.lists > lists, 'with a new list request');
    } finally {
      await mgr.stop();
      await proxy.close();
    }
  });

  it('engages a cluster at run time and stops reconciling it after disengaging', async () => {
    const other = await ControlPlane.start();
    // Cluster two is reached through a proxy that counts connections: after disengaging, the manager must
    // hold none and open none, so nothing of cluster two can reach a reconcile.
    const proxy = await startBlackholeProxy(Number(new URL(other.connection.server).port));
    const mgr = new Manager({ log: quiet });
    try {
      await mgr.engage('one', cp.connection);
      const seen = new Set<string>();
      new ControllerBuilder(mgr, 'seen').for(CM, { predicates: [generationChanged] }).complete({
        async reconcile(req) {
          seen.add(`${req.cluster}/${req.namespace}/${req.name}`);
        },
      });
      await mgr.start();
      await other.client().create(CM, { metadata: { name: 'in-two', namespace: 'default' } });
      await mgr.engage('two', { ...other.connection, server: `https://127.0.0.1:${proxy.port}` });
      await eventually(() => seen.has('two/default/in-two'), 20_000, 'second cluster reconciled');
      assert.ok(proxy.open() > 0, 'the manager watches cluster two through the proxy');
      await mgr.disengage('two');
      await eventually(() => proxy.open() === 0, 20_000, 'every connection to cluster two closed');
      const accepted = proxy.accepted;
      await other.client().create(CM, { metadata: { name: 'after-disengage', namespace: 'default' } });
      // A later event in cluster one, reconciled: the controller kept working after the write in cluster two.
      await cp.client().create(CM, { metadata: { name: 'marker', namespace: 'default' } });
      await eventually(() => seen.has('one/default/marker'), 20_000, 'marker in cluster one reconciled');
      assert.equal(seen.has('two/default/after-disengage'), false);
      assert.equal(proxy.accepted, accepted, 'no new connection to cluster two after disengaging');
      assert.equal(proxy.open(), 0);
    } finally {
      await mgr.stop();
      await proxy.close();
      await other.stop();
    }
  });
});
