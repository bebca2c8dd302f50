/**
 * Datum Instance → a Pod (sandbox) or a KubeVirt VirtualMachine (VM), named by the Instance id in the project
 * namespace, with its data objects and its NetworkPolicy. Per ensure: namespace, workload (created, adopted by
 * name after a crash, or replaced when the template hash changed: Pods are immutable), data objects owned by
 * it, policy; then observe. Deletion is awaited: a Pod in Terminating is not gone.
 */
import {
  BackendError,
  type DeleteResult,
  type InstanceDesired,
  type InstanceObserved,
} from '../../datum/backend.ts';
import { isAlreadyExists } from '../../runtime/client/errors.ts';
import type { KubeObject, ResourceType } from '../../runtime/client/types.ts';
import { deleteFirewall, ensureFirewall } from './firewall.ts';
import { buildVirtualMachine, cloudInit, vmiAddress, vmState } from './kubevirt.ts';
import {
  ANN_TEMPLATE,
  LABEL_MANAGED_BY,
  LABEL_NETWORK,
  LABEL_SUBNET,
  objectName,
  selector,
} from './labels.ts';
import { ensureNamespace } from './network.ts';
import { buildPayload, deletePayload, ensurePayload } from './payload.ts';
import { buildPod, podState, workloadLabels } from './pod.ts';
import {
  CONFIG_MAP,
  NETWORK_POLICY,
  POD,
  SECRET,
  type Session,
  VIRTUAL_MACHINE,
  VIRTUAL_MACHINE_INSTANCE,
} from './session.ts';

export interface Placement {
  topology: Record<string, string>;
}

function sensitiveValues(d: InstanceDesired): string[] {
  const files = (
    d.runtime.kind === 'virtualMachine' ? d.runtime.files : d.runtime.containers.flatMap((c) => c.files)
  )
    .filter((f) => f.sensitive)
    .flatMap((f) => [f.data, Buffer.from(f.data, 'base64').toString('utf8')]);
  const env =
    d.runtime.kind === 'sandbox' ? d.runtime.containers.flatMap((c) => c.env.filter((e) => e.sensitive)) : [];
  return [...files, ...env.map((e) => e.value)];
}

async function requireKubeVirt(s: Session): Promise<void> {
  if (!s.settings.kubevirt)
    throw new BackendError(
      'Unsupported',
      'virtual machines need KubeVirt in the downstream cluster; this ProviderConfig does not enable it (config kubevirt: "true")',
    );
  if (!(await s.hasKubeVirt()))
    throw new BackendError(
      'Unsupported',
      'the downstream cluster does not serve kubevirt.io/v1 VirtualMachines: install KubeVirt there, or set config kubevirt: "false"',
    );
}

export async function ensureInstance(
  session: Session,
  d: InstanceDesired,
  where: Placement,
): Promise<InstanceObserved> {
  // An API error may quote what we sent (e.g. a rejected env value): never an Instance's Secret content.
  const s = session.redacting(sensitiveValues(d));
  const vm = d.runtime.kind === 'virtualMachine';
  if (vm) await requireKubeVirt(s);
  const r: ResourceType = vm ? VIRTUAL_MACHINE : POD;
  const namespace = await ensureNamespace(s, d.owner);
  const name = objectName(d.id);
  const what = `${r.kind} ${namespace}/${name}`;
  const want = vm
    ? buildVirtualMachine(s.settings, s.managedBy, d, name, namespace, where.topology)
    : buildPod(s.settings, s.managedBy, d, name, namespace, where.topology);

  let obj = await s.find(`get ${what}`, (c) => c.get(r, name, namespace));
  if (obj && obj.metadata.labels?.[LABEL_MANAGED_BY] !== s.managedBy)
    throw new BackendError(
      'InvalidConfiguration',
      `${what} exists and is not managed by this provider installation; remove or rename it`,
    );
  if (obj?.metadata.deletionTimestamp) return observe(s, d, obj, false);
  if (obj && obj.metadata.annotations?.[ANN_TEMPLATE] !== d.templateHash) {
    // Pods are immutable, and a VM's template applies at its next start: replace either one.
    s.log.info('replacing the workload for a new template', { instance: d.id, object: what });
    await s.find(`delete ${what}`, (c) => c.delete(r, name, namespace, { propagationPolicy: 'Background' }));
    return observe(s, d, obj, false);
  }
  if (obj && !vm && podState(obj).ended) {
    s.log.info('replacing an ended Pod', { instance: d.id, pod: what, phase: obj.status?.phase });
    await s.find(`delete ${what}`, (c) => c.delete(r, name, namespace, { gracePeriodSeconds: 0 }));
    return observe(s, d, obj, true);
  }
  if (!obj) {
    obj = await s.call<KubeObject>(`create ${what}`, (c) =>
      c
        .create(r, want)
        .catch((err) => (isAlreadyExists(err) ? c.get(r, name, namespace) : Promise.reject(err))),
    );
    s.log.info('created the workload', { instance: d.id, object: what });
  }
  const ownerRef = {
    apiVersion: r.group ? `${r.group}/${r.version}` : r.version,
    kind: r.kind,
    name,
    uid: obj.metadata.uid!,
    controller: true,
    blockOwnerDeletion: false,
  };
  const files =
    d.runtime.kind === 'virtualMachine' ? d.runtime.files : d.runtime.containers.flatMap((c) => c.files);
  const secretEnv =
    d.runtime.kind === 'sandbox'
      ? d.runtime.containers.flatMap((c) =>
          c.env.filter((e) => e.sensitive).map((e) => ({ container: c.name, name: e.name, value: e.value })),
        )
      : [];
  const payload = vm
    ? buildPayload(name, [], [], { userdata: Buffer.from(cloudInit(d)).toString('base64') })
    : buildPayload(name, files, secretEnv);
  await ensurePayload(s, namespace, d.id, d.owner, payload, ownerRef);
  const { [LABEL_NETWORK]: net, [LABEL_SUBNET]: sub } = workloadLabels(s.managedBy, d);
  await ensureFirewall(s, namespace, d.id, d.owner, d.interfaces[0]?.ingress ?? [], {
    ...(net ? { [LABEL_NETWORK]: net } : {}),
    ...(sub ? { [LABEL_SUBNET]: sub } : {}),
  });
  return observe(s, d, obj, true);
}

async function observe(
  s: Session,
  d: InstanceDesired,
  obj: KubeObject,
  upToDate: boolean,
): Promise<InstanceObserved> {
  const providerId = `${obj.metadata.namespace}/${obj.metadata.name}`;
  const addresses = d.interfaces.map(() => ({}) as { networkIP?: string });
  if (d.runtime.kind === 'virtualMachine') {
    const st = vmState(obj);
    const vmi = await s.find(`get VirtualMachineInstance ${providerId}`, (c) =>
      c.get(VIRTUAL_MACHINE_INSTANCE, obj.metadata.name!, obj.metadata.namespace),
    );
    const ip = vmiAddress(vmi);
    if (ip && addresses[0]) addresses[0].networkIP = ip;
    return { providerId, upToDate, addresses, ...st, powerState: upToDate ? st.powerState : 'pending' };
  }
  const st = podState(obj);
  const ip = obj.status?.podIP as string | undefined;
  if (ip && addresses[0]) addresses[0].networkIP = ip;
  return {
    providerId,
    upToDate,
    powerState: upToDate || st.powerState !== 'running' ? st.powerState : 'pending',
    addresses,
    ...(st.reason ? { reason: st.reason, message: st.message } : {}),
  };
}

/** Our workloads with this id, wherever they live. */
export async function findWorkloads(s: Session, id: string): Promise<{ r: ResourceType; obj: KubeObject }[]> {
  const out: { r: ResourceType; obj: KubeObject }[] = [];
  const sel = selector(s.managedBy, 'instance', id);
  const pods = await s.call(`list Pod ${id}`, (c) => c.list(POD, { labelSelector: sel }));
  for (const obj of pods.items) out.push({ r: POD, obj });
  if (await s.hasKubeVirt()) {
    const vms = await s.call(`list VirtualMachine ${id}`, (c) =>
      c.list(VIRTUAL_MACHINE, { labelSelector: sel }),
    );
    for (const obj of vms.items) out.push({ r: VIRTUAL_MACHINE, obj });
  }
  return out;
}

/** Deletes the workload; gone only once it no longer exists, then its data objects and policy. */
export async function deleteInstance(s: Session, id: string): Promise<DeleteResult> {
  const live = await findWorkloads(s, id);
  for (const { r, obj } of live)
    if (!obj.metadata.deletionTimestamp)
      await s.find(`delete ${r.kind} ${obj.metadata.namespace}/${obj.metadata.name}`, (c) =>
        c.delete(r, obj.metadata.name!, obj.metadata.namespace, { propagationPolicy: 'Background' }),
      );
  if (live.length > 0) return { gone: false };
  // The data objects and policy of this id, in whatever namespace they are (the workload may be gone already).
  const leftovers = await s.call(`list NetworkPolicy ${id}`, (c) =>
    c.list(NETWORK_POLICY, { labelSelector: selector(s.managedBy, 'firewall', id) }),
  );
  const data = await s.call(`list ConfigMap ${id}`, (c) =>
    c.list(CONFIG_MAP, { labelSelector: selector(s.managedBy, 'instance-data', id) }),
  );
  const secrets = await s.call(`list Secret ${id}`, (c) =>
    c.list(SECRET, { labelSelector: selector(s.managedBy, 'instance-data', id) }),
  );
  const namespaces = new Set(
    [...leftovers.items, ...data.items, ...secrets.items].map((o) => o.metadata.namespace!),
  );
  for (const ns of namespaces) {
    await deleteFirewall(s, ns, id);
    await deletePayload(s, objectName(id), ns);
  }
  return { gone: true };
}
