/**
 * The provider on a downstream cluster, for what only the whole chain shows: the installation identity becomes
 * the managed-by label downstream (no managedBy configured), a crash loop downstream reaches the Instance's
 * Running condition as its reason and message (InstanceObserved.reason), and recovery and deletion follow.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createKubernetesBackend, LABEL_MANAGED_BY } from '../../src/backends/kubernetes/index.ts';
import { INSTANCE, SECRET } from '../../src/datum/api/resources.ts';
import { registerProvider } from '../../src/datum/provider.ts';
import { PROVIDER_CONFIG } from '../../src/datum/providerconfig.ts';
import { defaultSettings } from '../../src/datum/settings.ts';
import { ControlPlane, DATUM_CRDS } from '../../src/localenv/controlplane.ts';
import { type EdgeCluster, startEdgeCluster } from '../../src/localenv/edge.ts';
import { toKubeconfigYaml } from '../../src/runtime/client/config.ts';
import { isNotFound } from '../../src/runtime/client/errors.ts';
import type { KubeObject } from '../../src/runtime/client/types.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';
import { Manager } from '../../src/runtime/manager/manager.ts';
import { createInstance, ensureNamespace, seedProject } from '../../src/testkit/contract/fixtures.ts';
import { condOf, eventually, OUR_CRDS } from '../../src/testkit/contract/suite.ts';

const NS = 'project-a';
const POD = { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true };

describe('kubernetes provider on a downstream cluster: identity, crash loops, recovery', {
  timeout: 180_000,
}, () => {
  let edge: EdgeCluster;
  let cp: ControlPlane;
  let mgr: Manager;

  before(async () => {
    [edge, cp] = await Promise.all([
      startEdgeCluster(),
      ControlPlane.start({ crdDirs: [DATUM_CRDS.compute, DATUM_CRDS.networkClassic, OUR_CRDS] }),
    ]);
    const c = cp.client();
    await ensureNamespace(c, 'provider-system');
    await c.create(SECRET, {
      metadata: { name: 'edge', namespace: 'provider-system' },
      stringData: { kubeconfig: toKubeconfigYaml(edge.cp.connection, 'edge') },
    });
    await c.create(PROVIDER_CONFIG, {
      metadata: { name: 'default' },
      spec: { credentials: { source: 'Secret', secretRef: { namespace: 'provider-system', name: 'edge' } } },
    });
    // Re-checks running Instances every 2 s, so a crash loop that starts later is seen.
    const settings = { ...defaultSettings(), resyncSeconds: 2, sweepIntervalSeconds: 3600 };
    mgr = new Manager({ log: createLogger({ level: 'warn', sink: () => {} }) });
    await mgr.engage('project-a', cp.connection);
    registerProvider(mgr, { backend: createKubernetesBackend({}), settings, home: c });
    await mgr.start();
    await seedProject(c, NS, { name: 'dfw', className: settings.locationClassName, city: 'DFW' });
  });

  after(async () => {
    await mgr?.stop();
    await Promise.all([cp?.stop(), edge?.stop()]);
  });

  it('labels downstream objects with the installation identity and reports a crash loop as the Running reason', async () => {
    const c = cp.client();
    await createInstance(c, { name: 'web-0', namespace: NS, location: { name: 'dfw', namespace: NS } });
    const running = () =>
      eventually(async () => {
        const i = await c.get(INSTANCE, 'web-0', NS);
        return condOf(i, 'Running')?.status === 'True' && condOf(i, 'Programmed')?.status === 'True'
          ? i
          : undefined;
      }, 'web-0 Running');
    const inst = await running();
    const admin = edge.cp.client();
    const [pod] = (
      await admin.list(POD, { labelSelector: `meta.datumapis.com/upstream-uid=${inst.metadata.uid}` })
    ).items;
    assert.ok(pod, 'one Pod downstream');
    assert.match(
      pod.metadata.labels?.[LABEL_MANAGED_BY] ?? '',
      /^datum-provider-[0-9a-f]+$/,
      'the installation identity',
    );
    assert.equal(
      inst.status?.networkInterfaces?.[0]?.assignments?.networkIP,
      pod.status?.podIP,
      'networkIP is the Pod IP',
    );

    // The kubelet's part, played here: the container crash-loops.
    const crash = (p: KubeObject) =>
      admin.patchStatus(POD, p.metadata.name!, p.metadata.namespace, {
        type: 'merge',
        patch: {
          status: {
            conditions: [{ type: 'Ready', status: 'False', reason: 'ContainersNotReady' }],
            containerStatuses: [
              {
                name: 'app',
                image: 'nginx:1.27',
                imageID: '',
                ready: false,
                restartCount: 4,
                state: {
                  waiting: {
                    reason: 'CrashLoopBackOff',
                    message: 'back-off 40s restarting failed container',
                  },
                },
                lastState: { terminated: { reason: 'Error', exitCode: 137 } },
              },
            ],
          },
        },
      });
    await crash(pod);
    const crashing = await eventually(async () => {
      const i = await c.get(INSTANCE, 'web-0', NS);
      return condOf(i, 'Running')?.reason === 'CrashLoopBackOff' ? i : undefined;
    }, 'Running=False/CrashLoopBackOff on the Instance');
    assert.equal(condOf(crashing, 'Running')?.status, 'False');
    assert.match(condOf(crashing, 'Running')?.message ?? '', /container app: CrashLoopBackOff.*code 137/);
    assert.equal(condOf(crashing, 'Programmed')?.status, 'True', 'still programmed: the Pod exists');

    // The container recovers (the kubelet reports it ready again).
    await admin.patchStatus(POD, pod.metadata.name!, pod.metadata.namespace, {
      type: 'merge',
      patch: {
        status: {
          conditions: [{ type: 'Ready', status: 'True' }],
          containerStatuses: [
            {
              name: 'app',
              image: 'nginx:1.27',
              imageID: '',
              ready: true,
              restartCount: 4,
              state: { running: {} },
            },
          ],
        },
      },
    });
    await running();

    await c.delete(INSTANCE, 'web-0', NS);
    await eventually(
      async () =>
        c.get(INSTANCE, 'web-0', NS).then(
          () => false,
          (e) => isNotFound(e),
        ),
      'web-0 deleted (finalizer released)',
    );
    assert.deepEqual(
      (await admin.list(POD, { labelSelector: `meta.datumapis.com/upstream-uid=${inst.metadata.uid}` }))
        .items,
      [],
      'the Pod is gone before the finalizer came off',
    );
  });
});
