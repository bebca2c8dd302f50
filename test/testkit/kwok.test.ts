import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Condition, KubeObject } from '../../src/runtime/client/types.ts';
import { ControlPlane, NODE, startKwok } from '../../src/testkit/index.ts';

const POD = { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true };

describe('kwok', () => {
  let cp: ControlPlane;
  before(async () => {
    cp = await ControlPlane.start();
  });
  after(async () => {
    await cp?.stop();
  });

  it('keeps a fake node Ready and runs a pod bound to it', async () => {
    const kwok = await startKwok(cp);
    try {
      await kwok.createNode('edge-1');
      const client = cp.client();
      const deadline = Date.now() + 30_000;
      const cond = (o: KubeObject, t: string) =>
        (o.status?.conditions as Condition[] | undefined)?.find((c) => c.type === t)?.status;
      while (cond(await client.get(NODE, 'edge-1'), 'Ready') !== 'True') {
        assert.ok(Date.now() < deadline, 'node Ready within 30 s');
        await new Promise((r) => setTimeout(r, 250));
      }
      await client.create(POD, {
        metadata: { name: 'app', namespace: 'default' },
        spec: {
          nodeName: 'edge-1',
          tolerations: [{ operator: 'Exists' }],
          containers: [{ name: 'app', image: 'nginx' }],
        },
      });
      let pod = await client.get(POD, 'app', 'default');
      while (pod.status?.phase !== 'Running') {
        assert.ok(Date.now() < deadline, 'pod Running within 30 s');
        await new Promise((r) => setTimeout(r, 250));
        pod = await client.get(POD, 'app', 'default');
      }
      assert.match(pod.status.podIP, /^10\.0\.0\.\d+$/);
    } finally {
      await kwok.stop();
    }
  });
});
