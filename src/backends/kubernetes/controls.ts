/**
 * ObserveOnly and plan on the Kubernetes backend. Both only read (GET and LIST; plan's one write is a server
 * side dry run, which the API server validates and admits but never stores):
 * - observe: the workload named by the provider id (a Pod, else a VirtualMachine), or the one carrying our
 *   marks for the id, as it is.
 * - plan: what the next ensure would do, decided the way ensure decides (template hash, adoption, the data
 *   objects' content and the policy's spec). A workload not there yet is created: the API server is asked to
 *   create it in dry-run mode first, so a Pod it would refuse (validation, quota, Pod Security admission) is
 *   an error of the plan, not a `create` that fails later.
 */
import {
  BackendError,
  type InstanceDesired,
  type InstanceObserved,
  type InstancePlan,
} from '../../datum/backend.ts';
import { parseProviderId } from './adopt.ts';
import { normalise, policySpec } from './firewall.ts';
import { ANN_ADOPTED, ANN_TEMPLATE, idOf, LABEL_MANAGED_BY, objectName, projectNamespace } from './labels.ts';
import { changedKeys, type DataObject } from './payload.ts';
import { podState } from './pod.ts';
import { CONFIG_MAP, NETWORK_POLICY, POD, SECRET, type Session, VIRTUAL_MACHINE } from './session.ts';
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
import { diffPod, diffVm, podLines } from './workload-diff.ts';

export async function observeInstance(
  s: Session,
  ref: { id: string; providerId?: string },
): Promise<InstanceObserved | undefined> {
  if (ref.providerId) {
    const { namespace, name } = parseProviderId(ref.providerId);
    const kinds = [POD, ...(s.settings.kubevirt && (await s.hasKubeVirt()) ? [VIRTUAL_MACHINE] : [])];
    for (const r of kinds) {
      const obj = await s.find(`get ${r.kind} ${namespace}/${name}`, (c) => c.get(r, name, namespace));
      if (obj) return observedOf(s, r, obj, 1);
    }
    return undefined;
  }
  const live = await findWorkloads(s, ref.id);
  const w = live.find((x) => !x.obj.metadata.deletionTimestamp) ?? live[0];
  return w ? observedOf(s, w.r, w.obj, 1) : undefined;
}

async function dataChanges(
  s: Session,
  namespace: string,
  d: InstanceDesired,
  objects: DataObject[],
  owner: string,
): Promise<string[]> {
  const out: string[] = [];
  for (const o of objects) {
    const r = o.kind === 'Secret' ? SECRET : CONFIG_MAP;
    const what = `${o.kind} ${namespace}/${o.name}`;
    const found = await s.find(`get ${what}`, (c) => c.get(r, o.name, namespace));
    if (!found) {
      out.push(`${what}: created`);
      continue;
    }
    const keys = changedKeys(found, o);
    // Key names only (file keys, env names): never a value.
    if (keys.length)
      out.push(`${what}: ${keys.slice(0, 5).join(', ')}${keys.length > 5 ? ', …' : ''} changed`);
    else if (
      !found.metadata.ownerReferences?.some((x) => x.uid === owner) ||
      found.metadata.labels?.[LABEL_MANAGED_BY] !== s.managedBy ||
      idOf(found.metadata) !== d.id
    )
      out.push(`${what}: ownership marks`);
  }
  return out;
}

async function policyChanges(s: Session, namespace: string, d: InstanceDesired): Promise<string[]> {
  const name = objectName(d.id);
  const what = `NetworkPolicy ${namespace}/${name}`;
  const found = await s.find(`get ${what}`, (c) => c.get(NETWORK_POLICY, name, namespace));
  if (!found) return [`${what}: created`];
  const want = policySpec(d.id, d.interfaces[0]?.ingress ?? []);
  return JSON.stringify(normalise(found.spec)) === JSON.stringify(normalise(want))
    ? []
    : [`${what}: ingress rules`];
}

export async function planInstance(
  session: Session,
  d: InstanceDesired,
  topology: Record<string, string>,
): Promise<InstancePlan> {
  const s = session.redacting(sensitiveValues(d));
  if (d.runtime.kind === 'virtualMachine') await requireKubeVirt(s);
  const r = workloadType(d);
  const home = projectNamespace(s.settings.namespacePrefix, d.owner);
  const obj =
    (await s.find(`get ${r.kind} ${home}/${objectName(d.id)}`, (c) => c.get(r, objectName(d.id), home))) ??
    (await findAdopted(s, r, d.id));
  if (!obj) {
    const want = buildWorkload(s, d, objectName(d.id), home, topology);
    // A missing namespace (404) is created by ensure first: nothing to ask the API server then.
    await s.find(`dry-run create ${r.kind} ${home}/${objectName(d.id)}`, (c) =>
      c.create(r, want, { dryRun: true }),
    );
    return { action: 'create', changes: [] };
  }
  const namespace = obj.metadata.namespace!;
  const name = obj.metadata.name!;
  const what = `${r.kind} ${namespace}/${name}`;
  if (obj.metadata.labels?.[LABEL_MANAGED_BY] !== s.managedBy)
    throw new BackendError(
      'InvalidConfiguration',
      `${what} exists and is not managed by this provider installation; remove or rename it`,
    );
  const want = buildWorkload(s, d, name, namespace, topology);
  const adopted = obj.metadata.annotations?.[ANN_ADOPTED] === 'true';
  const stale = obj.metadata.annotations?.[ANN_TEMPLATE] !== d.templateHash;
  const ended = r === POD && podState(obj).ended;
  const changes: string[] = [];
  if (obj.metadata.deletionTimestamp) changes.push(`${what}: being deleted; a new one is created`);
  else if (adopted) {
    if (ended) changes.push(`${what}: ended (${String(obj.status?.phase)}); adopted, so never replaced`);
    if (stale) {
      const diff = r === POD ? diffPod(obj, want) : { fixed: diffVm(obj, want), images: [] };
      changes.push(
        ...diff.images.map((i) => `container ${i.name} image: ${i.from} → ${i.to} (in place)`),
        ...diff.fixed.map((l) => `${l}: cannot change in place, and an adopted ${r.kind} is never replaced`),
      );
      if (!diff.fixed.length && !diff.images.length)
        changes.push(`${what}: adopted; accepted as it is (labels and template hash written)`);
    }
  } else if (stale) {
    const lines = r === POD ? podLines(diffPod(obj, want)) : diffVm(obj, want);
    changes.push(
      ...(lines.length ? lines : ['template (files or settings)']),
      `${what}: replaced (${r === POD ? 'a Pod is immutable' : 'its template applies at the next start'})`,
    );
  } else if (ended) changes.push(`${what}: ended (${String(obj.status?.phase)}); it is replaced`);
  changes.push(...(await dataChanges(s, namespace, d, payloadFor(d, name), obj.metadata.uid!)));
  changes.push(...(await policyChanges(s, namespace, d)));
  return { action: changes.length ? 'update' : 'none', changes };
}
