/**
 * The adopt annotation on the Kubernetes backend: an existing Pod (sandbox) or VirtualMachine (VM), named by
 * its provider id `namespace/name` (what ensure reports), becomes the workload of an Instance.
 * - adopt: our ownership labels and annotations (plus `datum.net/adopted`) go on it, unless it carries another
 *   installation's or another object's marks, or a controller owns it (a ReplicaSet, a VMI's VM…): then
 *   `AdoptionConflict` and nothing is written. Idempotent; `NotFound` when it does not exist.
 * - accept (the next ensure): where it differs from what the Instance asks in what cannot change in place
 *   (a Pod's spec is immutable but for its images; a VM's template applies only at its next start), it is
 *   kept as it is and `Unsupported` says what differs; otherwise its images are set in place and it gets the
 *   labels the Instance's NetworkPolicy selects. An adopted workload is never deleted to be replaced.
 */
import { BackendError, type InstanceDesired } from '../../datum/backend.ts';
import type { JsonPatchOp } from '../../runtime/client/interface.ts';
import type { KubeObject, ResourceType } from '../../runtime/client/types.ts';
import {
  ANN_ADOPTED,
  ANN_TEMPLATE,
  idOf,
  LABEL_MANAGED_BY,
  LABEL_UID,
  ownerMeta,
  ownerOf,
} from './labels.ts';
import { workloadLabels } from './pod.ts';
import { POD, type Session } from './session.ts';
import { findWorkloads, requireKubeVirt, workloadType } from './workload.ts';
import { diffPod, diffVm, pointer } from './workload-diff.ts';

const DNS = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** `namespace/name`, as ensure reports a workload. */
export function parseProviderId(providerId: string): { namespace: string; name: string } {
  const [namespace = '', name = '', ...rest] = providerId.split('/');
  if (rest.length || !DNS.test(namespace) || !DNS.test(name))
    throw new BackendError(
      'InvalidConfiguration',
      `"${providerId.slice(0, 120)}" is not a workload of this backend: give namespace/name of a Pod (sandbox) or VirtualMachine (VM)`,
    );
  return { namespace, name };
}

/** Whose marks `meta` carries, when they are not ours for this Instance; undefined when none or ours. */
function otherOwner(s: Session, obj: KubeObject, d: InstanceDesired): string | undefined {
  const meta = obj.metadata;
  const by = meta.labels?.[LABEL_MANAGED_BY];
  const id = idOf(meta);
  const uid = meta.annotations?.[LABEL_UID] ?? meta.labels?.[LABEL_UID];
  const controller = meta.ownerReferences?.find((o) => o.controller);
  if (controller) return `its controller ${controller.kind} ${controller.name}`;
  if (by === undefined && id === undefined && uid === undefined) return undefined;
  if (by === s.managedBy && id === d.id && uid === d.owner.uid) return undefined;
  if (by !== undefined && by !== s.managedBy) return `another installation (${by})`;
  const o = ownerOf(meta);
  return o ? `${o.kind} ${o.namespace}/${o.name}` : `another object (${id ?? uid})`;
}

const isConflict = (err: unknown) =>
  err instanceof BackendError && (err.cause as { status?: number } | undefined)?.status === 409;

export async function adoptInstance(
  s: Session,
  providerId: string,
  d: InstanceDesired,
): Promise<{ providerId: string }> {
  const { namespace, name } = parseProviderId(providerId);
  if (d.runtime.kind === 'virtualMachine') await requireKubeVirt(s);
  // A busy workload (its status written by a kubelet) may change between read and write: read it again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await adoptOnce(s, namespace, name, d);
    } catch (err) {
      if (!isConflict(err) || attempt >= 3) throw err;
    }
  }
}

async function adoptOnce(
  s: Session,
  namespace: string,
  name: string,
  d: InstanceDesired,
): Promise<{ providerId: string }> {
  const r = workloadType(d);
  const what = `${r.kind} ${namespace}/${name}`;
  const obj = await s.find(`get ${what}`, (c) => c.get(r, name, namespace));
  if (!obj || obj.metadata.deletionTimestamp)
    throw new BackendError(
      'NotFound',
      `no ${what} to adopt (a ${d.runtime.kind} Instance adopts a ${r.kind})`,
    );
  const whose = otherOwner(s, obj, d);
  if (whose) throw new BackendError('AdoptionConflict', `${what} is managed by ${whose}: not adopting it`);
  if (obj.metadata.labels?.[LABEL_MANAGED_BY] === s.managedBy) return { providerId: `${namespace}/${name}` };
  const mine = (await findWorkloads(s, d.id)).filter(
    (w) => w.obj.metadata.uid !== obj.metadata.uid && !w.obj.metadata.deletionTimestamp,
  );
  if (mine.length > 0)
    throw new BackendError(
      'InvalidConfiguration',
      `this Instance already runs as ${mine[0]!.obj.metadata.namespace}/${mine[0]!.obj.metadata.name}; adopting ${namespace}/${name} too would leave one unmanaged`,
    );
  const meta = ownerMeta(s.managedBy, 'instance', d.id, d.owner);
  // The resourceVersion makes two adopters racing for it conflict: the loser reads again and sees our marks.
  await s.call(`adopt ${what}`, (c) =>
    c.patch(r, name, namespace, {
      type: 'merge',
      patch: {
        metadata: {
          resourceVersion: obj.metadata.resourceVersion,
          labels: meta.labels,
          // No template hash: the next ensure compares it with the Instance before accepting it.
          annotations: { ...meta.annotations, [ANN_ADOPTED]: 'true', [ANN_TEMPLATE]: null },
        },
      },
    }),
  );
  s.log.info('adopted an existing workload', { instance: d.id, object: what });
  return { providerId: `${namespace}/${name}` };
}

function refuse(what: string, kind: string, diffs: string[]): BackendError {
  return new BackendError(
    'Unsupported',
    `adopted ${what} differs where a ${kind} cannot change in place (${diffs.join('; ')}); an adopted workload is never replaced: make the Instance match it, or delete it and remove the adopt annotation`,
  );
}

/** Ensure on an adopted workload whose template is not the Instance's yet: converge in place, or say why not. */
export async function acceptAdopted(
  s: Session,
  r: ResourceType,
  d: InstanceDesired,
  obj: KubeObject,
  want: KubeObject,
): Promise<KubeObject> {
  const name = obj.metadata.name!;
  const namespace = obj.metadata.namespace!;
  const what = `${r.kind} ${namespace}/${name}`;
  const labels = workloadLabels(s.managedBy, d);
  let updated: KubeObject;
  if (r === POD) {
    const diff = diffPod(obj, want);
    if (diff.fixed.length) throw refuse(what, 'Pod', diff.fixed);
    const ops: JsonPatchOp[] = [
      ...diff.images.flatMap((i) => [
        { op: 'test' as const, path: `/spec/containers/${i.index}/name`, value: i.name },
        { op: 'replace' as const, path: `/spec/containers/${i.index}/image`, value: i.to },
      ]),
      ...Object.entries(labels).map(([k, v]) => ({
        op: 'add' as const,
        path: `/metadata/labels/${pointer(k)}`,
        value: v,
      })),
      { op: 'add', path: `/metadata/annotations/${pointer(ANN_TEMPLATE)}`, value: d.templateHash },
    ];
    updated = await s.call(`converge adopted ${what}`, (c) =>
      c.patch(r, name, namespace, { type: 'json', patch: ops }),
    );
    if (diff.images.length)
      s.log.info('set the images of an adopted Pod in place', {
        instance: d.id,
        pod: what,
        images: diff.images,
      });
  } else {
    const diffs = diffVm(obj, want);
    if (diffs.length) throw refuse(what, 'VirtualMachine', diffs);
    updated = await s.call(`converge adopted ${what}`, (c) =>
      c.patch(r, name, namespace, {
        type: 'merge',
        patch: {
          metadata: {
            labels,
            annotations: { [ANN_TEMPLATE]: d.templateHash },
          },
          spec: { template: { metadata: { labels } } },
        },
      }),
    );
    // A running VM's launcher Pod keeps the labels it started with: relabel it, so the policy selects it now.
    const launchers = await s.call(`list launcher Pods of ${what}`, (c) =>
      c.list(POD, { namespace, labelSelector: `vm.kubevirt.io/name=${name}` }),
    );
    for (const p of launchers.items)
      await s.find(`label launcher Pod ${namespace}/${p.metadata.name}`, (c) =>
        c.patch(POD, p.metadata.name!, namespace, { type: 'merge', patch: { metadata: { labels } } }),
      );
  }
  s.log.info('adopted workload accepted', { instance: d.id, object: what });
  return updated;
}
