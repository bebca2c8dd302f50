import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ResourceType } from '../../src/runtime/index.ts';
import { ControllerBuilder, createLogger, Manager, MiloDiscovery, PROJECT } from '../../src/runtime/index.ts';
import { ControlPlane } from '../../src/testkit/index.ts';
import { startMiloProxy } from './fixtures/milo-proxy.ts';
import { PROJECT_CRD } from './fixtures/project-crd.ts';

const CM: ResourceType = {
  group: '',
  version: 'v1',
  kind: 'ConfigMap',
  plural: 'configmaps',
  namespaced: true,
};

async function until(fn: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('Milo project discovery', () => {
  let discovery: ControlPlane;
  let a: ControlPlane;
  let b: ControlPlane;
  before(async () => {
    [discovery, a, b] = await Promise.all([
      ControlPlane.start({ crdDirs: [PROJECT_CRD] }),
      ControlPlane.start(),
      ControlPlane.start(),
    ]);
  });
  after(async () => {
    await Promise.all([discovery?.stop(), a?.stop(), b?.stop()]);
  });

  it('engages a project once it is Ready, reconciles its objects, and disengages it when deleted', async () => {
    // Milo's endpoint: Projects, and each project's control plane under the Project's path. The provider is
    // given only this endpoint and builds each project's URL itself (miloProjectConfig, the default).
    // proj-c is a second project on the same control plane as proj-a.
    const milo = await startMiloProxy(discovery.connection, {
      'proj-a': a.connection,
      'proj-b': b.connection,
      'proj-c': a.connection,
    });
    const mgr = new Manager({ log: createLogger({ level: 'error', sink: () => {} }) });
    try {
      const seen = new Set<string>();
      new ControllerBuilder(mgr, 'seen').for(CM).complete({
        async reconcile(req) {
          seen.add(`${req.cluster}/${req.namespace}/${req.name}`);
        },
      });
      mgr.add(new MiloDiscovery(mgr, { discovery: { server: milo.server } }));
      await mgr.start();
      const d = discovery.client();
      const ready = (status: 'True' | 'False') => ({
        status: {
          conditions: [
            {
              type: 'Ready',
              status,
              reason: 'Test',
              message: '',
              lastTransitionTime: '2026-01-01T00:00:00Z',
            },
          ],
        },
      });
      await a.client().create(CM, { metadata: { name: 'in-a', namespace: 'default' } });
      await b.client().create(CM, { metadata: { name: 'in-b', namespace: 'default' } });
      await d.create(PROJECT, { metadata: { name: 'proj-a', labels: { tier: 'gold' } } });
      await d.patchStatus(PROJECT, 'proj-a', undefined, { type: 'merge', patch: ready('True') });
      await until(() => seen.has('proj-a/default/in-a'), 30_000, 'ready project engaged');
      assert.ok(milo.requests('proj-a') > 0, 'proj-a was reached at the URL the provider built');
      // The Project's labels travel with the engaged cluster, uninterpreted (the application reads them).
      assert.deepEqual(mgr.getCluster('proj-a')?.metadata.labels, { tier: 'gold' });

      // proj-b is not Ready. proj-c, made Ready after it, is the marker: discovery handles Project events in
      // order, so once proj-c is engaged, proj-b's creation has been handled too.
      await d.create(PROJECT, { metadata: { name: 'proj-b' } });
      await d.create(PROJECT, { metadata: { name: 'proj-c' } });
      await d.patchStatus(PROJECT, 'proj-c', undefined, { type: 'merge', patch: ready('True') });
      await until(() => seen.has('proj-c/default/in-a'), 30_000, 'marker project engaged');
      assert.equal(mgr.getCluster('proj-b'), undefined, 'a project that is not Ready is not engaged');
      assert.equal(milo.requests('proj-b'), 0, 'nothing ever talked to the project that is not Ready');
      assert.equal(seen.has('proj-b/default/in-b'), false);

      await d.patchStatus(PROJECT, 'proj-b', undefined, { type: 'merge', patch: ready('True') });
      await until(() => seen.has('proj-b/default/in-b'), 30_000, 'second project engaged at run time');
      await d.delete(PROJECT, 'proj-a');
      await until(() => mgr.getCluster('proj-a') === undefined, 30_000, 'deleted project disengaged');
      await until(() => milo.open('proj-a') === 0, 30_000, 'no open request to the disengaged project');
      const requestsToA = milo.requests('proj-a');
      // One write to the control plane behind both proj-a and proj-c: proj-c (still engaged) reconciles it,
      // which bounds the wait; proj-a must not.
      await a.client().create(CM, { metadata: { name: 'after', namespace: 'default' } });
      await until(() => seen.has('proj-c/default/after'), 30_000, 'the write seen through proj-c');
      assert.equal(seen.has('proj-a/default/after'), false, 'no reconciles for a disengaged project');
      assert.equal(milo.requests('proj-a'), requestsToA, 'no request to the disengaged project');
      assert.deepEqual(milo.unknown, [], 'every project URL the provider built was a project path');
    } finally {
      await mgr.stop();
      await milo.close();
    }
  });

  it('serves metadata-only informers', async () => {
    const mgr = new Manager({ log: createLogger({ level: 'error', sink: () => {} }) });
    const cluster = await mgr.engage('a', a.connection);
    const inf = cluster.cache.informerFor(CM, { metadataOnly: true, namespace: 'default' });
    await a
      .client()
      .create(CM, { metadata: { name: 'meta-only', namespace: 'default' }, data: { big: 'x'.repeat(1000) } });
    await mgr.start();
    await until(() => !!inf.get('meta-only', 'default'), 20_000, 'metadata object cached');
    const obj = inf.get('meta-only', 'default')!;
    assert.equal(obj.kind, 'PartialObjectMetadata');
    assert.equal(obj.data, undefined, 'no data in a metadata-only cache');
    await mgr.stop();
  });

  it('says why a cluster never syncs (a missing CRD) and does not reconcile it on a half-filled cache', async () => {
    const lines: string[] = [];
    const mgr = new Manager({ log: createLogger({ level: 'warn', sink: (l) => lines.push(l) }) });
    let reconciles = 0;
    const MISSING: ResourceType = {
      group: 'example.com',
      version: 'v1',
      kind: 'Missing',
      plural: 'missings',
      namespaced: true,
    };
    new ControllerBuilder(mgr, 'needs-missing')
      .for(CM)
      .watches(MISSING, () => [])
      .complete({
        async reconcile() {
          reconciles++;
        },
      });
    await mgr.start();
    try {
      await mgr.engage('b', b.connection);
      await until(
        () => lines.some((l) => l.includes('cannot list/watch') && l.includes('missings')),
        30_000,
        'a warning naming the missing resource',
      );
      // Cluster b's ConfigMaps are cached and queued; each time a worker takes one it finds the cluster's cache
      // incomplete and puts it back (counted in workqueue_retries_total). Three such round trips bound the
      // wait: the keys reached a worker, which did not reconcile them.
      const retries = async () =>
        (await mgr.metrics.queueRetries.get()).values.find((v) => v.labels.controller === 'needs-missing')
          ?.value ?? 0;
      for (const deadline = Date.now() + 30_000; reconciles === 0 && (await retries()) < 3; ) {
        assert.ok(Date.now() < deadline, `keys of b taken by a worker 3 times (${await retries()})`);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(mgr.cluster('b').cache.informerFor(CM).hasSynced(), "b's ConfigMaps are cached");
      assert.equal(reconciles, 0, 'no reconcile while the cluster cache is incomplete');
      assert.equal(mgr.isReady(), false, '/readyz would report not ready');
    } finally {
      await mgr.stop();
    }
  });
});
