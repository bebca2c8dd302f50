/**
 * A downstream cluster next to the Datum control plane: its own kube-apiserver + etcd (data under
 * `<data dir>/downstream`, so a restart resumes), kwok simulating a node pool (Dallas and London sites, a GPU
 * node), the KubeVirt stand-in and the scheduler stand-in (src/localenv/edge.ts). The credentials Secret holds
 * its kubeconfig and the default ProviderConfig names it, as production would have them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyAll } from '../apply.ts';
import { startEdgeCluster } from '../edge.ts';
import type { LocalPlatform, LocalPlatformContext } from './index.ts';
import { defaultProviderConfig } from './provider-config.ts';

export async function startLocalKubernetes({
  cp,
  settings,
  dataDir,
}: LocalPlatformContext): Promise<LocalPlatform> {
  const edge = await startEdgeCluster({ controlPlane: { dataDir: join(dataDir, 'downstream') } });
  try {
    await applyAll(
      cp.client(),
      [
        ...defaultProviderConfig(settings, {
          secret: {
            name: 'downstream-kubeconfig',
            data: { kubeconfig: readFileSync(edge.kubeconfigPath, 'utf8') },
          },
          config: { kubevirt: 'true' },
        }),
      ],
      'datum-provider-local',
    );
  } catch (err) {
    await edge.stop();
    throw err;
  }
  settings.backend = 'kubernetes';
  settings.backendConfig = { kubevirt: 'true', ...settings.backendConfig };
  return {
    lines: [`downstream-kubeconfig: ${edge.kubeconfigPath}`],
    describe:
      'Pods and KubeVirt VMs in a local downstream cluster (kube-apiserver + kwok nodes); see them with kubectl --kubeconfig <downstream-kubeconfig> get pods,vms -A',
    stop: () => edge.stop(),
  };
}
