/**
 * Guests (QEMU VMs and LXC containers) as `/cluster/resources` lists them, found by their deterministic name;
 * VMID allocation that is safe under concurrency; placement; addresses from our IPAM.
 */
import { BackendError } from '../../datum/backend.ts';
import { isAlreadyExists } from './errors.ts';
import { digest, guestName, hashInRange } from './names.ts';
import { intToIp, ipToInt } from './network.ts';
import type { Session } from './session.ts';

export interface Guest {
  vmid: number;
  node: string;
  type: 'qemu' | 'lxc';
  name?: string;
  status: string;
  tags?: string;
  lock?: string;
  template?: number;
}

export type GuestConfig = Record<string, string | number | undefined>;

export const base = (g: Pick<Guest, 'node' | 'type' | 'vmid'>) => `/nodes/${g.node}/${g.type}/${g.vmid}`;

export async function listGuests(s: Session): Promise<Guest[]> {
  const all = await s.step('list guests', () =>
    s.client.get<Guest[]>('/cluster/resources', { type: 'vm' }, s.o),
  );
  return (all ?? []).filter((g) => g.type === 'qemu' || g.type === 'lxc');
}

export async function findGuest(s: Session, id: string, guests?: Guest[]): Promise<Guest | undefined> {
  const name = guestName(s.installation, id);
  return (guests ?? (await listGuests(s))).find((g) => g.name === name && !g.template);
}

/**
 * Creates a guest with a VMID of our choosing: a hash of the id, probing upward. PVE refuses an id that is
 * taken ("already exists"), atomically, so two creators never share one; one that finds our own name at the
 * id it wanted (a concurrent or earlier create of the same instance) adopts it instead of making another, and
 * one that finds a guest still being created there waits for it to show whose it is.
 */
export async function createWithVmid(
  s: Session,
  id: string,
  create: (vmid: number) => Promise<string>,
): Promise<{ vmid: number; upid?: string }> {
  const [lo, hi] = s.settings.vmidRange;
  let vmid = hashInRange(`${s.installation}/${id}`, lo, hi);
  const name = guestName(s.installation, id);
  for (let i = 0; i < 64; i++) {
    try {
      return { vmid, upid: await create(vmid) };
    } catch (err) {
      if (!isAlreadyExists(err)) return s.step('create guest', () => Promise.reject(err));
      const holder = (await listGuests(s)).find((g) => g.vmid === vmid);
      if (holder?.name === name) return { vmid };
      // A container being created has no name yet (PVE writes it when the task ends): it may be ours, from an
      // ensure that stopped waiting for it (an API outage). Probing past it could make a second one: wait.
      if (holder?.lock === 'create' || holder?.lock === 'clone')
        throw new BackendError(
          'Transient',
          `VMID ${vmid} is being created (lock ${holder.lock}); whose guest it is shows when that ends`,
          { retryAfterMs: 2_000 },
        );
      vmid = vmid >= hi ? lo : vmid + 1;
    }
  }
  throw new BackendError('QuotaExceeded', `no free VMID found near the hash of ${id} in ${lo}-${hi}`);
}

/** The node for a new guest: the Location's topology through the placement map, spread by id, online first. */
export async function placeGuest(s: Session, id: string): Promise<string> {
  const where = s.ctx.location.topology[s.settings.placementKey];
  const candidates = (where && s.settings.placement[where]) || s.settings.defaultNodes;
  if (candidates.length === 0)
    throw new BackendError(
      'InvalidConfiguration',
      `no Proxmox node for Location ${s.ctx.location.namespace}/${s.ctx.location.name} (${s.settings.placementKey}=${where ?? 'unset'}): add it to config "placement" or set "nodes"`,
    );
  const nodes = await s.step('list nodes', () =>
    s.client.get<{ node: string; status: string }[]>('/nodes', undefined, s.o),
  );
  const online = new Set((nodes ?? []).filter((n) => n.status === 'online').map((n) => n.node));
  const start = Number.parseInt(digest(id, 8), 16) % candidates.length;
  for (let i = 0; i < candidates.length; i++) {
    const n = candidates[(start + i) % candidates.length]!;
    if (online.has(n)) return n;
  }
  throw new BackendError('Transient', `none of the nodes ${candidates.join(', ')} is online`, {
    retryAfterMs: 10_000,
  });
}

/** The static address in a config (`ipconfig0: ip=…` for VMs, `net0: …,ip=…` for containers). */
export function configuredIp(config: Record<string, unknown>): string | undefined {
  const text = `${config.ipconfig0 ?? ''},${config.net0 ?? ''}`;
  return /(?:^|,)ip=(\d+\.\d+\.\d+\.\d+)\//.exec(text)?.[1];
}

const locks = new Map<string, Promise<unknown>>();

/** Runs fn with the subnet's allocation lock held (one process writes a subnet's addresses at a time). */
export async function withSubnetLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(key) ?? Promise.resolve();
  const run = prev.catch(() => undefined).then(fn);
  locks.set(key, run);
  try {
    return await run;
  } finally {
    if (locks.get(key) === run) locks.delete(key);
  }
}

/**
 * A free host address of the subnet: a hash of the id, probing past the gateway (the first host) and the
 * addresses our other guests on this subnet (found by its tag) are configured with. Call under the lock.
 */
export async function allocateIp(s: Session, cidr: string, subnetTag: string, id: string): Promise<string> {
  const [net, p] = cidr.split('/');
  const prefix = Number(p);
  const first = ipToInt(net!)! + 1;
  const count = 2 ** (32 - prefix) - 2;
  const used = new Set<number>([first]);
  for (const g of await listGuests(s)) {
    if (!(g.tags ?? '').split(/[;, ]/).includes(subnetTag)) continue;
    const cfg = await s.step('read guest config', () =>
      s.client.get<Record<string, unknown>>(`${base(g)}/config`, undefined, s.o),
    );
    const ip = configuredIp(cfg ?? {});
    if (ip) used.add(ipToInt(ip)!);
  }
  let off = hashInRange(`${s.installation}/${id}`, 0, count - 1);
  for (let i = 0; i < count; i++) {
    const ip = first + off;
    if (!used.has(ip)) return intToIp(ip);
    off = (off + 1) % count;
  }
  throw new BackendError('QuotaExceeded', `subnet ${cidr} has no free address`);
}

export function gateway(cidr: string): string {
  return intToIp(ipToInt(cidr.split('/')[0]!)! + 1);
}

/** The provider id of a guest: `node/qemu|lxc/vmid`. */
export const providerId = (g: Pick<Guest, 'node' | 'type' | 'vmid'>) => `${g.node}/${g.type}/${g.vmid}`;

export async function readConfig(s: Session, g: Guest): Promise<GuestConfig> {
  return (
    (await s.step('read guest config', () =>
      s.client.get<GuestConfig>(`${base(g)}/config`, undefined, s.o),
    )) ?? {}
  );
}

export async function hasPending(s: Session, g: Guest): Promise<boolean> {
  const rows = await s.step('read pending changes', () =>
    s.client.get<{ key: string; pending?: unknown; delete?: number }[]>(`${base(g)}/pending`, undefined, s.o),
  );
  return (rows ?? []).some((r) => r.pending !== undefined || r.delete);
}

/** The IPv4 address the guest reports (agent / container interfaces) in cidr, or any but loopback without one. */
export async function reportedIp(s: Session, g: Guest, cidr?: string): Promise<string | undefined> {
  try {
    if (g.type === 'qemu') {
      const r = await s.client.get<{
        result?: { name: string; 'ip-addresses'?: { 'ip-address': string; 'ip-address-type': string }[] }[];
      }>(`${base(g)}/agent/network-get-interfaces`, undefined, s.o);
      const all = (r?.result ?? [])
        .flatMap((i) => i['ip-addresses'] ?? [])
        .filter((a) => a['ip-address-type'] === 'ipv4');
      return all.map((a) => a['ip-address']).find((a) => (cidr ? inCidr(a, cidr) : !a.startsWith('127.')));
    }
    const r = await s.client.get<{ inet?: string }[]>(`${base(g)}/interfaces`, undefined, s.o);
    return (r ?? [])
      .map((i) => i.inet?.split('/')[0])
      .find((a): a is string => !!a && (cidr ? inCidr(a, cidr) : !a.startsWith('127.')));
  } catch {
    // No agent (yet): the address our IPAM configured is reported instead.
    return undefined;
  }
}

export function inCidr(ip: string, cidr: string): boolean {
  const [net, p] = cidr.split('/');
  const toInt = (x: string) => x.split('.').reduce((a, b) => (a << 8) + Number(b), 0) >>> 0;
  const mask = (0xffffffff << (32 - Number(p))) >>> 0;
  return (toInt(ip) & mask) >>> 0 === (toInt(net!) & mask) >>> 0;
}
