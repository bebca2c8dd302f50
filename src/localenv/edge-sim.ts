/**
 * Stand-ins for the parts of a downstream cluster that kwok does not simulate, for the local platform and the
 * tests: a scheduler (binds pending Pods to a Ready, schedulable, matching node whose taints they tolerate and
 * whose extended resources, e.g. `nvidia.com/gpu`, suffice; kwok's own marker taint is ignored) and KubeVirt's
 * virt-controller (a VirtualMachine that kwok made Ready gets a VirtualMachineInstance with an address from
 * `vmCidr`; kwok's Stage makes it Running). Polls; a pass takes one list of each kind.
 */
import type { HttpClient } from '../runtime/client/client.ts';
import { isAlreadyExists, isNotFound } from '../runtime/client/errors.ts';
import type { KubeObject, ResourceType } from '../runtime/client/types.ts';
import { NODE } from './kwok.ts';

const POD: ResourceType = { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true };
const VM: ResourceType = {
  group: 'kubevirt.io',
  version: 'v1',
  kind: 'VirtualMachine',
  plural: 'virtualmachines',
  namespaced: true,
};
const VMI: ResourceType = { ...VM, kind: 'VirtualMachineInstance', plural: 'virtualmachineinstances' };

interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
}
interface Taint {
  key: string;
  value?: string;
  effect: string;
}

const IGNORED_TAINT = 'kwok.x-k8s.io/node';
const NOT_READY = 'node.kubernetes.io/not-ready';
const BUILTIN = new Set(['cpu', 'memory', 'pods', 'ephemeral-storage']);

function tolerates(tols: Toleration[], t: Taint): boolean {
  if (t.key === IGNORED_TAINT) return true;
  return tols.some(
    (x) =>
      (!x.effect || x.effect === t.effect) &&
      (x.operator === 'Exists'
        ? !x.key || x.key === t.key
        : x.key === t.key && (x.value ?? '') === (t.value ?? '')),
  );
}

function conditionReady(node: KubeObject): boolean {
  const conds = (node.status?.conditions as { type: string; status: string }[] | undefined) ?? [];
  return conds.some((c) => c.type === 'Ready' && c.status === 'True');
}

function ready(node: KubeObject): boolean {
  return !node.spec?.unschedulable && conditionReady(node);
}

/** Extended resources a Pod requests (summed over containers). */
function extended(pod: KubeObject): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of (pod.spec?.containers as { resources?: { requests?: Record<string, string> } }[]) ?? [])
    for (const [k, v] of Object.entries(c.resources?.requests ?? {}))
      if (!BUILTIN.has(k)) out[k] = (out[k] ?? 0) + Number(v);
  return out;
}

export interface EdgeSimulator {
  /** One scheduling and VM pass (tests call it to not wait for the next tick). */
  pass(): Promise<void>;
  stop(): Promise<void>;
}

export function startEdgeSimulator(
  client: HttpClient,
  opts: { vmCidr?: string; intervalMs?: number } = {},
): EdgeSimulator {
  const [base = '10.244.200.0'] = (opts.vmCidr ?? '10.244.200.0/24').split('/');
  const prefix = base.split('.').slice(0, 3).join('.');
  const used = new Set<string>();
  let stopped = false;
  let running: Promise<void> = Promise.resolve();

  /** The node lifecycle controller's part: a node carries the not-ready taint exactly while it is not Ready. */
  async function nodeLifecycle(): Promise<void> {
    for (const n of (await client.list(NODE)).items) {
      const taints = (n.spec?.taints as Taint[] | undefined) ?? [];
      const has = taints.some((t) => t.key === NOT_READY);
      const isReady = conditionReady(n);
      if (has !== isReady) continue;
      const next = isReady
        ? taints.filter((t) => t.key !== NOT_READY)
        : [...taints, { key: NOT_READY, effect: 'NoSchedule' }];
      await client
        .patch(NODE, n.metadata.name!, undefined, {
          type: 'merge',
          patch: { metadata: { resourceVersion: n.metadata.resourceVersion }, spec: { taints: next } },
        })
        .catch(() => {});
    }
  }

  /**
   * Also the node lifecycle controller's part: Pods on a node that is not Ready get Ready=False (as
   * MarkPodsNotReady does: status only, no reason; their containers still read ready, as last reported); and
   * the kubelet's once the node is back: Ready=True again for Pods whose containers are all ready.
   */
  async function podReadiness(): Promise<void> {
    const nodes = new Map((await client.list(NODE)).items.map((n) => [n.metadata.name!, conditionReady(n)]));
    for (const p of (await client.list(POD, {})).items) {
      const node = p.spec?.nodeName as string | undefined;
      if (!node || p.status?.phase !== 'Running' || p.metadata.deletionTimestamp) continue;
      const conds = (p.status?.conditions as { type: string; status: string }[] | undefined) ?? [];
      const containers = (p.status?.containerStatuses as { ready?: boolean }[] | undefined) ?? [];
      const rc = conds.find((c) => c.type === 'Ready');
      const nodeReady = nodes.get(node) ?? false;
      let next: string | undefined;
      if (!nodeReady && rc?.status === 'True') next = 'False';
      if (nodeReady && rc?.status === 'False' && containers.length > 0 && containers.every((c) => c.ready))
        next = 'True';
      if (!next) continue;
      const now = `${new Date().toISOString().slice(0, 19)}Z`;
      const conditions = conds.map((c) =>
        c.type === 'Ready' ? { ...c, status: next, lastTransitionTime: now } : c,
      );
      await client
        .patchStatus(POD, p.metadata.name!, p.metadata.namespace, {
          type: 'merge',
          patch: { status: { conditions } },
        })
        .catch(() => {});
    }
  }

  async function schedule(): Promise<void> {
    const pods = (await client.list(POD, {})).items;
    const pending = pods.filter((p) => !p.spec?.nodeName && !p.metadata.deletionTimestamp);
    if (pending.length === 0) return;
    const nodes = (await client.list(NODE)).items.filter(ready);
    const inUse = new Map<string, Record<string, number>>();
    for (const p of pods) {
      const n = p.spec?.nodeName as string | undefined;
      if (!n || p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') continue;
      const u = inUse.get(n) ?? {};
      for (const [k, v] of Object.entries(extended(p))) u[k] = (u[k] ?? 0) + v;
      inUse.set(n, u);
    }
    for (const pod of pending) {
      const selector = (pod.spec?.nodeSelector as Record<string, string> | undefined) ?? {};
      const tols = (pod.spec?.tolerations as Toleration[] | undefined) ?? [];
      const wants = extended(pod);
      const fit = nodes.find((n) => {
        const labels = n.metadata.labels ?? {};
        if (!Object.entries(selector).every(([k, v]) => labels[k] === v)) return false;
        const taints = ((n.spec?.taints as Taint[] | undefined) ?? []).filter(
          (t) => t.effect !== 'PreferNoSchedule',
        );
        if (!taints.every((t) => tolerates(tols, t))) return false;
        const alloc = (n.status?.allocatable as Record<string, string> | undefined) ?? {};
        const u = inUse.get(n.metadata.name!) ?? {};
        return Object.entries(wants).every(([k, v]) => Number(alloc[k] ?? 0) - (u[k] ?? 0) >= v);
      });
      if (!fit) continue;
      const u = inUse.get(fit.metadata.name!) ?? {};
      for (const [k, v] of Object.entries(wants)) u[k] = (u[k] ?? 0) + v;
      inUse.set(fit.metadata.name!, u);
      await client
        .request('POST', `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}/binding`, {
          apiVersion: 'v1',
          kind: 'Binding',
          metadata: { name: pod.metadata.name, namespace: pod.metadata.namespace },
          target: { apiVersion: 'v1', kind: 'Node', name: fit.metadata.name },
        })
        .catch((err) => process.env.EDGE_SIM_DEBUG && console.error('bind', err));
    }
  }

  async function virtController(): Promise<void> {
    let vms: KubeObject[];
    try {
      vms = (await client.list(VM, {})).items;
    } catch (err) {
      if (isNotFound(err)) return; // no KubeVirt CRDs in this cluster
      throw err;
    }
    const vmis = (await client.list(VMI, {})).items;
    const have = new Set(vmis.map((v) => `${v.metadata.namespace}/${v.metadata.name}`));
    for (const v of vmis)
      for (const i of (v.status?.interfaces as { ipAddress?: string }[]) ?? [])
        if (i.ipAddress) used.add(i.ipAddress);
    for (const vm of vms) {
      if (vm.metadata.deletionTimestamp || !vm.status?.ready) continue;
      if (have.has(`${vm.metadata.namespace}/${vm.metadata.name}`)) continue;
      let ip = '';
      for (let i = 2; i < 255 && !ip; i++) if (!used.has(`${prefix}.${i}`)) ip = `${prefix}.${i}`;
      if (!ip) continue;
      used.add(ip);
      const labels = (vm.spec?.template as { metadata?: { labels?: Record<string, string> } })?.metadata
        ?.labels;
      await client
        .create(VMI, {
          apiVersion: 'kubevirt.io/v1',
          kind: 'VirtualMachineInstance',
          metadata: {
            name: vm.metadata.name,
            namespace: vm.metadata.namespace,
            labels,
            ownerReferences: [
              {
                apiVersion: 'kubevirt.io/v1',
                kind: 'VirtualMachine',
                name: vm.metadata.name!,
                uid: vm.metadata.uid!,
                controller: true,
              },
            ],
          },
          spec: (vm.spec?.template as { spec?: unknown })?.spec ?? {},
        })
        .then((vmi) =>
          client.patchStatus(VMI, vmi.metadata.name!, vmi.metadata.namespace, {
            type: 'merge',
            patch: {
              status: {
                phase: 'Running',
                interfaces: [{ name: 'default', ipAddress: ip, ipAddresses: [ip] }],
              },
            },
          }),
        )
        .catch((err) => (isAlreadyExists(err) ? undefined : Promise.reject(err)));
    }
    // No garbage collector here: a VMI whose VM is gone goes too.
    const vmKeys = new Set(
      vms
        .filter((v) => !v.metadata.deletionTimestamp)
        .map((v) => `${v.metadata.namespace}/${v.metadata.name}`),
    );
    for (const v of vmis)
      if (!vmKeys.has(`${v.metadata.namespace}/${v.metadata.name}`)) {
        await client.delete(VMI, v.metadata.name!, v.metadata.namespace).catch(() => {});
        for (const i of (v.status?.interfaces as { ipAddress?: string }[]) ?? [])
          if (i.ipAddress) used.delete(i.ipAddress);
      }
  }

  const pass = () => {
    running = running.then(async () => {
      await nodeLifecycle().catch(() => {});
      await podReadiness().catch(() => {});
      await schedule().catch((err) => process.env.EDGE_SIM_DEBUG && console.error('schedule', err));
      await virtController().catch(() => {});
    });
    return running;
  };
  const tick = async () => {
    while (!stopped) {
      await pass();
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 300));
    }
  };
  const loop = tick();
  return {
    pass,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
