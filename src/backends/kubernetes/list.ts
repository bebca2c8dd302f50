/**
 * Everything this installation manages in the downstream cluster, found by the managed-by label (for the
 * orphan sweep), and release (deletion policy Retain): our labels and annotations come off, the objects stay.
 */
import type { ManagedKind, ManagedResource } from '../../datum/backend.ts';
import type { KubeObject, ResourceType } from '../../runtime/client/types.ts';
import { idOf, LABEL_KIND, OWNERSHIP_ANNOTATIONS, OWNERSHIP_LABELS, ownerOf, selector } from './labels.ts';
import { CONFIG_MAP, NETWORK_POLICY, POD, SECRET, type Session, VIRTUAL_MACHINE } from './session.ts';

function toManaged(kind: ManagedKind, o: KubeObject): ManagedResource[] {
  const owner = ownerOf(o.metadata);
  const id = idOf(o.metadata);
  if (!owner || !id || o.metadata.labels?.[LABEL_KIND] !== kind) return [];
  return [{ kind, id, providerId: `${o.metadata.namespace}/${o.metadata.name}`, owner }];
}

export async function listManaged(s: Session): Promise<ManagedResource[]> {
  const list = (r: ResourceType, kind: string) =>
    s.call(`list ${r.kind}`, (c) => c.list(r, { labelSelector: selector(s.managedBy, kind as ManagedKind) }));
  const out: ManagedResource[] = [];
  for (const o of (await list(CONFIG_MAP, 'network')).items) out.push(...toManaged('network', o));
  for (const o of (await list(CONFIG_MAP, 'subnet')).items) out.push(...toManaged('subnet', o));
  const firewalls = (await list(NETWORK_POLICY, 'firewall')).items.flatMap((o) => toManaged('firewall', o));
  out.push(...firewalls);
  const live = (o: KubeObject) => !o.metadata.deletionTimestamp;
  for (const o of (await list(POD, 'instance')).items.filter(live)) out.push(...toManaged('instance', o));
  if (await s.hasKubeVirt())
    for (const o of (await list(VIRTUAL_MACHINE, 'instance')).items.filter(live))
      out.push(...toManaged('instance', o));
  // A policy whose workload never came (or is gone) is an instance in a partial state: list it as one, so a
  // sweep's deleteInstance removes it.
  const instances = new Set(out.filter((r) => r.kind === 'instance').map((r) => r.id));
  for (const f of firewalls)
    if (!instances.has(f.id)) {
      instances.add(f.id);
      out.push({ ...f, kind: 'instance' });
    }
  return out;
}

/** Removes our ownership marks from every object of `id`; returns `Kind namespace/name` of each. */
export async function release(s: Session, id: string): Promise<{ released: string[] }> {
  const kinds: ResourceType[] = [POD, CONFIG_MAP, SECRET, NETWORK_POLICY];
  if (await s.hasKubeVirt()) kinds.push(VIRTUAL_MACHINE);
  const released: string[] = [];
  const nulls = (keys: string[]) => Object.fromEntries(keys.map((k) => [k, null]));
  for (const r of kinds) {
    const items = await s.call(`list ${r.kind} ${id}`, (c) =>
      c.list(r, { labelSelector: selector(s.managedBy, undefined, id) }),
    );
    for (const o of items.items) {
      if (idOf(o.metadata) !== id) continue;
      await s.find(`release ${r.kind} ${o.metadata.namespace}/${o.metadata.name}`, (c) =>
        c.patch(r, o.metadata.name!, o.metadata.namespace, {
          type: 'merge',
          patch: { metadata: { labels: nulls(OWNERSHIP_LABELS), annotations: nulls(OWNERSHIP_ANNOTATIONS) } },
        }),
      );
      released.push(`${r.kind} ${o.metadata.namespace}/${o.metadata.name}`);
    }
  }
  if (released.length) s.log.info('released downstream objects (deletion policy Retain)', { id, released });
  return { released: released.sort() };
}
