/**
 * Ownership marks on PVE objects. Guests: a name derived from the Datum id (so a lookup by name finds a guest
 * even before its tags are written), PVE tags (lowercase, `;`-separated) for the installation, and a
 * description block with the owner. Networks and subnets: cluster firewall IPSets and their entries, whose
 * comments carry the same block.
 */
import { createHash } from 'node:crypto';
import type { ResourceOwner } from '../../datum/backend.ts';

export const MANAGED_TAG = 'datum';

export function digest(text: string, hexChars = 16): string {
  return createHash('sha256').update(text).digest('hex').slice(0, hexChars);
}

export function installationTag(installation: string): string {
  return `dpi-${digest(installation, 10)}`;
}

export function subnetTag(installation: string, subnetId: string): string {
  return `dps-${digest(`${installation}/${subnetId}`, 10)}`;
}

/** The guest name (a DNS label) of a Datum instance id. */
export function guestName(installation: string, id: string): string {
  return `dp-${digest(`${installation}/${id}`)}`;
}

/** The IPSet name of a Datum network id. */
export function networkSetName(installation: string, id: string): string {
  return `dpn-${digest(`${installation}/${id}`, 12)}`;
}

/** A number in [lo, hi] derived from text: where VMID and VLAN probing start. */
export function hashInRange(text: string, lo: number, hi: number): number {
  const n = Number.parseInt(digest(text, 12), 16);
  return lo + (n % (hi - lo + 1));
}

export interface Marks {
  owner: ResourceOwner;
  id: string;
  installation: string;
  /** Instances: the template hash the guest was configured for, and the image it was made from. */
  templateHash?: string;
  image?: string;
  /** Instances: taken over with the adopt annotation (never replaced by the provider). */
  adopted?: boolean;
  /** Networks: the VLAN tag. */
  vlan?: number;
}

const PREFIX = 'datum-provider:';

export function writeMarks(m: Marks): string {
  return `${PREFIX}${JSON.stringify(m)}`;
}

export function readMarks(text: string | undefined): Marks | undefined {
  if (!text) return undefined;
  const line = text.split('\n').find((l) => l.startsWith(PREFIX));
  if (!line) return undefined;
  try {
    const m = JSON.parse(line.slice(PREFIX.length)) as Marks;
    return m?.owner && typeof m.id === 'string' ? m : undefined;
  } catch {
    return undefined;
  }
}

export function splitTags(tags: string | undefined): string[] {
  return (tags ?? '').split(/[;, ]+/).filter(Boolean);
}
