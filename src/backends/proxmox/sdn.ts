/**
 * Networks in SDN mode (`networkMode=sdn`): beside the IPSet record bridge mode keeps (owner and tag, the
 * ledger `listManaged` and `release` read), a Datum network is an SDN vnet in the configured zone with that
 * tag, a Datum subnet an SDN subnet of it (gateway: the first host), and guests attach to the vnet's bridge.
 * Every change is made pending first and applied with `PUT /cluster/sdn` (a task, awaited). Idempotent from
 * what the cluster lists: a vnet or subnet of ours already there is not created again, and PVE's "already
 * defined" (a concurrent creator) counts as created.
 */
import { BackendError } from '../../datum/backend.ts';
import { isNotFound } from './errors.ts';
import { digest } from './names.ts';
import type { Session } from './session.ts';

const VNETS = '/cluster/sdn/vnets';
const ALREADY = /already defined|already exists/i;

/** The vnet id of a Datum network: PVE allows 8 characters, a letter first (`d` + 7 hex digits). */
export function vnetName(installation: string, networkId: string): string {
  return `d${digest(`${installation}/${networkId}`, 7)}`;
}

/** The vnet's alias: who it belongs to (PVE's alias pattern allows no JSON, so the set name stands for it). */
export function vnetAlias(setName: string): string {
  return `datum ${setName}`;
}

/** PVE's id of an SDN subnet: `<zone>-<network address>-<prefix>`. */
export function sdnSubnetId(zone: string, cidr: string): string {
  return `${zone}-${cidr.replace('/', '-')}`;
}

function zone(s: Session): string {
  const z = s.settings.sdnZone;
  if (!z) throw new BackendError('InvalidConfiguration', 'config "sdnZone" is required with networkMode=sdn');
  return z;
}

/** A refusal naming the zone is the operator's to fix (the zone does not exist or is the wrong kind). */
async function write<T>(s: Session, op: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof Error && ALREADY.test(err.message)) return undefined;
    const e = await s.step(op, () => Promise.reject(err)).catch((x: BackendError) => x);
    if (/zone/i.test(e.message) && (e.reason === 'NotFound' || e.reason === 'InvalidConfiguration'))
      throw new BackendError('InvalidConfiguration', `${e.message} (config "sdnZone")`, { cause: e.cause });
    throw e;
  }
}

/** Applies the pending SDN configuration on every node (a task) and waits for it. */
async function apply(s: Session): Promise<void> {
  const upid = await write(s, 'apply the SDN configuration', () =>
    s.client.put<string>('/cluster/sdn', undefined, { ...s.o, idempotent: true }),
  );
  if (typeof upid === 'string' && upid.startsWith('UPID:'))
    await s.step('apply the SDN configuration', () => s.client.waitTask(upid, s.o));
}

interface Vnet {
  vnet: string;
  zone?: string;
  tag?: number;
  alias?: string;
  /** Set (new, changed, deleted) while a change is pending, with `pending=1`. */
  state?: string;
}

export async function ensureVnet(
  s: Session,
  networkId: string,
  setName: string,
  tag: number,
): Promise<string> {
  const name = vnetName(s.installation, networkId);
  const z = zone(s);
  const all = await s.step('list SDN vnets', () => s.client.get<Vnet[]>(VNETS, { pending: 1 }, s.o));
  const mine = (all ?? []).find((v) => v.vnet === name);
  if (mine && mine.alias !== undefined && mine.alias !== vnetAlias(setName))
    throw new BackendError(
      'InvalidConfiguration',
      `SDN vnet ${name} exists and is not this network's (alias "${mine.alias.slice(0, 60)}")`,
    );
  let changed = false;
  if (!mine) {
    await write(s, 'create the SDN vnet', () =>
      s.client.post(VNETS, { vnet: name, zone: z, tag, alias: vnetAlias(setName) }, s.o),
    );
    changed = true;
  } else if (mine.zone !== z || Number(mine.tag) !== tag) {
    await write(s, 'update the SDN vnet', () =>
      s.client.put(
        `${VNETS}/${name}`,
        { zone: z, tag, alias: vnetAlias(setName) },
        { ...s.o, idempotent: true },
      ),
    );
    changed = true;
  }
  if (changed || mine?.state) await apply(s);
  return name;
}

export async function ensureSdnSubnet(
  s: Session,
  networkId: string,
  cidr: string,
  gateway: string,
): Promise<void> {
  const vnet = vnetName(s.installation, networkId);
  const rows = await s.step('list SDN subnets', () =>
    s.client.get<{ subnet?: string; cidr?: string; state?: string }[]>(
      `${VNETS}/${vnet}/subnets`,
      { pending: 1 },
      s.o,
    ),
  );
  const id = sdnSubnetId(zone(s), cidr);
  const mine = (rows ?? []).find((r) => r.cidr === cidr || r.subnet === id);
  if (!mine)
    await write(s, 'create the SDN subnet', () =>
      s.client.post(`${VNETS}/${vnet}/subnets`, { subnet: cidr, type: 'subnet', gateway }, s.o),
    );
  if (!mine || mine.state) await apply(s);
}

export async function deleteSdnSubnet(s: Session, networkId: string, cidr: string): Promise<void> {
  const vnet = vnetName(s.installation, networkId);
  await deleteQuietly(s, 'delete the SDN subnet', `${VNETS}/${vnet}/subnets/${sdnSubnetId(zone(s), cidr)}`);
  await apply(s);
}

export async function deleteVnet(s: Session, networkId: string): Promise<void> {
  await deleteQuietly(s, 'delete the SDN vnet', `${VNETS}/${vnetName(s.installation, networkId)}`);
  await apply(s);
}

async function deleteQuietly(s: Session, op: string, path: string): Promise<void> {
  try {
    await s.client.delete(path, undefined, s.o);
  } catch (err) {
    if (!isNotFound(err)) await s.step(op, () => Promise.reject(err));
  }
}
