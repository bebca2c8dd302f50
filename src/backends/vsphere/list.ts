/**
 * Finding what we manage: one container-view scan over VMs and networks (portgroups), keeping those whose
 * `datum.installation` mark is ours (another installation sharing the vCenter never sees ours, nor we theirs).
 */
import type { ManagedResource } from '../../datum/backend.ts';
import { type Marks, readMarks } from './marks.ts';
import type { Session } from './session.ts';
import { type MoRef, type Node, text } from './xml.ts';

export interface Scanned {
  obj: MoRef;
  name: string;
  marks: Marks;
  props: Record<string, Node>;
}

export async function scanManaged(
  s: Session,
  // `Network` covers both standard networks and distributed portgroups (its subtype).
  types: ('VirtualMachine' | 'Network')[] = ['VirtualMachine', 'Network'],
  extra: string[] = [],
): Promise<Scanned[]> {
  const keys = await s.readKeys();
  const objs = await s.vim.list(types, ['name', 'customValue', ...extra], s.signal);
  const out: Scanned[] = [];
  for (const o of objs) {
    const marks = readMarks(o.props.customValue, keys);
    if (marks.installation !== s.installation) continue;
    out.push({ obj: o.obj, name: text(o.props.name) ?? '', marks, props: o.props });
  }
  return out;
}

export async function listManaged(s: Session): Promise<ManagedResource[]> {
  const out: ManagedResource[] = [];
  for (const o of await scanManaged(s)) {
    const m = o.marks.owner;
    if (m) out.push({ kind: m.kind, id: m.id, providerId: o.obj.value, owner: m.owner });
    if (o.obj.type !== 'VirtualMachine')
      for (const [id, sub] of Object.entries(o.marks.subnets))
        out.push({ kind: 'subnet', id, providerId: subnetProviderId(o.obj, sub.cidr), owner: sub.owner });
  }
  return out;
}

export function subnetProviderId(pg: MoRef, cidr: string): string {
  return `${pg.value}/${cidr}`;
}
