/**
 * `listManaged` and `release`. Instances are found by their installation label (server-side filter) and
 * read their owner from the ownership mark; networks, subnetworks and firewalls (which have no labels) by
 * their mark. A firewall whose instance is gone is also listed as an instance, so a sweep removes it.
 */
import { BackendError, type ManagedResource } from '../../datum/backend.ts';
import { instanceFirewalls } from './firewall.ts';
import { findInstance } from './instance.ts';
import {
  instanceMark,
  LABEL_INSTALLATION,
  labelValue,
  OUR_LABELS,
  parseMark,
  RELEASED,
  requestId,
} from './names.ts';
import { CALL, type GcpSession, LIST, latest } from './session.ts';

export async function listManaged(s: GcpSession): Promise<ManagedResource[]> {
  const out: ManagedResource[] = [];
  const add = (kind: ManagedResource['kind'], providerId: string, description: string | null | undefined) => {
    const m = parseMark(description);
    if (m && m.managedBy === s.managedBy && m.kind === kind)
      out.push({ kind, id: m.id, providerId, owner: m.owner });
  };
  const p = `projects/${s.project}`;
  await s.call('networks.list', async () => {
    for await (const n of s.c.networks.listAsync({ project: s.project, filter: 'name eq dpt-net-.*' }, LIST))
      add('network', `${p}/global/networks/${n.name}`, n.description);
  });
  await s.call('subnetworks.aggregatedList', async () => {
    for await (const [scope, l] of s.c.subnetworks.aggregatedListAsync(
      { project: s.project, filter: 'name eq dpt-sub-.*' },
      LIST,
    ))
      for (const n of l.subnetworks ?? [])
        add('subnet', `${p}/${scope}/subnetworks/${n.name}`, n.description);
  });
  await s.call('firewalls.list', async () => {
    for await (const f of s.c.firewalls.listAsync({ project: s.project, filter: 'name eq dpt-fw-.*' }, LIST))
      add('firewall', `${p}/global/firewalls/${f.name}`, f.description);
  });
  const filter = `labels.${LABEL_INSTALLATION} = "${labelValue(s.managedBy)}"`;
  await s.call('instances.aggregatedList', async () => {
    for await (const [scope, l] of s.c.instances.aggregatedListAsync({ project: s.project, filter }, LIST))
      for (const i of l.instances ?? [])
        if (i.labels?.[LABEL_INSTALLATION] === labelValue(s.managedBy)) {
          const m = instanceMark(i);
          if (m?.managedBy === s.managedBy)
            out.push({
              kind: 'instance',
              id: m.id,
              providerId: `${p}/${scope}/instances/${i.name}`,
              owner: m.owner,
            });
        }
  });
  const instances = new Set(out.filter((r) => r.kind === 'instance').map((r) => r.id));
  for (const f of out.filter((r) => r.kind === 'firewall'))
    if (!instances.has(f.id)) {
      instances.add(f.id);
      out.push({ ...f, kind: 'instance' });
    }
  return out;
}

/**
 * Retain: an instance loses our labels (listManaged and adoption no longer see it) and its firewall rules lose
 * their mark. Networks and subnetworks cannot: GCE fixes their description at creation and they have no labels.
 */
export async function release(
  s: GcpSession,
  kind: 'instance' | 'subnet' | 'network',
  id: string,
): Promise<{ released: string[] }> {
  if (kind !== 'instance')
    throw new BackendError(
      'Unsupported',
      `deletion policy Retain is not supported for GCE ${kind === 'subnet' ? 'subnetworks' : 'networks'}: their ownership mark is the description, which GCE cannot change after creation`,
    );
  const released: string[] = [];
  const found = await findInstance(s, id);
  if (found && found.inst.labels?.[LABEL_INSTALLATION] === labelValue(s.managedBy)) {
    const labels = Object.fromEntries(
      Object.entries(found.inst.labels ?? {}).filter(([k]) => !OUR_LABELS.includes(k)),
    );
    const [op] = await s.call('instances.setLabels', () =>
      s.c.instances.setLabels(
        {
          project: s.project,
          zone: found.zone,
          instance: found.inst.name!,
          requestId: requestId(s.project, found.inst.name!, 'release', String(found.inst.id)),
          instancesSetLabelsRequestResource: { labels, labelFingerprint: found.inst.labelFingerprint },
        },
        LIST,
      ),
    );
    await s.awaitOperation(latest(op), 'instances.setLabels');
    released.push(`projects/${s.project}/zones/${found.zone}/instances/${found.inst.name}`);
  }
  for (const f of await instanceFirewalls(s, id)) {
    const m = parseMark(f.description)!;
    const [op] = await s.call('firewalls.patch', () =>
      s.c.firewalls.patch(
        {
          project: s.project,
          firewall: f.name!,
          requestId: requestId(s.project, f.name!, 'release', String(f.id)),
          firewallResource: {
            description: `${RELEASED} (${m.owner.namespace}/${m.owner.name})`,
          },
        },
        CALL,
      ),
    );
    await s.awaitOperation(latest(op), 'firewalls.patch');
    released.push(`projects/${s.project}/global/firewalls/${f.name}`);
  }
  return { released };
}
