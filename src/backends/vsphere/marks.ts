/**
 * Ownership marks: two global custom attributes on every VM and portgroup we create, `datum.owner` (JSON: our
 * id, kind, upstream owner, facts we must remember) and `datum.installation` (which provider installation).
 * vSphere has no subnet object: a network's subnets are recorded on its portgroup in `datum.subnets`.
 */
import type { ResourceOwner } from '../../datum/backend.ts';
import { customValues, type VimClient } from './vim.ts';
import type { MoRef, Node } from './xml.ts';

export const FIELD_OWNER = 'datum.owner';
export const FIELD_INSTALLATION = 'datum.installation';
export const FIELD_SUBNETS = 'datum.subnets';

export const NAME_PREFIX = 'datum-';

export interface OwnerMark {
  id: string;
  kind: 'instance' | 'network';
  owner: ResourceOwner;
  /** Instances: the address given by guest customization, the subnet, the applied template hash. */
  ip?: string;
  subnetId?: string;
  templateHash?: string;
  /** Networks: the VLAN allocated. */
  vlan?: number;
  /** Instances: taken over by the adopt annotation (not cloned by us; never replaced). */
  adopted?: boolean;
}

export interface SubnetMark {
  cidr: string;
  owner: ResourceOwner;
}

export interface Marks {
  owner?: OwnerMark;
  installation?: string;
  subnets: Record<string, SubnetMark>;
}

export interface FieldKeys {
  owner: number;
  installation: number;
  subnets: number;
}

export async function fieldKeys(vim: VimClient, signal?: AbortSignal): Promise<FieldKeys> {
  const [owner, installation, subnets] = await Promise.all([
    vim.fieldKey(FIELD_OWNER, signal),
    vim.fieldKey(FIELD_INSTALLATION, signal),
    vim.fieldKey(FIELD_SUBNETS, signal),
  ]);
  return { owner, installation, subnets };
}

/** The keys without defining the attributes (read-only callers); -1 (on no object) for one not defined. */
export async function existingFieldKeys(vim: VimClient, signal?: AbortSignal): Promise<FieldKeys> {
  const k = await vim.existingFieldKeys([FIELD_OWNER, FIELD_INSTALLATION, FIELD_SUBNETS], signal);
  return {
    owner: k.get(FIELD_OWNER) ?? -1,
    installation: k.get(FIELD_INSTALLATION) ?? -1,
    subnets: k.get(FIELD_SUBNETS) ?? -1,
  };
}

function json<T>(s: string | undefined): T | undefined {
  if (!s) return undefined;
  try {
    return JSON.parse(s) as T;
  } catch {
    return undefined;
  }
}

export function readMarks(customValue: Node, keys: FieldKeys): Marks {
  const v = customValues(customValue);
  return {
    owner: json<OwnerMark>(v.get(keys.owner)),
    installation: v.get(keys.installation) || undefined,
    subnets: json<Record<string, SubnetMark>>(v.get(keys.subnets)) ?? {},
  };
}

export async function writeOwner(
  vim: VimClient,
  keys: FieldKeys,
  entity: MoRef,
  mark: OwnerMark,
  installation: string,
  signal?: AbortSignal,
): Promise<void> {
  // Installation last: listManaged only lists what carries it, so a half-written mark is never listed.
  await vim.setField(entity, keys.owner, JSON.stringify(mark), signal);
  await vim.setField(entity, keys.installation, installation, signal);
}

export async function writeSubnets(
  vim: VimClient,
  keys: FieldKeys,
  entity: MoRef,
  subnets: Record<string, SubnetMark>,
  signal?: AbortSignal,
): Promise<void> {
  await vim.setField(entity, keys.subnets, JSON.stringify(subnets), signal);
}

/** Removes every mark (Retain): the object stays, we forget it. */
export async function clearMarks(
  vim: VimClient,
  keys: FieldKeys,
  entity: MoRef,
  signal?: AbortSignal,
): Promise<void> {
  await vim.setField(entity, keys.installation, '', signal);
  await vim.setField(entity, keys.owner, '', signal);
}
