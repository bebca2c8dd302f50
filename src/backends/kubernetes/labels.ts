/**
 * Ownership marks on every downstream object: labels to select by (managed-by, id, kind, upstream uid) and
 * annotations with the exact upstream owner (names may exceed what a label value allows). A crashed reconcile
 * finds its object by the deterministic name; `listManaged` finds everything by the managed-by label.
 */
import { createHash } from 'node:crypto';
import type { ManagedKind, ResourceOwner } from '../../datum/backend.ts';
import type { ObjectMeta } from '../../runtime/client/types.ts';
import { isLabelValue } from './settings.ts';

export const LABEL_MANAGED_BY = 'datum.net/managed-by';
/** The backend id (`desired.id`) the object implements: the adoption key. */
export const LABEL_ID = 'datum.net/id';
/** network | subnet | instance | firewall, or `instance-data` (an Instance's files, env and cloud-init). */
export const LABEL_KIND = 'datum.net/kind';
export const LABEL_UID = 'meta.datumapis.com/upstream-uid';
/** On Pods and VM templates (so on KubeVirt's launcher Pods too): what NetworkPolicies select. */
export const LABEL_INSTANCE = 'datum.net/instance';
export const LABEL_NETWORK = 'datum.net/network';
export const LABEL_SUBNET = 'datum.net/subnet';
export const ANN_CLUSTER = 'meta.datumapis.com/upstream-cluster-name';
export const ANN_NAMESPACE = 'meta.datumapis.com/upstream-namespace';
export const ANN_NAME = 'meta.datumapis.com/upstream-name';
export const ANN_KIND = 'meta.datumapis.com/upstream-kind';
/** On Pods and VMs: the template hash they were built from. */
export const ANN_TEMPLATE = 'datum.net/template-hash';
/** On a Pod or VM taken over with the adopt annotation: it keeps its name and is never replaced. */
export const ANN_ADOPTED = 'datum.net/adopted';

/** Labels removed on release (deletion policy Retain). */
export const OWNERSHIP_LABELS = [LABEL_MANAGED_BY, LABEL_ID, LABEL_KIND, LABEL_UID];
export const OWNERSHIP_ANNOTATIONS = [
  ANN_CLUSTER,
  ANN_NAMESPACE,
  ANN_NAME,
  ANN_KIND,
  LABEL_UID,
  LABEL_ID,
  ANN_ADOPTED,
];

export type ObjectKind = ManagedKind | 'instance-data' | 'project';

const hash = (s: string, n: number) => createHash('sha256').update(s).digest('hex').slice(0, n);

/** A label value for anything: itself when valid, else a readable prefix and a hash. */
export function labelValue(v: string): string {
  if (isLabelValue(v)) return v;
  const slug = v
    .replace(/[^A-Za-z0-9_.-]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 40)
    .replace(/[^A-Za-z0-9]+$/, '');
  return `${slug ? `${slug}-` : ''}${hash(v, 16)}`;
}

/** A DNS-1123 label (object name) for an id: itself when valid, else a slug and a hash. */
export function objectName(id: string, suffix = ''): string {
  const full = `${id}${suffix}`;
  if (/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(full)) return full;
  const slug = id
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+/, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return `${slug ? `${slug}-` : ''}${hash(id, 10)}${suffix}`;
}

/** The namespace of a Datum project (upstream cluster + namespace): deterministic, DNS-1123, at most 63. */
export function projectNamespace(prefix: string, owner: { cluster: string; namespace: string }): string {
  const slug = owner.namespace
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 63 - prefix.length - 11)
    .replace(/-+$/, '');
  return `${prefix}${slug ? `${slug}-` : ''}${hash(`${owner.cluster}/${owner.namespace}`, 10)}`;
}

export function ownerMeta(
  managedBy: string,
  kind: ObjectKind,
  id: string,
  owner: ResourceOwner,
): Pick<ObjectMeta, 'labels' | 'annotations'> {
  return {
    labels: {
      [LABEL_MANAGED_BY]: managedBy,
      [LABEL_ID]: labelValue(id),
      [LABEL_KIND]: kind,
      [LABEL_UID]: labelValue(owner.uid),
    },
    annotations: {
      [ANN_CLUSTER]: owner.cluster,
      [ANN_NAMESPACE]: owner.namespace,
      [ANN_NAME]: owner.name,
      [ANN_KIND]: owner.kind,
      [LABEL_UID]: owner.uid,
      [LABEL_ID]: id,
    },
  };
}

export function selector(managedBy: string, kind?: ObjectKind, id?: string): string {
  const parts = [`${LABEL_MANAGED_BY}=${managedBy}`];
  if (kind) parts.push(`${LABEL_KIND}=${kind}`);
  if (id) parts.push(`${LABEL_ID}=${labelValue(id)}`);
  return parts.join(',');
}

const UPSTREAM_KINDS = new Set(['Instance', 'NetworkContext', 'Subnet']);

/** The owner written by `ownerMeta`, or undefined when the marks are incomplete. */
export function ownerOf(meta: ObjectMeta): ResourceOwner | undefined {
  const a = meta.annotations ?? {};
  const kind = a[ANN_KIND];
  const uid = a[LABEL_UID] ?? meta.labels?.[LABEL_UID];
  if (!kind || !UPSTREAM_KINDS.has(kind) || !uid) return undefined;
  return {
    cluster: a[ANN_CLUSTER] ?? '',
    namespace: a[ANN_NAMESPACE] ?? '',
    kind: kind as ResourceOwner['kind'],
    name: a[ANN_NAME] ?? '',
    uid,
  };
}

/** The exact id of an object (annotation; the label may be a hashed form). */
export function idOf(meta: ObjectMeta): string | undefined {
  return meta.annotations?.[LABEL_ID] ?? meta.labels?.[LABEL_ID];
}
