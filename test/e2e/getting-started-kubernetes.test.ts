/**
 * The getting-started flow with the Kubernetes backend: `run --backend kubernetes` starts a downstream cluster
 * (kube-apiserver + kwok nodes + the KubeVirt stand-in) next to the Datum control plane. Pods and VMs get
 * cluster addresses only (no external IP). Leftovers are read from the downstream cluster itself: every object
 * carrying our managed-by label.
 */
import assert from 'node:assert/strict';
import { createClient } from '../../src/runtime/client/client.ts';
import { loadKubeconfig } from '../../src/runtime/client/config.ts';
import type { ResourceType } from '../../src/runtime/client/types.ts';
import { gettingStartedSuite } from './getting-started.ts';

const core = (kind: string, plural: string): ResourceType => ({
  group: '',
  version: 'v1',
  kind,
  plural,
  namespaced: true,
});
const KINDS: ResourceType[] = [
  core('Pod', 'pods'),
  core('ConfigMap', 'configmaps'),
  core('Secret', 'secrets'),
  {
    group: 'networking.k8s.io',
    version: 'v1',
    kind: 'NetworkPolicy',
    plural: 'networkpolicies',
    namespaced: true,
  },
  {
    group: 'kubevirt.io',
    version: 'v1',
    kind: 'VirtualMachine',
    plural: 'virtualmachines',
    namespaced: true,
  },
  {
    group: 'kubevirt.io',
    version: 'v1',
    kind: 'VirtualMachineInstance',
    plural: 'virtualmachineinstances',
    namespaced: true,
  },
];

function downstreamKubeconfig(out: string): string {
  const path = /^downstream-kubeconfig: (.+)$/m.exec(out)?.[1];
  if (!path) throw new Error('no downstream-kubeconfig line in the output');
  return path;
}

async function leftovers(out: string): Promise<string[]> {
  const client = createClient(loadKubeconfig(downstreamKubeconfig(out)), { maxAttempts: 3 });
  try {
    const found: string[] = [];
    for (const r of KINDS) {
      // VMIs carry the workload labels (managed-by included) from the VM template.
      const l = await client.list(r, { labelSelector: 'datum.net/managed-by' });
      for (const o of l.items) found.push(`${r.kind} ${o.metadata.namespace}/${o.metadata.name}`);
    }
    // The project namespace goes with the project's last network (the namespace controller finishes it).
    const ns = { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false };
    for (let i = 0; i < 60; i++) {
      const left = (await client.list(ns, { labelSelector: 'datum.net/managed-by' })).items;
      if (left.length === 0) return found;
      if (i === 59) for (const o of left) found.push(`Namespace ${o.metadata.name}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    return found;
  } finally {
    await client.close();
  }
}

gettingStartedSuite({
  backend: 'kubernetes',
  endpointLines: ['downstream-kubeconfig'],
  externalIP: false,
  leftovers,
  async afterStop(out) {
    const client = createClient(loadKubeconfig(downstreamKubeconfig(out)), {
      maxAttempts: 1,
      timeoutMs: 3000,
    });
    try {
      await assert.rejects(client.request('GET', '/readyz'), 'the downstream API server is stopped too');
    } finally {
      await client.close();
    }
  },
});
