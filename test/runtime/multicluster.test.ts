import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ClusterConfig, ResourceType } from '../../src/runtime/index.ts';
import { ControllerBuilder, createLogger, Manager, MiloDiscovery, PROJECT } from '../../src/runtime/index.ts';
import { ControlPlane } from '../../src/testkit/index.ts';
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
    const projects: Record<string, ClusterConfig> = { 'proj-a': a.connection, 'proj-b': b.connection };
    const mgr = new Manager({ log: createLogger({ level: 'error', sink: () => {} }) });
    const seen = new Set<string>();
    new ControllerBuilder(mgr, 'seen').for(CM).complete({
      async reconcile(req) {
        seen.add(`${req.cluster}/${req.namespace}/${req.name}`);
      },
    });
    // In production the project endpoint is the discovery host + the Project control-plane path; here each
    // "project" is its own local control plane.
    mgr.add(
      new MiloDiscovery(mgr, {
        discovery: discovery.connection,
        projectConfig: (p) => projects[p.metadata.name!]!,
      }),
    );
    await mgr.start();
    const d = discovery.client();
    const ready = (status: 'True' | 'False') => ({
      status: {
        conditions: [
          { type: 'Ready', status, reason: 'Test', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' },
        ],
      },
    });
    for (const name of ['proj-a', 'proj-b']) await d.create(PROJECT, { metadata: { name } });
    await d.patchStatus(PROJECT, 'proj-a', undefined, { type: 'merge', patch: ready('True') });
    await a.client().create(CM, { metadata: { name: 'in-a', namespace: 'default' } });
    await b.client().create(CM, { metadata: { name: 'in-b', namespace: 'default' } });
    await until(() => seen.has('proj-a/default/in-a'), 30_000, 'ready project engaged');
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(mgr.getCluster('proj-b'), undefined, 'a project that is not Ready is not engaged');
    assert.equal(seen.has('proj-b/default/in-b'), false);
    await d.patchStatus(PROJECT, 'proj-b', undefined, { type: 'merge', patch: ready('True') });
    await until(() => seen.has('proj-b/default/in-b'), 30_000, 'second project engaged at run time');
    await d.delete(PROJECT, 'proj-a');
    await until(() => mgr.getCluster('proj-a') === undefined, 30_000, 'deleted project disengaged');
    await a.client().create(CM, { metadata: { name: 'after', namespace: 'default' } });
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(seen.has('proj-a/default/after'), false, 'no reconciles for a disengaged project');
    await mgr.stop();
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
    await mgr.engage('b', b.connection);
    await until(
      () => lines.some((l) => l.includes('cannot list/watch') && l.includes('missings')),
      30_000,
      'a warning naming the missing resource',
    );
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(reconciles, 0, 'no reconcile while the cluster cache is incomplete');
    assert.equal(mgr.isReady(), false, '/readyz would report not ready');
    await mgr.stop();
  });
});
