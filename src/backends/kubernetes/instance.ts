/**
 * Datum Instance → a Pod (sandbox) or a KubeVirt VirtualMachine (VM), named by the Instance id in the project
 * namespace, with its data objects and its NetworkPolicy. Per ensure: namespace, workload (created, found by
 * name after a crash, or replaced when the template hash changed: Pods are immutable; one taken over with the
 * adopt annotation keeps its name and namespace and is never replaced, see adopt.ts), data objects owned by it,
 * policy; then observe. Deletion is awaited: a Pod in Terminating is not gone.
 */
import {
  BackendError,
  type DeleteResult,
  type InstanceDesired,
  type InstanceObserved,
} from '../../datum/backend.ts';
import { isAlreadyExists } from '../../runtime/client/errors.ts';
import type { KubeObject } from '../../runtime/client/types.ts';
import { acceptAdopted } from './adopt.ts';
import { deleteFirewall, ensureFirewall } from './firewall.ts';
import {
  ANN_ADOPTED,
  ANN_TEMPLATE,
  LABEL_MANAGED_BY,
  LABEL_NETWORK,
  LABEL_SUBNET,
  objectName,
  selector,
} from './labels.ts';
import { ensureNamespace } from './network.ts';
import { deletePayload, ensurePayload } from './payload.ts';
import { podState, workloadLabels } from './pod.ts';
import { CONFIG_MAP, NETWORK_POLICY, SECRET, type Session } from './session.ts';
import {
  buildWorkload,
  findAdopted,
  findWorkloads,
  observedOf,
  payloadFor,
  requireKubeVirt,
  sensitiveValues,
  workloadType,
} from './workload.ts';

export interface Placement {
  topology: Record<string, string>;
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
  const r = workloadType(d);
  const home = await ensureNamespace(s, d.owner);
  let obj = await s.find(`get ${r.kind} ${home}/${objectName(d.id)}`, (c) =>
    c.get(r, objectName(d.id), home),
  );
  // An adopted workload keeps its own name and namespace; it is found by our marks.
  obj ??= await findAdopted(s, r, d.id);
  const namespace = obj?.metadata.namespace ?? home;
  const name = obj?.metadata.name ?? objectName(d.id);
  const what = `${r.kind} ${namespace}/${name}`;
  const want = buildWorkload(s, d, name, namespace, where.topology);

  if (obj && obj.metadata.labels?.[LABEL_MANAGED_BY] !== s.managedBy)
    throw new BackendError(
      'InvalidConfiguration',
      `${what} exists and is not managed by this provider installation; remove or rename it`,
    );
  if (obj?.metadata.deletionTimestamp) return observe(s, d, obj, false);
  const adopted = obj?.metadata.annotations?.[ANN_ADOPTED] === 'true';
  if (obj && adopted) {
    // Never replaced: converged in place where it can be, else the differences are reported.
    if (!vm && podState(obj).ended)
      throw new BackendError(
        'Unsupported',
        `adopted ${what} ended (${String(obj.status?.phase)}); an adopted workload is never replaced: delete it, and the Instance creates its own once the adopt annotation is removed`,
      );
    if (obj.metadata.annotations?.[ANN_TEMPLATE] !== d.templateHash)
      obj = await acceptAdopted(s, r, d, obj, want);
  } else if (obj && obj.metadata.annotations?.[ANN_TEMPLATE] !== d.templateHash) {
    // Pods are immutable, and a VM's template applies at its next start: replace either one.
    s.log.info('replacing the workload for a new template', { instance: d.id, object: what });
    await s.find(`delete ${what}`, (c) => c.delete(r, name, namespace, { propagationPolicy: 'Background' }));
    return observe(s, d, obj, false);
  }
  if (obj && !adopted && !vm && podState(obj).ended) {
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
  const payload = payloadFor(d, name);
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
  const o = await observedOf(s, workloadType(d), obj, d.interfaces.length);
  // Not up to date: the old workload's state is not the desired one's (a VM being replaced is pending).
  const pending = d.runtime.kind === 'virtualMachine' || o.powerState === 'running';
  return { ...o, upToDate, powerState: upToDate || !pending ? o.powerState : 'pending' };
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
  // An adopted workload's data objects are named after it, not after the id: those found by label.
  for (const [r, items] of [
    [CONFIG_MAP, data.items],
    [SECRET, secrets.items],
  ] as const)
    for (const o of items)
      if (!o.metadata.name!.startsWith(`${objectName(id)}-`))
        await s.find(`delete ${r.kind} ${o.metadata.namespace}/${o.metadata.name}`, (c) =>
          c.delete(r, o.metadata.name!, o.metadata.namespace),
        );
  return { gone: true };
}
