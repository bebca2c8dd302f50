/**
 * Deterministic GCE names and request ids, and ownership marks. GCE names match
 * `[a-z]([-a-z0-9]{0,61}[a-z0-9])?`; label keys and values are lowercase, at most 63 characters. Networks,
 * subnetworks and firewalls have no labels in the Compute API: their ownership is a JSON mark in the
 * description (written at creation); instances carry labels (for filtering and release) and the mark.
 */
import { createHash } from 'node:crypto';
import type { ManagedKind, ResourceOwner } from '../../datum/backend.ts';

const hex = (s: string) => createHash('sha256').update(s).digest('hex');

export type NameKind = 'net' | 'sub' | 'vm' | 'fw';

/** `dpt-<kind>-<readable part of id>-<hash of id>`, at most 63 characters. */
export function gceName(kind: NameKind, id: string): string {
  const prefix = `dpt-${kind}-`;
  const slug = id
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 63 - prefix.length - 11)
    .replace(/-$/, '');
  return `${prefix}${slug ? `${slug}-` : ''}${hex(id).slice(0, 10)}`;
}

/** Firewall names of one instance share this prefix (rule index appended). */
export const firewallPrefix = (instanceId: string) => `dpt-fw-${hex(instanceId).slice(0, 16)}`;
export const firewallName = (instanceId: string, iface: number, rule: number) =>
  `${firewallPrefix(instanceId)}-${iface}-${rule}`;

/** A UUID derived from what the request does: the same request gets the same id, so GCE runs it once. */
export function requestId(...parts: string[]): string {
  const h = hex(parts.join('|'));
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** A label value: kept when already valid, else a readable prefix and a hash. */
export function labelValue(v: string): string {
  if (/^[a-z0-9_-]{0,63}$/.test(v)) return v;
  const slug = v
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '-')
    .slice(0, 40);
  return `${slug}-${hex(v).slice(0, 16)}`.slice(0, 63);
}

export const LABEL_INSTALLATION = 'datum-installation';
export const LABEL_OWNER_UID = 'datum-owner-uid';
export const LABEL_CLUSTER = 'datum-cluster';
export const LABEL_KIND = 'datum-kind';
export const LABEL_SPEC = 'datum-spec';
/** The backend id: how an instance is found when its name is not ours (adopted). */
export const LABEL_ID = 'datum-id';
/** Taken over with the adopt annotation: accepted as it is, never replaced. */
export const LABEL_ADOPTED = 'datum-adopted';
export const OUR_LABELS = [
  LABEL_INSTALLATION,
  LABEL_OWNER_UID,
  LABEL_CLUSTER,
  LABEL_KIND,
  LABEL_SPEC,
  LABEL_ID,
  LABEL_ADOPTED,
];
/**
 * Metadata key of an adopted instance's ownership mark (its description, where our instances carry it, is
 * fixed at creation and is someone else's).
 */
export const OWNER_METADATA_KEY = 'datum-owner';

export function ownerLabels(
  managedBy: string,
  id: string,
  owner: ResourceOwner,
  spec?: string,
): Record<string, string> {
  return {
    [LABEL_INSTALLATION]: labelValue(managedBy),
    [LABEL_ID]: labelValue(id),
    [LABEL_OWNER_UID]: labelValue(owner.uid),
    [LABEL_CLUSTER]: labelValue(owner.cluster),
    [LABEL_KIND]: labelValue(owner.kind),
    ...(spec ? { [LABEL_SPEC]: spec } : {}),
  };
}

export interface OwnershipMark {
  managedBy: string;
  kind: ManagedKind;
  id: string;
  owner: ResourceOwner;
}

const MARK = 'datum-provider-ts managed:';
/** How a released firewall rule's description starts (its mark replaced: it is no longer anyone's). */
export const RELEASED = 'released by datum-provider-ts';

export function markDescription(m: OwnershipMark): string {
  return `${MARK}${JSON.stringify(m)}`;
}

export function parseMark(description: string | null | undefined): OwnershipMark | undefined {
  if (!description?.startsWith(MARK)) return undefined;
  try {
    const m = JSON.parse(description.slice(MARK.length)) as OwnershipMark;
    return m?.id && m.owner?.uid && m.kind ? m : undefined;
  } catch {
    return undefined;
  }
}

export const specHash = (v: unknown) => hex(JSON.stringify(v)).slice(0, 16);

/**
 * An instance's ownership mark: the adopted one's metadata record, else its description; only one naming the
 * id its `datum-id` label names (a released instance's description still names its former owner).
 */
export function instanceMark(i: {
  labels?: Record<string, string> | null;
  description?: string | null;
  metadata?: { items?: { key?: string | null; value?: string | null }[] | null } | null;
}): OwnershipMark | undefined {
  const id = i.labels?.[LABEL_ID];
  const record = i.metadata?.items?.find((x) => x.key === OWNER_METADATA_KEY)?.value;
  for (const m of [parseMark(record), parseMark(i.description)])
    if (m && m.kind === 'instance' && (id === undefined || labelValue(m.id) === id)) return m;
  return undefined;
}
