/**
 * A simulated downstream cluster for the Kubernetes backend: its own kube-apiserver + etcd, kwok keeping a
 * node pool alive (sites in Dallas and London, one GPU node with `nvidia.com/gpu` capacity and a taint),
 * kube-controller-manager's garbage collector and namespace controller (as in a real cluster), the KubeVirt
 * stand-in CRDs and kwok Stages (src/localenv/kubevirt/), and the edge simulator (scheduler and
 * virt-controller stand-ins). Used by `make run --backend kubernetes` and the backend's tests.
 */
import { fileURLToPath } from 'node:url';
import { ControlPlane, type ControlPlaneOptions } from './controlplane.ts';
import { type EdgeSimulator, startEdgeSimulator } from './edge-sim.ts';
import { type FakeNodeOptions, type Kwok, startKwok } from './kwok.ts';

export const KUBEVIRT_CRDS = fileURLToPath(new URL('./kubevirt/crds.yaml', import.meta.url));
export const KUBEVIRT_STAGES = fileURLToPath(new URL('./kubevirt/stages.yaml', import.meta.url));
export const CITY_LABEL = 'topology.datum.net/city-code';
export const REGION_LABEL = 'topology.datum.net/region';
export const GPU_RESOURCE = 'nvidia.com/gpu';

/** The default pool: Location topology labels on every node, pod ranges inside Datum's default 10.128.0.0/9. */
export const DEFAULT_NODES: Record<string, FakeNodeOptions> = {
  'edge-dfw-1': { labels: { [CITY_LABEL]: 'DFW', [REGION_LABEL]: 'us-east-1' }, podCIDR: '10.128.1.0/24' },
  'edge-lhr-1': { labels: { [CITY_LABEL]: 'LHR', [REGION_LABEL]: 'us-east-1' }, podCIDR: '10.128.2.0/24' },
  'gpu-dfw-1': {
    labels: { [CITY_LABEL]: 'DFW', [REGION_LABEL]: 'us-east-1', 'nvidia.com/gpu.present': 'true' },
    podCIDR: '10.128.3.0/24',
    capacity: { [GPU_RESOURCE]: '4' },
    taints: [{ key: GPU_RESOURCE, value: 'present', effect: 'NoSchedule' }],
  },
};

/** kwok reads the OpenAPI v3 of the kinds its Stages name at start: wait until a new CRD's is published. */
async function openApiPublished(cp: ControlPlane, path: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const doc = await cp
      .client()
      .request<{ paths?: Record<string, unknown> }>('GET', '/openapi/v3')
      .catch(() => ({ paths: {} as Record<string, unknown> }));
    if (doc.paths?.[path]) return;
    if (Date.now() > deadline) throw new Error(`the API server did not publish the OpenAPI of ${path}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface EdgeCluster {
  cp: ControlPlane;
  kwok: Kwok;
  sim: EdgeSimulator;
  kubeconfigPath: string;
  stop(): Promise<void>;
}

export async function startEdgeCluster(
  opts: { nodes?: Record<string, FakeNodeOptions>; controlPlane?: ControlPlaneOptions; vmCidr?: string } = {},
): Promise<EdgeCluster> {
  // The garbage collector (ownerReferences) and the namespace controller run as in a real cluster.
  const cpOpts = {
    controllerManager: true,
    ...opts.controlPlane,
    crdDirs: [KUBEVIRT_CRDS, ...(opts.controlPlane?.crdDirs ?? [])],
  };
  // A free port can be taken between its probe and the bind (other processes start servers too): retry then.
  const cp = await ControlPlane.start(cpOpts).catch((err: Error) =>
    /address already in use/.test(err.message) ? ControlPlane.start(cpOpts) : Promise.reject(err),
  );
  let kwok: Kwok | undefined;
  let sim: EdgeSimulator | undefined;
  try {
    await openApiPublished(cp, 'apis/kubevirt.io/v1');
    kwok = await startKwok(cp, { cidr: '10.128.0.1/24', stages: [KUBEVIRT_STAGES] });
    for (const [name, o] of Object.entries(opts.nodes ?? DEFAULT_NODES))
      await kwok
        .createNode(name, o)
        .catch((err) => (/already exists/.test(String(err)) ? undefined : Promise.reject(err)));
    sim = startEdgeSimulator(cp.client(), { vmCidr: opts.vmCidr ?? '10.128.200.0/24' });
  } catch (err) {
    await kwok?.stop();
    await cp.stop();
    throw err;
  }
  const k = kwok;
  const s = sim;
  return {
    cp,
    kwok: k,
    sim: s,
    kubeconfigPath: cp.kubeconfigPath,
    async stop() {
      await s.stop();
      await k.stop();
      await cp.stop();
    },
  };
}
