/** listManaged (guests by our installation tag, networks and subnets by their IPSet marks) and release. */
import type { ManagedResource } from '../../datum/backend.ts';
import { isNotFound } from './errors.ts';
import { base, findGuest, listGuests } from './guests.ts';
import { MANAGED_TAG, networkSetName, readMarks, splitTags } from './names.ts';
import { ourSets, ourSubnets } from './network.ts';
import type { Session } from './session.ts';

export async function listManaged(s: Session): Promise<ManagedResource[]> {
  const out: ManagedResource[] = [];
  for (const g of await listGuests(s)) {
    if (!splitTags(g.tags).includes(s.instTag)) continue;
    // A guest destroyed between the listing and this read is simply gone.
    const cfg = await s
      .step('read guest config', () =>
        s.client.get<{ description?: string }>(`${base(g)}/config`, undefined, s.o),
      )
      .catch((err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err)));
    const m = readMarks(cfg?.description);
    if (m && m.installation === s.installation)
      out.push({ kind: 'instance', id: m.id, providerId: `${g.node}/${g.type}/${g.vmid}`, owner: m.owner });
  }
  const sets = await ourSets(s);
  for (const set of sets)
    out.push({ kind: 'network', id: set.marks.id, providerId: set.name, owner: set.marks.owner });
  for (const sub of await ourSubnets(s, sets))
    out.push({
      kind: 'subnet',
      id: sub.marks.id,
      providerId: `${sub.set.name}/${sub.cidr}`,
      owner: sub.marks.owner,
    });
  return out;
}

/** Removes our marks and leaves the resource: tags and description (guests), comments (IPSets). */
export async function release(
  s: Session,
  kind: 'instance' | 'subnet' | 'network',
  id: string,
): Promise<{ released: string[] }> {
  if (kind === 'instance') {
    const g = await findGuest(s, id);
    if (!g) return { released: [] };
    const keep = splitTags(g.tags).filter((t) => t !== MANAGED_TAG && !/^dp[is]-/.test(t));
    // The name is how we find our guests: a released one gets another, so adoption never sees it again.
    const body: Record<string, string> = {
      description: 'released by datum-provider',
      [g.type === 'qemu' ? 'name' : 'hostname']: `released-${g.vmid}`,
    };
    if (keep.length > 0) body.tags = keep.join(';');
    else body.delete = 'tags';
    await s.step('release the guest', () =>
      s.client.put(`${base(g)}/config`, body, { ...s.o, idempotent: true }),
    );
    return { released: [`${g.node}/${g.type}/${g.vmid}`] };
  }
  if (kind === 'network') {
    const name = networkSetName(s.installation, id);
    if (!(await ourSets(s)).some((x) => x.name === name)) return { released: [] };
    await s.step('release the network', () =>
      s.client.post(
        '/cluster/firewall/ipset',
        { name, rename: name, comment: 'released by datum-provider' },
        s.o,
      ),
    );
    return { released: [name] };
  }
  const sub = (await ourSubnets(s)).find((x) => x.marks.id === id);
  if (!sub) return { released: [] };
  await s.step('release the subnet', () =>
    s.client.put(
      `/cluster/firewall/ipset/${sub.set.name}/${sub.cidr}`,
      { comment: 'released by datum-provider' },
      { ...s.o, idempotent: true },
    ),
  );
  return { released: [`${sub.set.name}/${sub.cidr}`] };
}
