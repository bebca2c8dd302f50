import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isNotFound } from '../../src/runtime/client/errors.ts';
import type { ResourceType } from '../../src/runtime/client/types.ts';
import { ControlPlane } from '../../src/testkit/index.ts';

const CM: ResourceType = {
  group: '',
  version: 'v1',
  kind: 'ConfigMap',
  plural: 'configmaps',
  namespaced: true,
};

describe('control plane with kube-controller-manager', () => {
  let cp: ControlPlane;
  before(async () => {
    cp = await ControlPlane.start({ controllerManager: true });
  });
  after(async () => {
    await cp?.stop();
  });

  it('garbage-collects objects whose owner is deleted', async () => {
    const c = cp.client();
    const owner = await c.create(CM, { metadata: { name: 'owner', namespace: 'default' } });
    await c.create(CM, {
      metadata: {
        name: 'owned',
        namespace: 'default',
        ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid! }],
      },
    });
    await c.delete(CM, 'owner', 'default');
    const deadline = Date.now() + 60_000;
    for (;;) {
      const gone = await c.get(CM, 'owned', 'default').then(
        () => false,
        (e) => isNotFound(e),
      );
      if (gone) break;
      assert.ok(Date.now() < deadline, 'owned object collected within 60 s');
      await new Promise((r) => setTimeout(r, 250));
    }
  });
});
