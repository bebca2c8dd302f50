/**
 * Datum networking in one downstream cluster. The cluster's pod network is flat, so a NetworkContext is a
 * network identity (a labelled ConfigMap in the project namespace, whose id the Pods carry as a label) and a
 * Subnet records the Datum range next to the pod ranges the cluster reports for the Location's nodes.
 * Isolation comes from NetworkPolicies (firewall.ts). Each project gets its own namespace, created here.
 */
import {
  BackendError,
  type DeleteResult,
  type NetworkDesired,
  type NetworkObserved,
  type ResourceOwner,
  type SubnetDesired,
  type SubnetObserved,
} from '../../datum/backend.ts';
import { isAlreadyExists } from '../../runtime/client/errors.ts';
import type { KubeObject } from '../../runtime/client/types.ts';
import {
  ANN_CLUSTER,
  ANN_NAMESPACE,
  LABEL_KIND,
  LABEL_MANAGED_BY,
  LABEL_NETWORK,
  LABEL_SUBNET,
  labelValue,
  type ObjectKind,
  objectName,
  ownerMeta,
  projectNamespace,
  selector,
} from './labels.ts';
import {
  CONFIG_MAP,
  NAMESPACE,
  NETWORK_POLICY,
  NODE,
  POD,
  SECRET,
  type Session,
  VIRTUAL_MACHINE,
} from './session.ts';

/** The project namespace of `owner`, created and labelled when missing. */
export async function ensureNamespace(s: Session, owner: ResourceOwner): Promise<string> {
  const name = projectNamespace(s.settings.namespacePrefix, owner);
  const found = await s.find(`get Namespace ${name}`, (c) => c.get(NAMESPACE, name));
  if (found) {
    if (found.metadata.deletionTimestamp)
      throw new BackendError('DependencyNotReady', `namespace ${name} is being deleted`, {
        retryAfterMs: 5_000,
      });
    return name;
  }
  await s.call(`create Namespace ${name}`, (c) =>
    c
      .create(NAMESPACE, {
        metadata: {
          name,
          labels: { [LABEL_MANAGED_BY]: s.managedBy, [LABEL_KIND]: 'project' },
          annotations: { [ANN_CLUSTER]: owner.cluster, [ANN_NAMESPACE]: owner.namespace },
        },
      })
      .catch((err) => (isAlreadyExists(err) ? undefined : Promise.reject(err))),
  );
  s.log.info('created project namespace', { namespace: name });
  return name;
}

/** Our object of `kind` for `id`, wherever it lives (the id alone is known at deletion). */
export async function findById(
  s: Session,
  r: typeof CONFIG_MAP,
  kind: ObjectKind,
  id: string,
): Promise<KubeObject[]> {
  const list = await s.call(`list ${r.kind} ${id}`, (c) =>
    c.list(r, { labelSelector: selector(s.managedBy, kind, id) }),
  );
  return list.items;
}

/** Creates or converges a record ConfigMap; returns it. */
async function ensureRecord(
  s: Session,
  kind: 'network' | 'subnet',
  id: string,
  owner: ResourceOwner,
  data: Record<string, string>,
  extraLabels: Record<string, string>,
): Promise<KubeObject> {
  const namespace = await ensureNamespace(s, owner);
  const name = objectName(id);
  const meta = ownerMeta(s.managedBy, kind, id, owner);
  const want: KubeObject = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace, labels: { ...meta.labels, ...extraLabels }, annotations: meta.annotations },
    data,
  };
  const found = await s.find(`get ConfigMap ${namespace}/${name}`, (c) => c.get(CONFIG_MAP, name, namespace));
  if (!found)
    return s.call(`create ConfigMap ${namespace}/${name}`, (c) =>
      c
        .create(CONFIG_MAP, want)
        .catch((err) => (isAlreadyExists(err) ? c.get(CONFIG_MAP, name, namespace) : Promise.reject(err))),
    );
  if (JSON.stringify(found.data ?? {}) === JSON.stringify(data)) return found;
  return s.call(`update ConfigMap ${namespace}/${name}`, (c) =>
    c.patch(CONFIG_MAP, name, namespace, { type: 'merge', patch: { data } }),
  );
}

export async function ensureNetwork(s: Session, d: NetworkDesired): Promise<NetworkObserved> {
  const cm = await ensureRecord(
    s,
    'network',
    d.id,
    d.owner,
    { ipv4Cidr: d.ipv4Cidr, mtu: String(d.mtu) },
    {},
  );
  return { providerId: `${cm.metadata.namespace}/${cm.metadata.name}`, ready: true };
}

/** The pod ranges of the nodes a subnet's Instances can land on (all nodes when nodes cannot be read). */
async function clusterRanges(s: Session): Promise<string> {
  const nodes = await s
    .call('list Node', (c) => c.list(NODE, { metadataOnly: false }))
    .catch((err: BackendError) => {
      s.log.debug('cannot read node pod ranges; recording none', { reason: err.reason });
      return { items: [] as KubeObject[] };
    });
  const ranges = new Set<string>();
  for (const n of nodes.items)
    for (const r of (n.spec?.podCIDRs as string[] | undefined) ?? (n.spec?.podCIDR ? [n.spec.podCIDR] : []))
      ranges.add(r);
  return [...ranges].sort().join(',');
}

export async function ensureSubnet(s: Session, d: SubnetDesired): Promise<SubnetObserved> {
  const [network] = await findById(s, CONFIG_MAP, 'network', d.networkId);
  if (!network)
    throw new BackendError('DependencyNotReady', `network ${d.networkId} does not exist yet`, {
      retryAfterMs: 2_000,
    });
  const cm = await ensureRecord(
    s,
    'subnet',
    d.id,
    d.owner,
    { cidr: d.cidr, networkId: d.networkId, clusterPodRanges: await clusterRanges(s) },
    { [LABEL_NETWORK]: labelValue(d.networkId) },
  );
  return { providerId: `${cm.metadata.namespace}/${cm.metadata.name}`, ready: true };
}

async function deleteRecords(s: Session, items: KubeObject[]): Promise<void> {
  for (const o of items)
    if (!o.metadata.deletionTimestamp)
      await s.find(`delete ConfigMap ${o.metadata.namespace}/${o.metadata.name}`, (c) =>
        c.delete(CONFIG_MAP, o.metadata.name!, o.metadata.namespace),
      );
}

/** Refused (not gone) while objects of Instances in the subnet (Pods, VMs, policies) exist. */
export async function deleteSubnet(s: Session, id: string): Promise<DeleteResult> {
  const labelSelector = `${LABEL_MANAGED_BY}=${s.managedBy},${LABEL_SUBNET}=${labelValue(id)}`;
  const kinds = [POD, NETWORK_POLICY, ...((await s.hasKubeVirt()) ? [VIRTUAL_MACHINE] : [])];
  for (const r of kinds) {
    const users = await s.call(`list ${r.kind} of subnet ${id}`, (c) =>
      c.list(r, { labelSelector, limit: 1 }),
    );
    if (users.items.length > 0) return { gone: false };
  }
  const records = await findById(s, CONFIG_MAP, 'subnet', id);
  await deleteRecords(s, records);
  return { gone: (await findById(s, CONFIG_MAP, 'subnet', id)).length === 0 };
}

/** Refused (not gone) while subnets of the network exist. */
export async function deleteNetwork(s: Session, id: string): Promise<DeleteResult> {
  const subnets = await s.call(`list subnets of network ${id}`, (c) =>
    c.list(CONFIG_MAP, {
      labelSelector: `${selector(s.managedBy, 'subnet')},${LABEL_NETWORK}=${labelValue(id)}`,
      limit: 1,
    }),
  );
  if (subnets.items.length > 0) return { gone: false };
  const records = await findById(s, CONFIG_MAP, 'network', id);
  await deleteRecords(s, records);
  if ((await findById(s, CONFIG_MAP, 'network', id)).length > 0) return { gone: false };
  for (const ns of new Set(records.map((r) => r.metadata.namespace!))) await removeNamespaceIfUnused(s, ns);
  return { gone: true };
}

/**
 * The project namespace goes with the project's last network: once nothing of ours and no workload at all
 * (a released one included) is left in it, we delete it (an Instance or network created meanwhile waits for it to go: DependencyNotReady, then a new one).
 */
async function removeNamespaceIfUnused(s: Session, namespace: string): Promise<void> {
  const ns = await s.find(`get Namespace ${namespace}`, (c) => c.get(NAMESPACE, namespace));
  if (!ns || ns.metadata.deletionTimestamp || ns.metadata.labels?.[LABEL_MANAGED_BY] !== s.managedBy) return;
  const kinds = [
    CONFIG_MAP,
    POD,
    SECRET,
    NETWORK_POLICY,
    ...((await s.hasKubeVirt()) ? [VIRTUAL_MACHINE] : []),
  ];
  for (const r of kinds) {
    // Any workload keeps it: a released one (deletion policy Retain) runs on, unmarked, and is not ours to end.
    const workload = r === POD || r === VIRTUAL_MACHINE;
    const left = await s.call(`list ${r.kind} in ${namespace}`, (c) =>
      c.list(r, {
        namespace,
        ...(workload ? {} : { labelSelector: `${LABEL_MANAGED_BY}=${s.managedBy}` }),
        limit: 1,
      }),
    );
    if (left.items.length > 0) return;
  }
  await s.find(`delete Namespace ${namespace}`, (c) =>
    c.delete(NAMESPACE, namespace, undefined, { preconditions: { uid: ns.metadata.uid } }),
  );
  s.log.info('deleted the project namespace with its last network', { namespace });
}
