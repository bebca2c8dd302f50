/**
 * Datum networks → custom-mode VPC networks; Datum subnets → subnetworks with the allocated range, in the
 * region of the Location's zone. Creation and deletion carry a requestId and are awaited through their
 * operation; a delete whose operation still runs reports `gone: false`.
 */
import {
  BackendError,
  type DeleteResult,
  type NetworkDesired,
  type NetworkObserved,
  type SubnetDesired,
  type SubnetObserved,
} from '../../datum/backend.ts';
import { isNotFound } from './errors.ts';
import { gceName, markDescription, parseMark, requestId } from './names.ts';
import { CALL, type GcpSession, LIST, latest } from './session.ts';

async function getOrUndefined<T>(p: Promise<[T, ...unknown[]]>): Promise<T | undefined> {
  try {
    return (await p)[0];
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

function checkOurs(s: GcpSession, description: string | null | undefined, what: string): void {
  const m = parseMark(description);
  if (!m || m.managedBy !== s.managedBy)
    throw new BackendError('InvalidConfiguration', `${what} exists and is not managed by this installation`);
}

export async function ensureNetwork(s: GcpSession, d: NetworkDesired): Promise<NetworkObserved> {
  const name = gceName('net', d.id);
  const providerId = s.networkLink(name);
  if (d.mtu < 1300 || d.mtu > 8896)
    throw new BackendError('InvalidConfiguration', `network MTU ${d.mtu} is outside GCE's 1300..8896`);
  const get = () =>
    s.call('networks.get', () =>
      getOrUndefined(s.c.networks.get({ project: s.project, network: name }, CALL)),
    );
  let net = await get();
  if (!net) {
    const [op] = await s.call('networks.insert', () =>
      s.c.networks.insert(
        {
          project: s.project,
          requestId: requestId(s.project, name, 'insert'),
          networkResource: {
            name,
            autoCreateSubnetworks: false,
            mtu: d.mtu,
            routingConfig: { routingMode: 'REGIONAL' },
            description: markDescription({
              managedBy: s.managedBy,
              kind: 'network',
              id: d.id,
              owner: d.owner,
            }),
          },
        },
        CALL,
      ),
    );
    if (!(await s.awaitOperation(latest(op), 'networks.insert'))) return { providerId, ready: false };
    net = await get();
    if (!net) return { providerId, ready: false };
  }
  checkOurs(s, net.description, `network ${name}`);
  return { providerId, ready: true };
}

/** Deletes a resource by name once; `gone` only when a read no longer finds it. */
async function awaitedDelete(
  s: GcpSession,
  collection: string,
  name: string,
  get: () => Promise<{ id?: unknown; description?: string | null } | undefined>,
  del: (rid: string) => Promise<unknown>,
): Promise<DeleteResult> {
  const cur = await get();
  if (!cur) return { gone: true };
  const m = parseMark(cur.description);
  if (m && m.managedBy !== s.managedBy) return { gone: true }; // not ours (another installation's or released)
  const [op] = (await s.call(`${collection}.delete`, () =>
    del(requestId(s.project, collection, name, 'delete', String(cur.id))),
  )) as [unknown];
  await s.awaitOperation(latest(op), `${collection}.delete`);
  return { gone: !(await get()) };
}

export async function deleteNetwork(s: GcpSession, id: string): Promise<DeleteResult> {
  const name = gceName('net', id);
  return awaitedDelete(
    s,
    'networks',
    name,
    () =>
      s.call('networks.get', () =>
        getOrUndefined(s.c.networks.get({ project: s.project, network: name }, CALL)),
      ),
    (rid) => s.c.networks.delete({ project: s.project, network: name, requestId: rid }, CALL),
  );
}

/** `a.b.c.d/n` with the host bits cleared (GCE refuses a range whose address is not the network's). */
export function networkRange(cidr: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr.trim());
  if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 29 || Number(m[5]) < 8)
    throw new BackendError(
      'InvalidConfiguration',
      `subnet range "${cidr}" is not an IPv4 CIDR with prefix /8../29`,
    );
  const n = m.slice(1, 5).reduce((a, o) => a * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(m[5]));
  const base = n - (n % size);
  return `${[24, 16, 8, 0].map((sh) => Math.floor(base / 2 ** sh) % 256).join('.')}/${m[5]}`;
}

/** A subnetwork by name: in the Location's region, else wherever it is (the sweeper has no Location). */
export async function findSubnet(s: GcpSession, name: string) {
  const here = !s.placed
    ? undefined
    : await s.call('subnetworks.get', () =>
        getOrUndefined(s.c.subnetworks.get({ project: s.project, region: s.region, subnetwork: name }, CALL)),
      );
  if (here) return { subnet: here, region: s.region };
  const found = await s.call('subnetworks.aggregatedList', async () => {
    for await (const [scope, list] of s.c.subnetworks.aggregatedListAsync(
      { project: s.project, filter: `name = "${name}"` },
      LIST,
    ))
      for (const sub of list.subnetworks ?? [])
        if (sub.name === name) return { subnet: sub, region: scope.split('/').pop()! };
    return undefined;
  });
  return found;
}

export async function ensureSubnet(s: GcpSession, d: SubnetDesired): Promise<SubnetObserved> {
  const name = gceName('sub', d.id);
  const network = gceName('net', d.networkId);
  const range = networkRange(d.cidr);
  const found = await findSubnet(s, name);
  if (found) {
    checkOurs(s, found.subnet.description, `subnetwork ${name}`);
    if (found.subnet.ipCidrRange !== range)
      throw new BackendError(
        'InvalidConfiguration',
        `subnetwork ${name} has range ${found.subnet.ipCidrRange}, not ${range} (GCE cannot change it)`,
      );
    return { providerId: s.subnetLink(name, found.region), ready: true };
  }
  const net = await s.call('networks.get', () =>
    getOrUndefined(s.c.networks.get({ project: s.project, network }, CALL)),
  );
  if (!net) throw new BackendError('DependencyNotReady', `network ${network} does not exist yet`);
  const [op] = await s.call('subnetworks.insert', () =>
    s.c.subnetworks.insert(
      {
        project: s.project,
        region: s.region,
        requestId: requestId(s.project, s.region, name, 'insert'),
        subnetworkResource: {
          name,
          network: s.networkLink(network),
          ipCidrRange: range,
          privateIpGoogleAccess: true,
          description: markDescription({ managedBy: s.managedBy, kind: 'subnet', id: d.id, owner: d.owner }),
        },
      },
      CALL,
    ),
  );
  const done = await s.awaitOperation(latest(op), 'subnetworks.insert');
  return { providerId: s.subnetLink(name), ready: done };
}

export async function deleteSubnet(s: GcpSession, id: string): Promise<DeleteResult> {
  const name = gceName('sub', id);
  const found = await findSubnet(s, name);
  if (!found) return { gone: true };
  const region = found.region;
  return awaitedDelete(
    s,
    'subnetworks',
    name,
    () =>
      s.call('subnetworks.get', () =>
        getOrUndefined(s.c.subnetworks.get({ project: s.project, region, subnetwork: name }, CALL)),
      ),
    (rid) => s.c.subnetworks.delete({ project: s.project, region, subnetwork: name, requestId: rid }, CALL),
  );
}

export { getOrUndefined };
