/**
 * Networks (SDN mode adds vnets and subnets on top of this record: sdn.ts). In bridge mode: a Datum network is a VLAN on the configured Linux bridge. Its tag is allocated
 * deterministically (a hash of the id, probing past tags our other networks hold) and recorded, with the
 * owner, in the comment of a cluster firewall IPSet named after the network; each Datum subnet is an entry
 * (its CIDR) of that IPSet. Nothing is created on the bridge itself: VLAN-aware bridges pass any tag.
 */
import type {
  DeleteResult,
  NetworkDesired,
  NetworkObserved,
  SubnetDesired,
  SubnetObserved,
} from '../../datum/backend.ts';
import { BackendError } from '../../datum/backend.ts';
import { isAlreadyExists, isNotFound } from './errors.ts';
import { hashInRange, type Marks, networkSetName, readMarks, subnetTag, writeMarks } from './names.ts';
import { deleteSdnSubnet, deleteVnet, ensureSdnSubnet, ensureVnet } from './sdn.ts';
import type { Session } from './session.ts';

const SETS = '/cluster/firewall/ipset';

export interface OurSet {
  name: string;
  marks: Marks;
}

export interface OurSubnet {
  set: OurSet;
  cidr: string;
  marks: Marks;
}

/** IPSets carrying this installation's marks. */
export async function ourSets(s: Session): Promise<OurSet[]> {
  const sets = await s.step('list IPSets', () =>
    s.client.get<{ name: string; comment?: string }[]>(SETS, undefined, s.o),
  );
  const out: OurSet[] = [];
  for (const set of sets ?? []) {
    const marks = readMarks(set.comment);
    if (marks && marks.installation === s.installation) out.push({ name: set.name, marks });
  }
  return out;
}

export async function entries(s: Session, set: string): Promise<{ cidr: string; comment?: string }[]> {
  return (
    (await s.step(`list IPSet ${set}`, () =>
      s.client.get<{ cidr: string; comment?: string }[]>(`${SETS}/${set}`, undefined, s.o),
    )) ?? []
  );
}

export async function ourSubnets(s: Session, sets?: OurSet[]): Promise<OurSubnet[]> {
  const out: OurSubnet[] = [];
  // A set deleted between the listing and this read is simply gone (a concurrent network deletion).
  for (const set of sets ?? (await ourSets(s)))
    for (const e of await entries(s, set.name).catch((err: unknown) =>
      isNotFound(err) ? [] : Promise.reject(err),
    )) {
      const marks = readMarks(e.comment);
      if (marks && marks.installation === s.installation) out.push({ set, cidr: e.cidr, marks });
    }
  return out;
}

export async function ensureNetwork(s: Session, d: NetworkDesired): Promise<NetworkObserved> {
  const name = networkSetName(s.installation, d.id);
  for (let attempt = 0; attempt < 3; attempt++) {
    const sets = await ourSets(s);
    const mine = sets.find((x) => x.name === name);
    if (mine && s.settings.networkMode === 'sdn') {
      const vnet = await ensureVnet(s, d.id, mine.name, mine.marks.vlan!);
      return { providerId: `sdn/${s.settings.sdnZone}/${vnet}`, ready: true };
    }
    if (mine) return { providerId: `${s.settings.bridge}/vlan/${mine.marks.vlan}`, ready: true };
    const used = new Set(sets.map((x) => x.marks.vlan));
    const [lo, hi] = s.settings.vlanRange;
    let vlan = hashInRange(`${s.installation}/${d.id}`, lo, hi);
    for (let i = 0; used.has(vlan); i++) {
      if (i > hi - lo) throw new BackendError('QuotaExceeded', `every VLAN tag in ${lo}-${hi} is in use`);
      vlan = vlan >= hi ? lo : vlan + 1;
    }
    const marks: Marks = { owner: d.owner, id: d.id, installation: s.installation, vlan };
    try {
      await s.client.post(SETS, { name, comment: writeMarks(marks) }, s.o);
    } catch (err) {
      if (!isAlreadyExists(err)) throw await s.step('create network IPSet', () => Promise.reject(err));
    }
  }
  throw new BackendError('Transient', `network ${d.id}: its IPSet did not appear`, { retryAfterMs: 2_000 });
}

export async function deleteNetwork(s: Session, id: string): Promise<DeleteResult> {
  const name = networkSetName(s.installation, id);
  if (!(await ourSets(s)).some((x) => x.name === name)) return { gone: true };
  if ((await entries(s, name)).length > 0) return { gone: false };
  if (s.settings.networkMode === 'sdn') await deleteVnet(s, id);
  try {
    await s.client.delete(`${SETS}/${name}`, undefined, s.o);
  } catch (err) {
    if (!isNotFound(err)) throw await s.step('delete network IPSet', () => Promise.reject(err));
  }
  return { gone: !(await ourSets(s)).some((x) => x.name === name) };
}

export async function ensureSubnet(s: Session, d: SubnetDesired): Promise<SubnetObserved> {
  const setName = networkSetName(s.installation, d.networkId);
  const set = (await ourSets(s)).find((x) => x.name === setName);
  if (!set)
    throw new BackendError('DependencyNotReady', `network ${d.networkId} is not programmed yet`, {
      retryAfterMs: 2_000,
    });
  const cidr = normaliseCidr(d.cidr);
  const subnets = await ourSubnets(s, [set]);
  const mine = subnets.find((x) => x.marks.id === d.id);
  const sdn = s.settings.networkMode === 'sdn';
  const gw = intToIp(ipToInt(cidr.split('/')[0]!)! + 1);
  if (mine && mine.cidr === cidr) {
    if (sdn) await ensureSdnSubnet(s, d.networkId, cidr, gw);
    return { providerId: `${set.name}/${cidr}`, ready: true };
  }
  if (mine) {
    if (sdn) await deleteSdnSubnet(s, d.networkId, mine.cidr);
    await s.step('replace subnet entry', () =>
      s.client.delete(`${SETS}/${set.name}/${mine.cidr}`, undefined, s.o),
    );
  }
  const marks: Marks = { owner: d.owner, id: d.id, installation: s.installation };
  await s.step('create subnet entry', () =>
    s.client.post(`${SETS}/${set.name}`, { cidr, comment: writeMarks(marks) }, s.o),
  );
  if (sdn) await ensureSdnSubnet(s, d.networkId, cidr, gw);
  return { providerId: `${set.name}/${cidr}`, ready: true };
}

export async function deleteSubnet(s: Session, id: string): Promise<DeleteResult> {
  const mine = (await ourSubnets(s)).find((x) => x.marks.id === id);
  if (!mine) return { gone: true };
  // Refuse while guests of ours are still attached (they carry the subnet's tag).
  const tag = subnetTag(s.installation, id);
  const guests = await s.step('list guests', () =>
    s.client.get<{ tags?: string }[]>('/cluster/resources', { type: 'vm' }, s.o),
  );
  if ((guests ?? []).some((g) => (g.tags ?? '').split(/[;, ]/).includes(tag))) return { gone: false };
  if (s.settings.networkMode === 'sdn') await deleteSdnSubnet(s, mine.set.marks.id, mine.cidr);
  try {
    await s.client.delete(`${SETS}/${mine.set.name}/${mine.cidr}`, undefined, s.o);
  } catch (err) {
    if (!isNotFound(err)) throw await s.step('delete subnet entry', () => Promise.reject(err));
  }
  return { gone: !(await ourSubnets(s, [mine.set])).some((x) => x.marks.id === id) };
}

/** `10.128.0.5/20` → `10.128.0.0/20` (PVE stores the network address). */
export function normaliseCidr(cidr: string): string {
  const [addr, p] = cidr.split('/');
  const prefix = Number(p);
  const n = ipToInt(addr ?? '');
  if (n === undefined || !Number.isInteger(prefix) || prefix < 8 || prefix > 30)
    throw new BackendError(
      'InvalidConfiguration',
      `subnet ${cidr} is not an IPv4 CIDR with a /8../30 prefix`,
    );
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return `${intToIp((n & mask) >>> 0)}/${prefix}`;
}

export function ipToInt(ip: string): number | undefined {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}
