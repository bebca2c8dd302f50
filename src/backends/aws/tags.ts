/**
 * Ownership tags: every resource we create carries them at creation time (TagSpecifications), so a crashed
 * reconcile adopts instead of duplicating and `listManaged` can find everything.
 */
import type { Filter, Tag, TagSpecification } from '@aws-sdk/client-ec2';
import type { ManagedKind, ResourceOwner } from '../../datum/backend.ts';

export const TAG_MANAGED_BY = 'datum.net/managed-by';
/** The backend id (`desired.id`) the resource implements: the adoption key. */
export const TAG_ID = 'datum.net/id';
export const TAG_KIND = 'datum.net/kind';
export const TAG_CLUSTER = 'meta.datumapis.com/upstream-cluster-name';
export const TAG_NAMESPACE = 'meta.datumapis.com/upstream-namespace';
export const TAG_NAME = 'meta.datumapis.com/upstream-name';
export const TAG_UPSTREAM_KIND = 'meta.datumapis.com/upstream-kind';
export const TAG_UID = 'meta.datumapis.com/upstream-uid';
/** On VPCs: the Datum IPAM range (VPC blocks may be smaller). */
export const TAG_RANGE = 'datum.net/ipv4-range';
/** On an instance taken over with the adopt annotation: never replaced by the provider. */
export const TAG_ADOPTED = 'datum.net/adopted';
/** On instances: hash of everything that needs a relaunch to change. */
export const TAG_SPEC = 'datum.net/launch-spec';
/**
 * Left by deletion policy Retain on what it lets go that only this installation could clean up later (an
 * instance's security groups, its SSM parameters): the managed-by value of the installation that released it.
 */
export const TAG_RELEASED_BY = 'datum.net/released-by';
/** On SSM parameters released with an instance: the EC2 instance that still reads them at boot. */
export const TAG_RELEASED_WITH = 'datum.net/released-with';

/** AWS tag values allow letters, digits, spaces and `+ - = . _ : / @`, at most 256 characters. */
export function tagValue(v: string): string {
  return v.replace(/[^\p{L}\p{N} +\-=._:/@]/gu, '_').slice(0, 256);
}

export function ownerTags(managedBy: string, kind: ManagedKind, id: string, owner: ResourceOwner): Tag[] {
  return [
    { Key: 'Name', Value: tagValue(`${owner.namespace}/${owner.name}`) },
    { Key: TAG_MANAGED_BY, Value: tagValue(managedBy) },
    { Key: TAG_ID, Value: tagValue(id) },
    { Key: TAG_KIND, Value: kind },
    { Key: TAG_CLUSTER, Value: tagValue(owner.cluster) },
    { Key: TAG_NAMESPACE, Value: tagValue(owner.namespace) },
    { Key: TAG_NAME, Value: tagValue(owner.name) },
    { Key: TAG_UPSTREAM_KIND, Value: owner.kind },
    { Key: TAG_UID, Value: tagValue(owner.uid) },
  ];
}

export function tagSpecs(types: TagSpecification['ResourceType'][], tags: Tag[]): TagSpecification[] {
  return types.map((ResourceType) => ({ ResourceType, Tags: tags }));
}

/** Filters selecting our resources of one kind, optionally one id. */
export function ownedFilters(managedBy: string, kind?: ManagedKind, id?: string): Filter[] {
  const f: Filter[] = [{ Name: `tag:${TAG_MANAGED_BY}`, Values: [tagValue(managedBy)] }];
  if (kind) f.push({ Name: `tag:${TAG_KIND}`, Values: [kind] });
  if (id) f.push({ Name: `tag:${TAG_ID}`, Values: [tagValue(id)] });
  return f;
}

export function tagMap(tags: Tag[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tags ?? []) if (t.Key) out[t.Key] = t.Value ?? '';
  return out;
}

const UPSTREAM_KINDS = new Set(['Instance', 'NetworkContext', 'Subnet']);

/** The owner written by `ownerTags`, or undefined when the tags are incomplete. */
export function ownerFromTags(tags: Record<string, string>): ResourceOwner | undefined {
  const kind = tags[TAG_UPSTREAM_KIND];
  const uid = tags[TAG_UID];
  if (!kind || !UPSTREAM_KINDS.has(kind) || !uid) return undefined;
  return {
    cluster: tags[TAG_CLUSTER] ?? '',
    namespace: tags[TAG_NAMESPACE] ?? '',
    kind: kind as ResourceOwner['kind'],
    name: tags[TAG_NAME] ?? '',
    uid,
  };
}
