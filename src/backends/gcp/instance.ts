/**
 * Datum instances → GCE VM instances in the Location's zone, with their firewall rules. A VM boots the image
 * its Datum image maps to; a sandbox boots Container-Optimized OS with its containers in cloud-init
 * user-data. What needs a new machine to change is hashed into the `datum-spec` label: a different hash
 * replaces the instance (delete, awaited, then insert). Inserts and deletes carry a requestId derived from
 * the instance and what is being done, so a retry after a lost answer never creates a second machine.
 */
import type { protos } from '@google-cloud/compute';
import {
  BackendError,
  type DeleteResult,
  type InstanceDesired,
  type InstanceObserved,
  type PowerState,
} from '../../datum/backend.ts';
import { acceptAdopted } from './adopt.ts';
import { deleteFirewalls, ensureFirewalls } from './firewall.ts';
import {
  gceName,
  LABEL_ADOPTED,
  LABEL_ID,
  LABEL_INSTALLATION,
  LABEL_SPEC,
  labelValue,
  markDescription,
  ownerLabels,
  requestId,
  specHash,
} from './names.ts';
import { getOrUndefined } from './network.ts';
import { CALL, type GcpSession, LIST, latest } from './session.ts';
import { refuseSensitive, type SecretDelivery, sensitiveItems, userData } from './startup.ts';

type Instance = protos.google.cloud.compute.v1.IInstance;

export const POWER: Record<string, PowerState> = {
  PROVISIONING: 'pending',
  STAGING: 'pending',
  REPAIRING: 'pending',
  RUNNING: 'running',
  STOPPING: 'stopping',
  SUSPENDING: 'stopping',
  TERMINATED: 'stopped',
  SUSPENDED: 'stopped',
};

/** GCE's limit for one metadata value. */
const METADATA_VALUE_LIMIT = 256 * 1024;

/** Carries our installation's label: ours to change (a foreign or released instance is not). */
export const isOurs = (s: GcpSession, i: Instance) =>
  i.labels?.[LABEL_INSTALLATION] === labelValue(s.managedBy);

/**
 * The instance of backend id `id`: by its name in the Location's zone, else (adopted under another name, or no
 * Location: the sweeper) by our installation and id labels in every zone.
 */
export async function findInstance(
  s: GcpSession,
  id: string,
): Promise<{ inst: Instance; zone: string } | undefined> {
  const name = gceName('vm', id);
  const here = !s.placed
    ? undefined
    : await s.call('instances.get', () =>
        getOrUndefined(s.c.instances.get({ project: s.project, zone: s.zone, instance: name }, CALL)),
      );
  if (here) return { inst: here, zone: s.zone };
  const filter = `(labels.${LABEL_INSTALLATION} = "${labelValue(s.managedBy)}") AND (labels.${LABEL_ID} = "${labelValue(id)}")`;
  const byLabels = await searchZones(
    s,
    filter,
    (i) => i.labels?.[LABEL_ID] === labelValue(id) && isOurs(s, i),
  );
  // Without a Location (the sweeper), also by name: instances made before the id label existed carry only it
  // (one labelled for another id was adopted by that one's Instance).
  const legacy = (i: Instance) =>
    i.name === name && (i.labels?.[LABEL_ID] ?? labelValue(id)) === labelValue(id);
  return byLabels ?? (s.placed ? undefined : searchZones(s, `name = "${name}"`, legacy));
}

async function searchZones(
  s: GcpSession,
  filter: string,
  match: (i: Instance) => boolean,
): Promise<{ inst: Instance; zone: string } | undefined> {
  return s.call('instances.aggregatedList', async () => {
    for await (const [scope, list] of s.c.instances.aggregatedListAsync({ project: s.project, filter }, LIST))
      for (const i of list.instances ?? []) if (match(i)) return { inst: i, zone: scope.split('/').pop()! };
    return undefined;
  });
}

export async function body(
  s: GcpSession,
  d: InstanceDesired,
  name: string,
  delivery: SecretDelivery | undefined,
) {
  const st = s.settings;
  const machineType = st.instanceTypes[d.instanceType];
  if (!machineType)
    throw new BackendError(
      'InvalidConfiguration',
      `instance type ${d.instanceType} has no GCE machine type (config "instanceTypes")`,
    );
  if (d.interfaces.length === 0)
    throw new BackendError('InvalidConfiguration', 'an instance needs at least one network interface');
  let sourceImage: string;
  let diskSizeGb: number;
  if (d.runtime.kind === 'virtualMachine') {
    const img = st.images[d.runtime.image];
    if (!img)
      throw new BackendError(
        'InvalidConfiguration',
        `image ${d.runtime.image} has no GCE image (config "images")`,
      );
    sourceImage = img;
    diskSizeGb = Math.max(10, d.runtime.diskSizeGiB);
  } else {
    sourceImage = st.containerHostImage;
    diskSizeGb = st.containerHostDiskGiB;
  }
  if (!delivery) refuseSensitive(d.runtime);
  const items = sensitiveItems(d.runtime);
  const staged = delivery && items.length ? await delivery.stage(s.delivery(), name, items) : undefined;
  const ud = userData(d.runtime, staged);
  if (ud.length > METADATA_VALUE_LIMIT)
    throw new BackendError(
      'InvalidConfiguration',
      `the instance's files make ${ud.length} bytes of user-data; GCE allows ${METADATA_VALUE_LIMIT}`,
    );
  const metadata = [{ key: 'user-data', value: ud }];
  if (d.sshKeys.length)
    metadata.push({ key: 'ssh-keys', value: d.sshKeys.map((k) => `${k.user}:${k.key}`).join('\n') });
  if (d.runtime.kind === 'sandbox') metadata.push({ key: 'google-logging-enabled', value: 'true' });
  const networkInterfaces = d.interfaces.map((iface, i) => ({
    network: s.networkLink(gceName('net', iface.networkId)),
    subnetwork: s.subnetLink(gceName('sub', iface.subnetId)),
    accessConfigs: st.assignExternalIp && i === 0 ? [{ name: 'External NAT', type: 'ONE_TO_ONE_NAT' }] : [],
  }));
  const core = {
    machineType: `zones/${s.zone}/machineTypes/${machineType}`,
    disks: [
      { boot: true, autoDelete: true, initializeParams: { sourceImage, diskSizeGb: String(diskSizeGb) } },
    ],
    networkInterfaces,
    metadata: { items: metadata },
    serviceAccounts: st.serviceAccount
      ? [{ email: st.serviceAccount, scopes: ['https://www.googleapis.com/auth/cloud-platform'] }]
      : [],
  };
  const spec = specHash(core);
  const labels = ownerLabels(s.managedBy, d.id, d.owner, spec);
  const resource: Instance = {
    ...core,
    name,
    description: markDescription({ managedBy: s.managedBy, kind: 'instance', id: d.id, owner: d.owner }),
    labels,
    tags: { items: [name] },
  };
  resource.disks![0]!.initializeParams!.labels = labels;
  return { resource, spec };
}

function observe(
  s: GcpSession,
  d: InstanceDesired,
  inst: Instance,
  zone: string,
  upToDate: boolean,
): InstanceObserved {
  const nics = inst.networkInterfaces ?? [];
  return {
    providerId: `projects/${s.project}/zones/${zone}/instances/${inst.name}`,
    upToDate,
    powerState: POWER[String(inst.status)] ?? 'pending',
    addresses: d.interfaces.map((_, i) => ({
      networkIP: nics[i]?.networkIP ?? undefined,
      externalIP: nics[i]?.accessConfigs?.[0]?.natIP ?? undefined,
    })),
  };
}

async function deleteOne(s: GcpSession, inst: Instance, zone: string): Promise<boolean> {
  const name = inst.name!;
  const [op] = await s.call('instances.delete', () =>
    s.c.instances.delete(
      {
        project: s.project,
        zone,
        instance: name,
        requestId: requestId(s.project, zone, name, 'delete', String(inst.id)),
      },
      CALL,
    ),
  );
  await s.awaitOperation(latest(op), 'instances.delete');
  return !(await s.call('instances.get', () =>
    getOrUndefined(s.c.instances.get({ project: s.project, zone, instance: name }, CALL)),
  ));
}

export async function ensureInstance(
  s: GcpSession,
  delivery: SecretDelivery | undefined,
  d: InstanceDesired,
): Promise<InstanceObserved> {
  const name = gceName('vm', d.id);
  const { resource, spec } = await body(s, d, name, delivery);
  const found = await findInstance(s, d.id);
  if (found && !isOurs(s, found.inst))
    throw new BackendError(
      'InvalidConfiguration',
      `instance ${name} exists and is not managed by this installation`,
    );
  if (found && found.inst.labels?.[LABEL_SPEC] !== spec) {
    if (found.inst.labels?.[LABEL_ADOPTED] === 'true')
      // Taken over with the adopt annotation: accepted as it is (or refused), never replaced.
      await acceptAdopted(s, d, found.inst, found.zone, spec);
    else {
      // Replace: the old machine goes first (awaited), the new one comes on a later reconcile.
      await deleteOne(s, found.inst, found.zone);
      return { ...observe(s, d, found.inst, found.zone, false), powerState: 'stopping' };
    }
  }
  await ensureFirewalls(s, d.id, d.owner, name, d.interfaces);
  if (found?.inst.status === 'TERMINATED') {
    // Stopped behind our back: start it again (the id changes with every stop, so each stop gets one start).
    const stoppedAt = String(found.inst.lastStopTimestamp ?? '');
    const [op] = await s.call('instances.start', () =>
      s.c.instances.start(
        {
          project: s.project,
          zone: found.zone,
          instance: found.inst.name!,
          requestId: requestId(s.project, found.inst.name!, 'start', String(found.inst.id), stoppedAt),
        },
        CALL,
      ),
    );
    await s.awaitOperation(latest(op), 'instances.start');
    const now = await findInstance(s, d.id);
    if (now) return observe(s, d, now.inst, now.zone, true);
  }
  if (found) return observe(s, d, found.inst, found.zone, true);
  let rid = requestId(s.project, s.zone, name, 'insert', spec);
  for (let attempt = 0; attempt < 3; attempt++) {
    const [op] = await s.call('instances.insert', () =>
      s.c.instances.insert(
        { project: s.project, zone: s.zone, requestId: rid, instanceResource: resource },
        CALL,
      ),
    );
    const done = await s.awaitOperation(latest(op), 'instances.insert');
    const inst = await s.call('instances.get', () =>
      getOrUndefined(s.c.instances.get({ project: s.project, zone: s.zone, instance: name }, CALL)),
    );
    if (inst) return observe(s, d, inst, s.zone, true);
    if (!done)
      return {
        providerId: `projects/${s.project}/zones/${s.zone}/instances/${name}`,
        upToDate: false,
        powerState: 'pending',
        addresses: [],
      };
    // DONE without an instance: the request id answered an earlier insert whose machine is gone since.
    rid = requestId(s.project, s.zone, name, 'insert', spec, String(latest(op).name));
  }
  throw new BackendError('Transient', `instances.insert of ${name} finished without an instance`);
}

/** Deletes the instance (awaited), then its firewall rules and staged secrets; gone once none is left. */
export async function deleteInstance(
  s: GcpSession,
  delivery: SecretDelivery | undefined,
  id: string,
): Promise<DeleteResult> {
  const name = gceName('vm', id);
  const found = await findInstance(s, id);
  if (found && isOurs(s, found.inst) && !(await deleteOne(s, found.inst, found.zone))) return { gone: false };
  if (!(await deleteFirewalls(s, id))) return { gone: false };
  await delivery?.remove(s.delivery(), name);
  return { gone: true };
}
