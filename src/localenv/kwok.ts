/**
 * kwok (simulated nodes and pods) against a test control plane: an optional component for backends that
 * realize Instances as Pods on an edge cluster. Nodes annotated `kwok.x-k8s.io/node=fake` are kept Ready by
 * kwok, and pods bound to them become Running with an IP from `cidr`.
 */

import type { HttpClient } from '../runtime/client/client.ts';
import type { KubeObject, ResourceType } from '../runtime/client/types.ts';
import { resolveBinary } from './binaries.ts';
import type { ControlPlane } from './controlplane.ts';
import { ProcessGroup } from './process.ts';

export const NODE: ResourceType = {
  group: '',
  version: 'v1',
  kind: 'Node',
  plural: 'nodes',
  namespaced: false,
};
export const FAKE_NODE_ANNOTATION = 'kwok.x-k8s.io/node';

export interface FakeNodeOptions {
  labels?: Record<string, string>;
  /** Extra allocatable resources (e.g. `{ 'nvidia.com/gpu': '4' }`) next to kwok's default cpu/memory/pods. */
  capacity?: Record<string, string>;
  taints?: { key: string; value?: string; effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' }[];
  /** The node's pod range (pods on it get IPs from there); default: kwok's `cidr`. */
  podCIDR?: string;
}

export interface Kwok {
  /** Creates a Node that kwok manages (it reports Ready within a second or two). */
  createNode(name: string, opts?: FakeNodeOptions): Promise<KubeObject>;
  stop(): Promise<void>;
}

/**
 * `stages`: kwok config files with extra Stages (e.g. for custom resources); kwok keeps its default node and
 * pod stages as long as the files define none for those kinds.
 */
export async function startKwok(
  cp: ControlPlane,
  opts: { cidr?: string; stages?: string[] } = {},
): Promise<Kwok> {
  const bin = await resolveBinary('kwok');
  const procs = new ProcessGroup();
  const logDir = procs.tempDir('datum-kwok-');
  procs.start(
    'kwok',
    bin,
    [
      `--kubeconfig=${cp.kubeconfigPath}`,
      '--manage-all-nodes=false',
      `--manage-nodes-with-annotation-selector=${FAKE_NODE_ANNOTATION}=fake`,
      '--manage-nodes-with-label-selector=',
      '--manage-single-node=',
      `--cidr=${opts.cidr ?? '10.0.0.1/24'}`,
      '--node-ip=10.0.0.1',
      '--node-lease-duration-seconds=40',
      ...(opts.stages ?? []).map((f) => `--config=${f}`),
    ],
    logDir,
  );
  const client: HttpClient = cp.client();
  return {
    createNode: async (name, o = {}) => {
      const node = await client.create(NODE, {
        metadata: {
          name,
          annotations: { [FAKE_NODE_ANNOTATION]: 'fake' },
          labels: { 'kubernetes.io/hostname': name, type: 'kwok', ...o.labels },
        },
        spec: {
          taints: [{ key: 'kwok.x-k8s.io/node', value: 'fake', effect: 'NoSchedule' }, ...(o.taints ?? [])],
          ...(o.podCIDR ? { podCIDR: o.podCIDR, podCIDRs: [o.podCIDR] } : {}),
        },
      });
      if (!o.capacity) return node;
      // kwok fills cpu/memory/pods on its first status update; extended resources are ours to add.
      const resources = { cpu: '32', memory: '256Gi', pods: '110', ...o.capacity };
      return client.patchStatus(NODE, name, undefined, {
        type: 'merge',
        patch: { status: { capacity: resources, allocatable: resources } },
      });
    },
    stop: () => procs.stopAll(),
  };
}
