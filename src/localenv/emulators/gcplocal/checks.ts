/**
 * Checks GCE makes that gcplocal does not: a network or subnetwork in use cannot be deleted, and an instance's
 * interfaces get addresses from their subnetwork at insert.
 */
import { gceError, type JsonReply } from './faults.ts';
import type { AddressPool, InstanceOverlays } from './realism.ts';
import type { Route } from './routes.ts';

export interface Deps {
  local(method: string, path: string, body?: unknown): Promise<JsonReply>;
  everywhere(project: string, collection: string): Promise<[string, Record<string, unknown>[]][]>;
  pool: AddressPool;
  overlays: InstanceOverlays;
}

const parse = (r: JsonReply) => JSON.parse(r.body) as Record<string, unknown>;

export async function inUseBy(d: Deps, r: Route): Promise<string | undefined> {
  if (r.collection === 'networks') {
    const suffix = `/global/networks/${r.name}`;
    for (const [, subnets] of await d.everywhere(r.project, 'subnetworks'))
      for (const s of subnets) if (String(s.network).endsWith(suffix)) return `subnetwork ${s.name}`;
    const fws = await d.local('GET', `/compute/v1/projects/${r.project}/global/firewalls`);
    for (const f of (parse(fws).items as Record<string, unknown>[] | undefined) ?? [])
      if (String(f.network).endsWith(suffix)) return `firewall ${f.name}`;
  }
  if (r.collection === 'subnetworks') {
    const suffix = `/regions/${r.scope}/subnetworks/${r.name}`;
    for (const [, insts] of await d.everywhere(r.project, 'instances'))
      for (const i of insts)
        for (const nic of (i.networkInterfaces as { subnetwork?: string }[] | undefined) ?? [])
          if (String(nic.subnetwork ?? '').endsWith(suffix)) return `instance ${i.name}`;
  }
  return undefined;
}

/** Fills in internal and external addresses, as GCE does at insert. */
export async function allocateAddresses(
  d: Deps,
  r: Route,
  body: Record<string, unknown>,
): Promise<JsonReply | undefined> {
  const holder = d.overlays.key(r.project, r.scope!, String(body.name));
  for (const nic of (body.networkInterfaces as Record<string, unknown>[] | undefined) ?? []) {
    const m = /regions\/([^/]+)\/subnetworks\/([^/?]+)/.exec(String(nic.subnetwork ?? ''));
    if (!m) return gceError(400, 'invalid', 'networkInterfaces[].subnetwork is required (custom-mode VPC)');
    const sub = await d.local('GET', `/compute/v1/projects/${r.project}/regions/${m[1]}/subnetworks/${m[2]}`);
    if (sub.status !== 200)
      return gceError(404, 'notFound', `The resource 'subnetworks/${m[2]}' in region ${m[1]} was not found`);
    if (!nic.networkIP) nic.networkIP = d.pool.allocate(String(parse(sub).ipCidrRange), holder);
    for (const ac of (nic.accessConfigs as Record<string, unknown>[] | undefined) ?? [])
      if (!ac.natIP) ac.natIP = d.pool.external();
  }
  return undefined;
}
