/**
 * Datum networks → distributed portgroups named `datum-<id>` on the configured switch, each with a VLAN
 * allocated deterministically (a hash of the id, probing past VLANs our other portgroups hold) and recorded
 * in its mark. Subnets have no vSphere object: they are recorded on their network's portgroup.
 */
import { createHash } from 'node:crypto';
import {
  BackendError,
  type DeleteResult,
  type NetworkDesired,
  type NetworkObserved,
  type SubnetDesired,
  type SubnetObserved,
} from '../../datum/backend.ts';
import { AlreadyExists, DuplicateName, ManagedObjectNotFound, NotFound } from './faults.ts';
import { type Scanned, scanManaged, subnetProviderId } from './list.ts';
import { clearMarks, NAME_PREFIX, readMarks, type SubnetMark, writeOwner, writeSubnets } from './marks.ts';
import type { Session } from './session.ts';
import { arr, el, type MoRef, text, xsiType } from './xml.ts';

export function portgroupName(id: string): string {
  return `${NAME_PREFIX}${id}`;
}

export async function findPortgroup(s: Session, id: string): Promise<MoRef | undefined> {
  const p = await s.placement();
  return s.vim.findByInventoryPath(`${p.networkFolderPath}/${portgroupName(id)}`, s.signal);
}

/** The VLAN for `id`: the first free one from a hash-chosen start (free = no managed portgroup holds it). */
export function allocateVlan(id: string, range: [number, number], taken: Set<number>): number {
  const size = range[1] - range[0] + 1;
  const start = createHash('sha256').update(id).digest().readUInt32BE(0) % size;
  for (let i = 0; i < size; i++) {
    const vlan = range[0] + ((start + i) % size);
    if (!taken.has(vlan)) return vlan;
  }
  throw new BackendError('QuotaExceeded', `vsphere: every VLAN in ${range[0]}-${range[1]} is allocated`, {
    retryable: true,
    retryAfterMs: 60_000,
  });
}

export async function ensureNetwork(s: Session, d: NetworkDesired): Promise<NetworkObserved> {
  const keys = await s.keys();
  return s.locks.run('vlan', async () => {
    let pg = await findPortgroup(s, d.id);
    let vlan: number | undefined;
    if (!pg) {
      const managed = await scanManaged(s, ['Network']);
      const taken = new Set(
        managed.map((m) => m.marks.owner?.vlan).filter((v): v is number => v !== undefined),
      );
      // Never share a VLAN with anyone's distributed portgroup (another team's network, another installation).
      for (const v of await distributedVlans(s)) taken.add(v);
      vlan = allocateVlan(d.id, s.settings.vlanRange, taken);
      const p = await s.placement();
      if (s.settings.portgroupType === 'standard') {
        await addStandardPortgroup(s, p.networkSystems, portgroupName(d.id), vlan);
        pg = await findPortgroup(s, d.id);
      }
      const spec =
        el('name', portgroupName(d.id)) +
        el('description', `Datum network ${d.owner.namespace}/${d.owner.name} (${d.ipv4Cidr})`) +
        el('numPorts', 32) +
        '<defaultPortConfig xsi:type="VMwareDVSPortSetting"><vlan xsi:type="VmwareDistributedVirtualSwitchVlanIdSpec">' +
        `${el('inherited', false)}${el('vlanId', vlan)}</vlan></defaultPortConfig>` +
        el('type', 'earlyBinding');
      if (p.dvs)
        try {
          await s.vim.runTask('AddDVPortgroup_Task', p.dvs, `<spec>${spec}</spec>`, s.signal);
        } catch (err) {
          // Created by a concurrent reconcile or a crashed earlier one: adopt it below if it is ours.
          if (!(err instanceof DuplicateName)) throw err;
        }
      pg = await findPortgroup(s, d.id);
      if (!pg)
        throw new BackendError(
          'Transient',
          `vsphere: portgroup ${portgroupName(d.id)} not found after creating it`,
        );
    }
    const [cur] = await s.vim.retrieve(
      [pg],
      pg.type === 'DistributedVirtualPortgroup'
        ? ['customValue', 'config.defaultPortConfig']
        : ['customValue'],
      s.signal,
    );
    const marks = readMarks(cur?.props.customValue, keys);
    if (marks.installation && marks.installation !== s.installation)
      throw new BackendError(
        'InvalidConfiguration',
        `vsphere: portgroup ${portgroupName(d.id)} belongs to another installation`,
      );
    if (!marks.owner || marks.installation !== s.installation) {
      vlan ??= Number(text(cur?.props['config.defaultPortConfig']?.vlan?.vlanId)) || undefined;
      await writeOwner(
        s.vim,
        keys,
        pg,
        { id: d.id, kind: 'network', owner: d.owner, vlan },
        s.installation,
        s.signal,
      );
    }
    return { providerId: pg.value, ready: true };
  });
}

/** VLAN ids (single-VLAN specs) of every distributed portgroup vCenter holds. */
async function distributedVlans(s: Session): Promise<number[]> {
  const pgs = await s.vim.list(['DistributedVirtualPortgroup'], ['config.defaultPortConfig'], s.signal);
  return pgs
    .map((o) => o.props['config.defaultPortConfig']?.vlan)
    .filter((v) => xsiType(v) === 'VmwareDistributedVirtualSwitchVlanIdSpec')
    .map((v) => Number(text(v.vlanId)))
    .filter((n) => n > 0);
}

/** Adds the portgroup to every host's standard switch (hosts that already have it are skipped). */
async function addStandardPortgroup(s: Session, systems: MoRef[], name: string, vlan: number): Promise<void> {
  const spec =
    el('name', name) +
    el('vlanId', vlan) +
    el('vswitchName', s.settings.placement.vswitch) +
    '<policy></policy>';
  for (const ns of systems)
    try {
      await s.vim.invoke('AddPortGroup', ns, `<portgrp>${spec}</portgrp>`, {
        signal: s.signal,
        idempotent: false,
      });
    } catch (err) {
      // ESXi answers AlreadyExists for a host that has it; vcsim answers DuplicateName for every host after
      // the first (it models one network object per AddPortGroup).
      if (!(err instanceof AlreadyExists) && !(err instanceof DuplicateName)) throw err;
    }
}

export async function deleteNetwork(s: Session, id: string): Promise<DeleteResult> {
  const pg = await findPortgroup(s, id);
  if (!pg) return { gone: true };
  // Like vCenter's ResourceInUse, and like a VPC with subnets: subnets and VMs go first.
  const [cur] = await s.vim.retrieve([pg], ['customValue', 'vm'], s.signal);
  const subnets = Object.keys(readMarks(cur?.props.customValue, await s.keys()).subnets);
  if (subnets.length)
    throw new BackendError(
      'DependencyNotReady',
      `vsphere: network ${id} still has subnets ${subnets.join(', ')}`,
      {
        retryAfterMs: 2_000,
      },
    );
  const vms = arr(cur?.props.vm?.ManagedObjectReference);
  if (vms.length)
    throw new BackendError(
      'DependencyNotReady',
      `vsphere: network ${id} is still used by ${vms.length} VM(s)`,
      {
        retryAfterMs: 2_000,
      },
    );
  if (s.settings.portgroupType === 'standard') {
    // A standard portgroup's network object goes away with the last host's portgroup.
    for (const ns of (await s.placement()).networkSystems)
      try {
        await s.vim.invoke('RemovePortGroup', ns, el('pgName', portgroupName(id)), {
          signal: s.signal,
          idempotent: true,
        });
      } catch (err) {
        if (!(err instanceof NotFound)) throw err;
      }
  } else {
    try {
      await s.vim.runTask('Destroy_Task', pg, '', s.signal);
    } catch (err) {
      if (!(err instanceof ManagedObjectNotFound)) throw err;
    }
  }
  return { gone: !(await findPortgroup(s, id)) };
}

async function marked(s: Session, pg: MoRef): Promise<Scanned['marks']> {
  const keys = await s.keys();
  const [cur] = await s.vim.retrieve([pg], ['customValue'], s.signal);
  const { readMarks } = await import('./marks.ts');
  return readMarks(cur?.props.customValue, keys);
}

export async function ensureSubnet(s: Session, d: SubnetDesired): Promise<SubnetObserved> {
  const pg = await findPortgroup(s, d.networkId);
  if (!pg)
    throw new BackendError('DependencyNotReady', `vsphere: network ${d.networkId} has no portgroup yet`, {
      retryAfterMs: 2_000,
    });
  return s.locks.run(`subnets:${pg.value}`, async () => {
    const marks = await marked(s, pg);
    const cur = marks.subnets[d.id];
    if (!cur || cur.cidr !== d.cidr || cur.owner.uid !== d.owner.uid) {
      const next: Record<string, SubnetMark> = { ...marks.subnets, [d.id]: { cidr: d.cidr, owner: d.owner } };
      await writeSubnets(s.vim, await s.keys(), pg, next, s.signal);
    }
    return { providerId: subnetProviderId(pg, d.cidr), ready: true };
  });
}

/** The portgroup recording subnet `id` (a scan: a subnet id does not name its network). */
async function subnetHolder(s: Session, id: string): Promise<Scanned | undefined> {
  return (await scanManaged(s, ['Network'])).find((o) => id in o.marks.subnets);
}

export async function deleteSubnet(s: Session, id: string): Promise<DeleteResult> {
  const holder = await subnetHolder(s, id);
  if (!holder) return { gone: true };
  // Like a subnet with instances in it: the VMs go first.
  const users = (await scanManaged(s, ['VirtualMachine'])).filter((v) => v.marks.owner?.subnetId === id);
  if (users.length)
    throw new BackendError(
      'DependencyNotReady',
      `vsphere: subnet ${id} is still used by ${users.map((u) => u.name).join(', ')}`,
      { retryAfterMs: 2_000 },
    );
  await forgetSubnet(s, holder.obj, id);
  return { gone: true };
}

async function forgetSubnet(s: Session, pg: MoRef, id: string): Promise<void> {
  await s.locks.run(`subnets:${pg.value}`, async () => {
    const marks = await marked(s, pg);
    const { [id]: _gone, ...rest } = marks.subnets;
    await writeSubnets(s.vim, await s.keys(), pg, rest, s.signal);
  });
}

export async function releaseNetwork(s: Session, id: string): Promise<string[]> {
  const pg = await findPortgroup(s, id);
  if (!pg) return [];
  const marks = await marked(s, pg);
  if (marks.installation !== s.installation) return [];
  await clearMarks(s.vim, await s.keys(), pg, s.signal);
  return [pg.value];
}

export async function releaseSubnet(s: Session, id: string): Promise<string[]> {
  const holder = await subnetHolder(s, id);
  if (!holder) return [];
  const cidr = holder.marks.subnets[id]!.cidr;
  await forgetSubnet(s, holder.obj, id);
  return [subnetProviderId(holder.obj, cidr)];
}
