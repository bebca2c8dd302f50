/**
 * The backend contract suite with the Kubernetes backend on a simulated downstream cluster (kube-apiserver +
 * kwok node pool + KubeVirt stand-in, src/localenv/edge.ts) reached through the test fault proxy. The crash
 * test runs a provider process (`--backend kubernetes`) against the same downstream cluster.
 */
import { randomUUID } from 'node:crypto';
import { createKubernetesBackend, LABEL_INSTANCE, ownerMeta } from '../../src/backends/kubernetes/index.ts';
import type { ResourceOwner } from '../../src/datum/backend.ts';
import { startEdgeCluster } from '../../src/localenv/edge.ts';
import { isAlreadyExists } from '../../src/runtime/client/errors.ts';
import { providerCommand } from '../../src/testkit/contract/crash.ts';
import { runContractSuite } from '../../src/testkit/contract/suite.ts';
import { backendContext, startFaultProxy } from './kubernetes-fixtures.ts';

const POD = { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true };
const NAMESPACE = { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false };

runContractSuite({
  name: 'kubernetes (kwok downstream cluster)',
  async makeBackend() {
    const edge = await startEdgeCluster();
    const proxy = await startFaultProxy(edge.cp.connection);
    const backendConfig = { kubevirt: 'true', managedBy: `contract-${randomUUID().slice(0, 8)}` };
    const backend = createKubernetesBackend({ backendConfig });
    const ctx = backendContext(proxy.kubeconfig(), backendConfig);
    const admin = edge.cp.client();
    return {
      backend,
      credentials: (secret) => ({ kubeconfig: proxy.kubeconfig(secret) }),
      owned: async (uid) => (await backend.listManaged(ctx)).filter((r) => r.owner.uid === uid),
      async plantOrphan(owner: ResourceOwner) {
        const id = `inst-${owner.uid}`;
        // Not the project namespace (it goes with the project's last network): the sweep finds ours anywhere.
        const namespace = 'contract-orphans';
        await admin
          .create(NAMESPACE, { metadata: { name: namespace } })
          .catch((e) => (isAlreadyExists(e) ? undefined : Promise.reject(e)));
        const meta = ownerMeta(backendConfig.managedBy, 'instance', id, owner);
        await admin.create(POD, {
          metadata: {
            name: id,
            namespace,
            labels: { ...meta.labels, [LABEL_INSTANCE]: id },
            annotations: meta.annotations,
          },
          spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] },
        });
        return id;
      },
      injectInstanceFaults(mode, count) {
        proxy.inject({
          method: 'POST',
          path: /\/pods$/,
          status: mode === 'throttle' ? 429 : 500,
          retryAfterSeconds: mode === 'throttle' ? 1 : undefined,
          times: count,
        });
      },
      injectInstanceFailure(_reason, text) {
        proxy.inject({ method: 'POST', path: /\/pods$/, status: 403, times: 1, message: text });
      },
      providerProcess: (kubeconfig, locationClass, failpoint) =>
        providerCommand({ kubeconfig, locationClass, backend: 'kubernetes', backendConfig, failpoint }),
      async cleanup() {
        await backend.close();
        await proxy.close();
        await edge.stop();
      },
    };
  },
});
