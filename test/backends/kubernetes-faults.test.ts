/**
 * The Kubernetes backend under faults, against a simulated downstream cluster behind the test fault proxy:
 * 429s (Retry-After honoured as the retry hint), 5xx, lost responses, the API server restarting, the cluster
 * unreachable for a while, a node going NotReady, a Pod crash-looping and then failing. Each case drives the
 * backend the way a reconciler does (ensure again after a retryable error) and checks it converges with
 * exactly one Pod, and that nothing of ours is left after deletion.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createKubernetesBackend, type KubernetesBackend } from '../../src/backends/kubernetes/index.ts';
import {
  type BackendContext,
  BackendError,
  type InstanceDesired,
  type InstanceObserved,
  type ResourceOwner,
} from '../../src/datum/backend.ts';
import { CITY_LABEL, type EdgeCluster, startEdgeCluster } from '../../src/localenv/edge.ts';
import { FAKE_NODE_ANNOTATION, NODE } from '../../src/localenv/kwok.ts';
import type { KubeObject } from '../../src/runtime/client/types.ts';
import { eventually } from '../../src/testkit/contract/suite.ts';
import { backendContext, type FaultProxy, startFaultProxy } from './kubernetes-fixtures.ts';

const POD = { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true };
const MANAGED_BY = 'faults-test';
const TOKEN = 'downstream-token-4b1d';

const owner = (kind: ResourceOwner['kind'], name: string): ResourceOwner => ({
  cluster: 'faults',
  namespace: 'default',
  kind,
  name,
  uid: `${name}-uid`,
});

function sandbox(id: string, hash = 'h1'): InstanceDesired {
  return {
    id,
    owner: owner('Instance', id),
    instanceType: 'datumcloud/d1-standard-2',
    templateHash: hash,
    sshKeys: [],
    interfaces: [{ networkId: 'net-f', subnetId: 'subnet-f', ingress: [] }],
    runtime: {
      kind: 'sandbox',
      containers: [{ name: 'app', image: 'nginx:1.27', env: [], ports: [], files: [] }],
    },
  };
}

describe('kubernetes backend under faults', { timeout: 300_000 }, () => {
  let edge: EdgeCluster;
  let proxy: FaultProxy;
  let backend: KubernetesBackend;
  let ctx: BackendContext;

  /** Pods of ours for an id, read with the admin client (not through the proxy). */
  const pods = async (id: string): Promise<KubeObject[]> =>
    (
      await edge.cp
        .client()
        .list(POD, { labelSelector: `datum.net/managed-by=${MANAGED_BY},datum.net/id=${id}` })
    ).items;

  /** What a reconciler does: ensure, and on a retryable error try again after its hint (capped). */
  async function converge(
    d: InstanceDesired,
    errors: BackendError[] = [],
    ms = 60_000,
  ): Promise<InstanceObserved> {
    return eventually(
      async () => {
        try {
          const o = await backend.ensureInstance(ctx, d);
          return o.upToDate && o.powerState === 'running' && o.addresses[0]?.networkIP ? o : undefined;
        } catch (err) {
          assert.ok(err instanceof BackendError, `typed error, got ${err}`);
          assert.ok(err.retryable, `retryable: ${err.reason} ${err.message}`);
          errors.push(err);
          await new Promise((r) => setTimeout(r, Math.min(err.retryAfterMs ?? 200, 1000)));
          return undefined;
        }
      },
      `${d.id} running`,
      ms,
    );
  }

  async function deleteAll(id: string): Promise<void> {
    await eventually(
      async () => (await backend.deleteInstance(ctx, id).catch(() => ({ gone: false }))).gone,
      `${id} deleted`,
    );
    assert.deepEqual(await pods(id), [], 'no Pod left');
  }

  before(async () => {
    edge = await startEdgeCluster();
    proxy = await startFaultProxy(edge.cp.connection);
    backend = createKubernetesBackend({ backendConfig: { managedBy: MANAGED_BY, maxAttempts: '2' } });
    ctx = backendContext(proxy.kubeconfig(TOKEN), {}, { [CITY_LABEL]: 'DFW' });
    await backend.ensureNetwork(ctx, {
      id: 'net-f',
      owner: owner('NetworkContext', 'net-f'),
      ipv4Cidr: '10.128.0.0/9',
      mtu: 1460,
    });
    await backend.ensureSubnet(ctx, {
      id: 'subnet-f',
      owner: owner('Subnet', 'subnet-f'),
      networkId: 'net-f',
      cidr: '10.128.0.0/20',
    });
  });

  after(async () => {
    await backend?.close();
    await proxy?.close();
    await edge?.stop();
  });

  it('persistent 429s end in Throttled with the Retry-After as hint; afterwards it converges with one Pod', async () => {
    proxy.inject({ method: 'POST', path: /\/pods$/, status: 429, retryAfterSeconds: 1, times: 4 });
    const err = await backend.ensureInstance(ctx, sandbox('inst-429')).then(
      () => assert.fail('expected Throttled'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof BackendError);
    assert.equal(err.reason, 'Throttled');
    assert.equal(err.retryAfterMs, 1000);
    await converge(sandbox('inst-429'));
    assert.equal((await pods('inst-429')).length, 1);
    await deleteAll('inst-429');
  });

  it('maps 5xx to Transient, 422 to InvalidConfiguration and 401 to CredentialsInvalid, without the token', async () => {
    proxy.inject({ method: 'POST', path: /\/pods$/, status: 503, times: 1 });
    await assert.rejects(
      backend.ensureInstance(ctx, sandbox('inst-map')),
      (e: unknown) => e instanceof BackendError && e.reason === 'Transient',
    );
    // The API server quotes what it rejects: an Instance's Secret env value must not reach the message.
    proxy.inject({
      method: 'POST',
      path: /\/pods$/,
      status: 422,
      times: 1,
      message: 'Pod is invalid: env TOKEN: "secret-env-9f2c" too long',
    });
    const withSecret = sandbox('inst-map');
    if (withSecret.runtime.kind === 'sandbox')
      withSecret.runtime.containers[0]!.env.push({
        name: 'TOKEN',
        value: 'secret-env-9f2c',
        sensitive: true,
      });
    await assert.rejects(backend.ensureInstance(ctx, withSecret), (e: unknown) => {
      assert.ok(e instanceof BackendError && e.reason === 'InvalidConfiguration' && !e.retryable);
      assert.match(e.message, /env TOKEN: "\[redacted\]"/);
      return true;
    });
    proxy.inject({
      method: 'POST',
      path: /\/pods$/,
      status: 401,
      times: 1,
      message: `token ${TOKEN} rejected`,
    });
    await assert.rejects(backend.ensureInstance(ctx, sandbox('inst-map')), (e: unknown) => {
      assert.ok(e instanceof BackendError);
      assert.equal(e.reason, 'CredentialsInvalid');
      assert.equal(e.message.includes(TOKEN), false, `token in message: ${e.message}`);
      return true;
    });
    await converge(sandbox('inst-map'));
    assert.equal((await pods('inst-map')).length, 1);
    await deleteAll('inst-map');
  });

  it('a lost response to the Pod create is adopted by name, not duplicated', async () => {
    proxy.inject({ method: 'POST', path: /\/pods$/, status: 500, times: 2, forwardFirst: true });
    await converge(sandbox('inst-lost'));
    assert.equal((await pods('inst-lost')).length, 1);
    await deleteAll('inst-lost');
  });

  it('converges across a downstream API server restart and while it is unreachable', async () => {
    const errors: BackendError[] = [];
    await converge(sandbox('inst-restart'));
    const uid = (await pods('inst-restart'))[0]?.metadata.uid;
    await edge.cp.restartApiServer();
    await converge(sandbox('inst-restart'), errors);
    proxy.setDown(true);
    await assert.rejects(
      backend.ensureInstance(ctx, sandbox('inst-restart')),
      (e: unknown) => e instanceof BackendError && e.reason === 'Transient',
    );
    const down = converge(sandbox('inst-down'), errors);
    await new Promise((r) => setTimeout(r, 2_000));
    proxy.setDown(false);
    await down;
    assert.ok(
      errors.some((e) => e.reason === 'Transient'),
      'saw the outage as Transient',
    );
    assert.equal((await pods('inst-restart'))[0]?.metadata.uid, uid, 'the same Pod after the restart');
    assert.equal((await pods('inst-down')).length, 1);
    await deleteAll('inst-restart');
    await deleteAll('inst-down');
  });

  it('reports a node going NotReady as the reason, and Running again once it is back', async () => {
    await converge(sandbox('inst-node'));
    const [pod] = await pods('inst-node');
    const node = pod!.spec!.nodeName as string;
    const admin = edge.cp.client();
    // kwok stops heart-beating a node without its annotation; the node then reports NotReady.
    await admin.patch(NODE, node, undefined, {
      type: 'merge',
      patch: { metadata: { annotations: { [FAKE_NODE_ANNOTATION]: null } } },
    });
    const current = await admin.get(NODE, node);
    await admin.patchStatus(NODE, node, undefined, {
      type: 'merge',
      patch: {
        status: {
          conditions: ((current.status?.conditions ?? []) as { type: string }[]).map((c) =>
            c.type === 'Ready' ? { ...c, status: 'False', reason: 'NodeStatusUnknown' } : c,
          ),
        },
      },
    });
    const notReady = await eventually(async () => {
      const o = await backend.ensureInstance(ctx, sandbox('inst-node'));
      return o.powerState !== 'running' ? o : undefined;
    }, 'Instance not running while its node is NotReady');
    assert.equal(notReady.reason, 'NodeNotReady');
    await admin.patch(NODE, node, undefined, {
      type: 'merge',
      patch: { metadata: { annotations: { [FAKE_NODE_ANNOTATION]: 'fake' } } },
    });
    await converge(sandbox('inst-node'));
    assert.equal((await pods('inst-node')).length, 1, 'nothing duplicated');
    await deleteAll('inst-node');
  });

  it('surfaces CrashLoopBackOff as the reason, and replaces a failed Pod', async () => {
    await converge(sandbox('inst-crash'));
    const admin = edge.cp.client();
    const [pod] = await pods('inst-crash');
    // The kubelet's part, played by the test: kwok has no per-Pod failure stage next to its default ones.
    await admin.patchStatus(POD, pod!.metadata.name!, pod!.metadata.namespace, {
      type: 'merge',
      patch: {
        status: {
          containerStatuses: [
            {
              name: 'app',
              image: 'nginx:1.27',
              imageID: '',
              ready: false,
              restartCount: 5,
              state: {
                waiting: { reason: 'CrashLoopBackOff', message: 'back-off 5m0s restarting failed container' },
              },
              lastState: { terminated: { reason: 'Error', exitCode: 1 } },
            },
          ],
        },
      },
    });
    const crashing = await backend.ensureInstance(ctx, sandbox('inst-crash'));
    assert.equal(crashing.powerState, 'pending');
    assert.equal(crashing.reason, 'CrashLoopBackOff');
    assert.match(crashing.message ?? '', /container app: CrashLoopBackOff.*exit: Error, code 1/);
    await admin.patchStatus(POD, pod!.metadata.name!, pod!.metadata.namespace, {
      type: 'merge',
      patch: { status: { phase: 'Failed', reason: 'Evicted', message: 'The node was low on memory.' } },
    });
    const failed = await backend.ensureInstance(ctx, sandbox('inst-crash'));
    assert.equal(failed.powerState, 'stopped');
    assert.equal(failed.reason, 'Evicted');
    await converge(sandbox('inst-crash'));
    const after = await pods('inst-crash');
    assert.equal(after.length, 1);
    assert.notEqual(after[0]!.metadata.uid, pod!.metadata.uid, 'a new Pod replaced the failed one');
    await deleteAll('inst-crash');
  });

  it('places by the Location topology, and GPU Instances on the GPU node', async () => {
    const lhr = backendContext(proxy.kubeconfig(TOKEN), {}, { [CITY_LABEL]: 'LHR' });
    await eventually(
      async () => (await backend.ensureInstance(lhr, sandbox('inst-lhr'))).powerState === 'running',
      'LHR running',
    );
    const gpu = { ...sandbox('inst-gpu'), instanceType: 'datumcloud/g1-standard-8-gpu1' };
    await converge(gpu);
    await converge(sandbox('inst-cpu'));
    assert.equal((await pods('inst-lhr'))[0]?.spec?.nodeName, 'edge-lhr-1');
    assert.equal((await pods('inst-gpu'))[0]?.spec?.nodeName, 'gpu-dfw-1');
    assert.equal((await pods('inst-cpu'))[0]?.spec?.nodeName, 'edge-dfw-1', 'the GPU taint keeps others off');
    for (const id of ['inst-lhr', 'inst-gpu', 'inst-cpu']) await deleteAll(id);
  });

  it('refuses a VM as Unsupported when the cluster does not serve KubeVirt VirtualMachines', async () => {
    // A fresh backend (its discovery is cached per client), and discovery answering 404 as without KubeVirt.
    const fresh = createKubernetesBackend({ backendConfig: { managedBy: MANAGED_BY, kubevirt: 'true' } });
    proxy.inject({ method: 'GET', path: /^\/apis\/kubevirt\.io\/v1$/, status: 404, times: 1 });
    try {
      const vm: InstanceDesired = {
        ...sandbox('inst-vm'),
        runtime: {
          kind: 'virtualMachine',
          image: 'datumcloud/ubuntu-2204-lts',
          diskSizeGiB: 10,
          ports: [],
          files: [],
        },
      };
      await assert.rejects(
        fresh.ensureInstance({ ...ctx, config: { kubevirt: 'true' } }, vm),
        (e: unknown) => {
          assert.ok(e instanceof BackendError);
          assert.equal(e.reason, 'Unsupported');
          assert.match(e.message, /does not serve kubevirt\.io\/v1 VirtualMachines/);
          return true;
        },
      );
      assert.equal(proxy.injected.get(404), 1, 'discovery was asked');
      assert.deepEqual(await pods('inst-vm'), []);
    } finally {
      await fresh.close();
    }
  });

  it('leaves nothing of ours after deletion', async () => {
    await eventually(async () => (await backend.deleteSubnet(ctx, 'subnet-f')).gone, 'subnet deleted');
    await eventually(async () => (await backend.deleteNetwork(ctx, 'net-f')).gone, 'network deleted');
    assert.deepEqual(await backend.listManaged(ctx), []);
    const admin = edge.cp.client();
    // The project namespace goes with its last network (the namespace controller finishes it).
    await eventually(
      async () =>
        (
          await admin.list(
            { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false },
            { labelSelector: `datum.net/managed-by=${MANAGED_BY}` },
          )
        ).items.length === 0,
      'project namespace gone',
    );
    for (const plural of ['pods', 'configmaps', 'secrets']) {
      const l = await admin.list(
        { group: '', version: 'v1', kind: plural, plural, namespaced: true },
        { labelSelector: `datum.net/managed-by=${MANAGED_BY}` },
      );
      assert.deepEqual(
        l.items.map((o) => o.metadata.name),
        [],
        `no ${plural} left`,
      );
    }
  });
});
