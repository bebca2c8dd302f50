/**
 * Operator controls on GCE instances:
 * - adopt: an existing instance (by `projects/P/zones/Z/instances/N`, `zones/Z/instances/N` or a bare name)
 *   gets our ownership record (metadata `datum-owner`, written first) and then our labels (`datum-adopted`
 *   too: the labels make it ours), unless its labels name another installation or another object. The next
 *   ensure accepts it when its zone, machine type and subnetworks are the desired ones (adds our network tag,
 *   so our firewall rules reach it, deletes the rules released with it, records the spec), and otherwise says
 *   what differs. Never replaced.
 * - observe: the instance as it is, read-only (gets and lists only).
 * - plan: what an ensure would change, read-only (gets and lists only).
 */
import type { protos } from '@google-cloud/compute';
import {
  BackendError,
  type InstanceDesired,
  type InstanceObserved,
  type InstancePlan,
} from '../../datum/backend.ts';
import { deleteFirewall, firewallsConverged, releasedFirewalls } from './firewall.ts';
import { body, findInstance, isOurs, POWER } from './instance.ts';
import {
  gceName,
  instanceMark,
  LABEL_ADOPTED,
  LABEL_ID,
  LABEL_INSTALLATION,
  LABEL_OWNER_UID,
  LABEL_SPEC,
  labelValue,
  markDescription,
  OWNER_METADATA_KEY,
  ownerLabels,
  requestId,
} from './names.ts';
import { getOrUndefined } from './network.ts';
import { CALL, type GcpSession, LIST, latest } from './session.ts';
import { type SecretDelivery, sensitiveItems } from './startup.ts';

type Instance = protos.google.cloud.compute.v1.IInstance;

const tail = (link: string | null | undefined) =>
  String(link ?? '')
    .split('/')
    .pop() ?? '';
const link = (s: GcpSession, zone: string, name: string) =>
  `projects/${s.project}/zones/${zone}/instances/${name}`;

/** `[https://…/compute/v1/]projects/P/zones/Z/instances/N`, `zones/Z/instances/N` or `N`. */
export function parseInstanceRef(project: string, ref: string): { zone?: string; name: string } {
  const path = ref.trim().replace(/^https?:\/\/[^/]+\/compute\/v1\//, '');
  const m = /^(?:projects\/([^/]+)\/)?zones\/([^/]+)\/instances\/([^/]+)$/.exec(path);
  if (m) {
    if (m[1] && m[1] !== project)
      throw new BackendError(
        'InvalidConfiguration',
        `instance ${ref} is in project ${m[1]}, not in the configured project ${project}`,
      );
    return { zone: m[2]!, name: m[3]! };
  }
  if (/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(path)) return { name: path };
  throw new BackendError(
    'InvalidConfiguration',
    `'${ref.slice(0, 120)}' is not a GCE instance (projects/P/zones/Z/instances/NAME, or NAME)`,
  );
}

/** The instance a reference names, in its zone or (a bare name) wherever it is. */
async function getByRef(s: GcpSession, ref: string): Promise<{ inst: Instance; zone: string } | undefined> {
  const { zone, name } = parseInstanceRef(s.project, ref);
  if (zone) {
    const inst = await s.call('instances.get', () =>
      getOrUndefined(s.c.instances.get({ project: s.project, zone, instance: name }, CALL)),
    );
    return inst ? { inst, zone } : undefined;
  }
  return s.call('instances.aggregatedList', async () => {
    for await (const [scope, list] of s.c.instances.aggregatedListAsync(
      { project: s.project, filter: `name = "${name}"` },
      LIST,
    ))
      for (const i of list.instances ?? []) if (i.name === name) return { inst: i, zone: tail(scope) };
    return undefined;
  });
}

async function setLabels(s: GcpSession, inst: Instance, zone: string, labels: Record<string, string>) {
  const [op] = await s.call('instances.setLabels', () =>
    s.c.instances.setLabels(
      {
        project: s.project,
        zone,
        instance: inst.name!,
        requestId: requestId(s.project, inst.name!, 'labels', String(inst.id), JSON.stringify(labels)),
        instancesSetLabelsRequestResource: { labels, labelFingerprint: inst.labelFingerprint },
      },
      CALL,
    ),
  );
  await s.awaitOperation(latest(op), 'instances.setLabels');
}

export async function adoptInstance(
  s: GcpSession,
  ref: string,
  d: InstanceDesired,
): Promise<{ providerId: string }> {
  const found = await getByRef(s, ref);
  if (!found) throw new BackendError('NotFound', `no GCE instance ${ref} to adopt`);
  const { inst, zone } = found;
  const providerId = link(s, zone, inst.name!);
  const labels = inst.labels ?? {};
  const by = labels[LABEL_INSTALLATION];
  if (by !== undefined) {
    if (
      by === labelValue(s.managedBy) &&
      labels[LABEL_ID] === labelValue(d.id) &&
      labels[LABEL_OWNER_UID] === labelValue(d.owner.uid)
    )
      return { providerId };
    const m = instanceMark(inst);
    const whose =
      by !== labelValue(s.managedBy)
        ? `another installation (${by})`
        : `${m?.owner.kind ?? 'object'} ${m?.owner.namespace ?? '?'}/${m?.owner.name ?? labels[LABEL_ID]}`;
    throw new BackendError('AdoptionConflict', `${providerId} is managed by ${whose}: not adopting it`);
  }
  const mine = await findInstance(s, d.id);
  if (mine && isOurs(s, mine.inst) && mine.inst.name !== inst.name)
    throw new BackendError(
      'InvalidConfiguration',
      `this Instance already runs as ${link(s, mine.zone, mine.inst.name!)}; adopting ${providerId} too would leave one unmanaged`,
    );
  // The record first: once the labels say ours, listManaged reads the owner from it.
  const record = markDescription({ managedBy: s.managedBy, kind: 'instance', id: d.id, owner: d.owner });
  const items = (inst.metadata?.items ?? []).filter((i) => i.key !== OWNER_METADATA_KEY);
  const [op] = await s.call('instances.setMetadata', () =>
    s.c.instances.setMetadata(
      {
        project: s.project,
        zone,
        instance: inst.name!,
        requestId: requestId(
          s.project,
          inst.name!,
          'adopt',
          String(inst.id),
          d.id,
          String(inst.metadata?.fingerprint),
        ),
        metadataResource: {
          fingerprint: inst.metadata?.fingerprint,
          items: [...items, { key: OWNER_METADATA_KEY, value: record }],
        },
      },
      CALL,
    ),
  );
  await s.awaitOperation(latest(op), 'instances.setMetadata');
  await setLabels(s, inst, zone, {
    ...labels,
    ...ownerLabels(s.managedBy, d.id, d.owner),
    [LABEL_ADOPTED]: 'true',
  });
  s.log.info('adopted an existing instance', { instance: d.id, gce: providerId });
  return { providerId };
}

/** Where an instance differs from the desired state in what GCE cannot change in place. */
function fixedDifferences(s: GcpSession, d: InstanceDesired, inst: Instance, zone: string): string[] {
  const out: string[] = [];
  if (zone !== s.zone) out.push(`zone: ${zone} → ${s.zone}`);
  const type = s.settings.instanceTypes[d.instanceType];
  if (type && tail(inst.machineType) !== type) out.push(`machine type: ${tail(inst.machineType)} → ${type}`);
  const has = (inst.networkInterfaces ?? []).map((n) => tail(n.subnetwork));
  const want = d.interfaces.map((i) => gceName('sub', i.subnetId));
  if (has.join(',') !== want.join(',')) out.push(`subnetworks: ${has.join(',')} → ${want.join(',')}`);
  return out;
}

/**
 * Ensure on an adopted instance whose spec is not recorded yet (or changed): accept it when zone, machine type
 * and subnetworks match (our network tag added beside its own, the spec label recorded); never replace it.
 */
export async function acceptAdopted(
  s: GcpSession,
  d: InstanceDesired,
  inst: Instance,
  zone: string,
  spec: string,
): Promise<void> {
  const diffs = fixedDifferences(s, d, inst, zone);
  if (diffs.length > 0)
    throw new BackendError(
      'Unsupported',
      `adopted instance ${link(s, zone, inst.name!)} differs where GCE cannot change it in place (${diffs.join('; ')}); an adopted instance is never replaced: make the Instance match it`,
    );
  const tag = gceName('vm', d.id);
  const tags = inst.tags?.items ?? [];
  if (!tags.includes(tag)) {
    const [op] = await s.call('instances.setTags', () =>
      s.c.instances.setTags(
        {
          project: s.project,
          zone,
          instance: inst.name!,
          requestId: requestId(
            s.project,
            inst.name!,
            'tags',
            String(inst.id),
            String(inst.tags?.fingerprint),
          ),
          tagsResource: { items: [...tags, tag], fingerprint: inst.tags?.fingerprint },
        },
        CALL,
      ),
    );
    await s.awaitOperation(latest(op), 'instances.setTags');
  }
  // Rules released with it (Retain) are superseded by ours; left, they would also keep its network in use.
  for (const f of await releasedFirewalls(s, tags)) await deleteFirewall(s, f);
  await setLabels(s, inst, zone, { ...(inst.labels ?? {}), [LABEL_SPEC]: spec });
  s.log.info('adopted instance accepted', { instance: d.id, gce: inst.name });
}

export async function observeInstance(
  s: GcpSession,
  ref: { id: string; providerId?: string },
): Promise<InstanceObserved | undefined> {
  const found = ref.providerId ? await getByRef(s, ref.providerId) : await findInstance(s, ref.id);
  if (!found || (!ref.providerId && !isOurs(s, found.inst))) return undefined;
  const nics: typeof found.inst.networkInterfaces & {} = found.inst.networkInterfaces?.length
    ? found.inst.networkInterfaces
    : [{}];
  return {
    providerId: link(s, found.zone, found.inst.name!),
    upToDate: false,
    powerState: POWER[String(found.inst.status)] ?? 'pending',
    addresses: nics.map((n) => ({
      ...(n.networkIP ? { networkIP: n.networkIP } : {}),
      ...(n.accessConfigs?.[0]?.natIP ? { externalIP: n.accessConfigs[0].natIP } : {}),
    })),
  };
}

const metadataValue = (inst: Instance, key: string) =>
  inst.metadata?.items?.find((i) => i.key === key)?.value ?? undefined;

export async function planInstance(
  s: GcpSession,
  delivery: SecretDelivery | undefined,
  d: InstanceDesired,
): Promise<InstancePlan> {
  const found = await findInstance(s, d.id);
  if (!found) return { action: 'create', changes: [] };
  const { inst, zone } = found;
  if (!isOurs(s, inst))
    throw new BackendError(
      'InvalidConfiguration',
      `instance ${inst.name} exists and is not managed by this installation`,
    );
  const name = gceName('vm', d.id);
  // With Secret content the spec depends on staged secret names: staging writes, so it is not computed here.
  const want = delivery && sensitiveItems(d.runtime).length ? undefined : await body(s, d, name, delivery);
  const recorded = inst.labels?.[LABEL_SPEC];
  const fixed = fixedDifferences(s, d, inst, zone);
  const changes: string[] = [];
  if (inst.labels?.[LABEL_ADOPTED] === 'true') {
    changes.push(...fixed);
    if (!fixed.length && !recorded)
      changes.push('adopted: network tag, firewall rules and spec label written');
    else if (!fixed.length && want && want.spec !== recorded)
      changes.push('instance spec (metadata, disk, service account): not applied to an adopted instance');
  } else if (want && want.spec !== recorded) {
    const replaced = (what: string) => `${what} (the instance is replaced)`;
    changes.push(...fixed.map(replaced));
    const items = want.resource.metadata?.items ?? [];
    const before = changes.length;
    if (metadataValue(inst, 'user-data') !== items.find((i) => i.key === 'user-data')?.value)
      changes.push(replaced('user-data (files or containers)'));
    if (metadataValue(inst, 'ssh-keys') !== items.find((i) => i.key === 'ssh-keys')?.value)
      changes.push(replaced('ssh keys'));
    if (changes.length === before && !fixed.length)
      changes.push(replaced('boot disk, image or service account'));
  }
  if (!(await firewallsConverged(s, d.id, d.owner, name, d.interfaces))) changes.push('firewall rules');
  if (inst.labels?.[LABEL_ADOPTED] === 'true' && recorded && !(inst.tags?.items ?? []).includes(name))
    changes.push(`network tag: add ${name}`);
  if (inst.status === 'TERMINATED') changes.push('power: start');
  return { action: changes.length ? 'update' : 'none', changes };
}
