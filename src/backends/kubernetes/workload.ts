/**
 * The workload of an Instance (a Pod, or a KubeVirt VirtualMachine): its type, the object we would build, its
 * data objects, finding it by our marks, and reading its state. Shared by ensure, delete, adopt, observe and
 * plan; nothing here writes.
 */
import { BackendError, type InstanceDesired, type InstanceObserved } from '../../datum/backend.ts';
import type { KubeObject, ResourceType } from '../../runtime/client/types.ts';
import { buildVirtualMachine, cloudInit, vmiAddress, vmState } from './kubevirt.ts';
import { ANN_ADOPTED, idOf, selector } from './labels.ts';
import { buildPayload, type DataObject } from './payload.ts';
import { buildPod, podState } from './pod.ts';
import { POD, type Session, VIRTUAL_MACHINE, VIRTUAL_MACHINE_INSTANCE } from './session.ts';

export function sensitiveValues(d: InstanceDesired): string[] {
  const files = (
    d.runtime.kind === 'virtualMachine' ? d.runtime.files : d.runtime.containers.flatMap((c) => c.files)
  )
    .filter((f) => f.sensitive)
    .flatMap((f) => [f.data, Buffer.from(f.data, 'base64').toString('utf8')]);
  const env =
    d.runtime.kind === 'sandbox' ? d.runtime.containers.flatMap((c) => c.env.filter((e) => e.sensitive)) : [];
  return [...files, ...env.map((e) => e.value)];
}

export async function requireKubeVirt(s: Session): Promise<void> {
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

export function workloadType(d: InstanceDesired): ResourceType {
  return d.runtime.kind === 'virtualMachine' ? VIRTUAL_MACHINE : POD;
}

export function buildWorkload(
  s: Session,
  d: InstanceDesired,
  name: string,
  namespace: string,
  topology: Record<string, string>,
): KubeObject {
  return d.runtime.kind === 'virtualMachine'
    ? buildVirtualMachine(s.settings, s.managedBy, d, name, namespace, topology)
    : buildPod(s.settings, s.managedBy, d, name, namespace, topology);
}

/** The data objects of the workload `name`: files, Secret files and env, or a VM's cloud-init. */
export function payloadFor(d: InstanceDesired, name: string): DataObject[] {
  if (d.runtime.kind === 'virtualMachine')
    return buildPayload(name, [], [], { userdata: Buffer.from(cloudInit(d)).toString('base64') });
  const files = d.runtime.containers.flatMap((c) => c.files);
  const secretEnv = d.runtime.containers.flatMap((c) =>
    c.env.filter((e) => e.sensitive).map((e) => ({ container: c.name, name: e.name, value: e.value })),
  );
  return buildPayload(name, files, secretEnv);
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

/** The adopted workload of `id` (it keeps its own name and namespace), found by our marks. */
export async function findAdopted(s: Session, r: ResourceType, id: string): Promise<KubeObject | undefined> {
  const list = await s.call(`list ${r.kind} ${id}`, (c) =>
    c.list(r, { labelSelector: selector(s.managedBy, 'instance', id) }),
  );
  return list.items.find((o) => o.metadata.annotations?.[ANN_ADOPTED] === 'true' && idOf(o.metadata) === id);
}

/** The workload's state as it is (`upToDate` false); `nics` address slots, the first one filled. */
export async function observedOf(
  s: Session,
  r: ResourceType,
  obj: KubeObject,
  nics: number,
): Promise<InstanceObserved> {
  const providerId = `${obj.metadata.namespace}/${obj.metadata.name}`;
  const addresses = Array.from({ length: nics }, () => ({}) as { networkIP?: string });
  if (r === VIRTUAL_MACHINE) {
    const vmi = await s.find(`get VirtualMachineInstance ${providerId}`, (c) =>
      c.get(VIRTUAL_MACHINE_INSTANCE, obj.metadata.name!, obj.metadata.namespace),
    );
    const ip = vmiAddress(vmi);
    if (ip && addresses[0]) addresses[0].networkIP = ip;
    return { providerId, upToDate: false, addresses, ...vmState(obj) };
  }
  const st = podState(obj);
  const ip = obj.status?.podIP as string | undefined;
  if (ip && addresses[0]) addresses[0].networkIP = ip;
  return {
    providerId,
    upToDate: false,
    powerState: st.powerState,
    addresses,
    ...(st.reason ? { reason: st.reason, message: st.message } : {}),
  };
}
