/**
 * Datum instance → security groups + one EC2 instance. Order per ensure: subnets (for the VPCs), security
 * groups (converged), secrets (SSM), then adopt-by-tag or RunInstances with a deterministic ClientToken.
 * A launch-spec change replaces the instance: terminate, wait for `terminated`, launch with a new token.
 * Security group changes apply in place; a stopped instance is started again.
 */
import {
  DescribeInstancesCommand,
  type Instance,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  BackendError,
  type DeleteResult,
  type InstanceDesired,
  type InstanceObserved,
  type PowerState,
} from '../../datum/backend.ts';
import { createOrAdopt } from './adopt.ts';
import { acceptAdopted } from './adopt-instance.ts';
import type { AwsSession } from './clients.ts';
import { errorCode, isNotFound } from './errors.ts';
import { deleteGroups, ensureGroup, findGroups } from './firewall.ts';
import { clientToken, type PlacedInterface, planLaunch } from './launch.ts';
import { collectSecrets, type SecretStore } from './secrets.ts';
import { findSubnets, LIVE_STATES } from './subnet.ts';
import { ownedFilters, ownerTags, TAG_ADOPTED, TAG_SPEC, tagMap } from './tags.ts';

/** Attempts with a fresh token when AWS says the token belongs to a terminated instance. */
const TOKEN_ATTEMPTS = 5;

export async function findInstances(s: AwsSession, id: string): Promise<Instance[]> {
  const out = await s.send(
    s.clients.ec2,
    new DescribeInstancesCommand({
      Filters: [
        ...ownedFilters(s.managedBy, 'instance', id),
        { Name: 'instance-state-name', Values: LIVE_STATES },
      ],
    }),
  );
  return (out.Reservations ?? [])
    .flatMap((r) => r.Instances ?? [])
    .sort(
      (a, b) =>
        (a.LaunchTime?.getTime() ?? 0) - (b.LaunchTime?.getTime() ?? 0) ||
        (a.InstanceId ?? '').localeCompare(b.InstanceId ?? ''),
    );
}

function sensitiveValues(d: InstanceDesired): string[] {
  const files = (
    d.runtime.kind === 'virtualMachine' ? d.runtime.files : d.runtime.containers.flatMap((c) => c.files)
  )
    .filter((f) => f.sensitive)
    .flatMap((f) => [f.data, Buffer.from(f.data, 'base64').toString('utf8')]);
  const env =
    d.runtime.kind === 'sandbox' ? d.runtime.containers.flatMap((c) => c.env.filter((e) => e.sensitive)) : [];
  return [...files, ...env.map((e) => e.value)];
}

export async function ensureInstance(
  base: AwsSession,
  store: SecretStore,
  d: InstanceDesired,
): Promise<InstanceObserved> {
  const s = base.redacting(sensitiveValues(d));
  if (d.interfaces.length === 0)
    throw new BackendError('InvalidConfiguration', `instance ${d.id} has no interface`);
  const fwTags = ownerTags(s.managedBy, 'firewall', d.id, d.owner);
  const known = await findGroups(s, d.id);
  const placed: PlacedInterface[] = [];
  for (const [index, nic] of d.interfaces.entries()) {
    const subnet = (await findSubnets(s, nic.subnetId))[0];
    if (!subnet?.SubnetId || !subnet.VpcId)
      throw new BackendError('DependencyNotReady', `subnet ${nic.subnetId} does not exist yet`, {
        retryAfterMs: 2_000,
      });
    const groupId = await ensureGroup(s, {
      instanceId: d.id,
      index,
      vpcId: subnet.VpcId,
      rules: nic.ingress,
      tags: fwTags,
      known,
    });
    placed.push({ subnetId: subnet.SubnetId, groupId });
  }
  const tags = ownerTags(s.managedBy, 'instance', d.id, d.owner);
  const { refs, values } = collectSecrets(s.settings.ssmPrefix, d.id, d.runtime);
  // Validate the maps before touching SSM: an unsupported type must not leave parameters behind.
  planLaunch(s.settings, d, { interfaces: placed, refs, secretVersions: [], tags });
  const secretVersions = await store.sync(s, d.id, values, tags as { Key: string; Value: string }[]);
  const plan = planLaunch(s.settings, d, { interfaces: placed, refs, secretVersions, tags });

  let live = await findInstances(s, d.id);
  if (live.length > 1) live = await terminateDuplicates(s, d.id, live, plan.specHash);
  const current = live[0];
  if (current) {
    if (tagMap(current.Tags)[TAG_SPEC] === plan.specHash) return observe(s, d, current);
    if (tagMap(current.Tags)[TAG_ADOPTED]) {
      // Taken over with the adopt annotation: accepted as it is (or refused), never replaced.
      await acceptAdopted(s, d, current, plan, placed);
      return observe(s, d, current);
    }
    if (current.State?.Name !== 'shutting-down') {
      s.log.info('launch spec changed: replacing the instance', { instance: d.id, ec2: current.InstanceId });
      await terminate(s, [current.InstanceId!]);
    }
    // The old machine is on its way out; the new spec is not running anywhere yet.
    return {
      providerId: current.InstanceId!,
      upToDate: false,
      powerState: 'stopping',
      addresses: d.interfaces.map(() => ({})),
    };
  }

  const lookup = async () =>
    (await findInstances(s, d.id)).find((i) => tagMap(i.Tags)[TAG_SPEC] === plan.specHash);
  for (let attempt = 0; ; attempt++) {
    const token = clientToken(d.id, plan.specHash, attempt);
    try {
      const launched = await createOrAdopt(s, {
        what: `instance ${d.id}`,
        lookup,
        create: async () => {
          const out = await s.send(
            s.clients.ec2Once,
            new RunInstancesCommand({ ...plan.input, ClientToken: token }),
          );
          return out.Instances![0]!;
        },
      });
      s.log.info('instance launched', { instance: d.id, ec2: launched.InstanceId });
      return observe(s, d, launched);
    } catch (err) {
      const code = errorCode(err);
      // The token is spent (its instance is gone, or it was used for other parameters): take the next one.
      if (
        (code === 'IdempotentInstanceTerminated' || code === 'IdempotentParameterMismatch') &&
        attempt < TOKEN_ATTEMPTS
      )
        continue;
      throw err;
    }
  }
}

/** Keeps one instance (current spec first, then oldest) and terminates the others. */
async function terminateDuplicates(
  s: AwsSession,
  id: string,
  live: Instance[],
  spec: string,
): Promise<Instance[]> {
  const keep =
    live.find((i) => tagMap(i.Tags)[TAG_SPEC] === spec && i.State?.Name !== 'shutting-down') ?? live[0]!;
  const extra = live.filter((i) => i !== keep && i.State?.Name !== 'shutting-down').map((i) => i.InstanceId!);
  if (extra.length > 0) {
    s.log.warn('terminating duplicate instances', { instance: id, keep: keep.InstanceId, extra });
    await terminate(s, extra);
  }
  return [keep];
}

async function terminate(s: AwsSession, ids: string[]): Promise<void> {
  try {
    await s.send(s.clients.ec2, new TerminateInstancesCommand({ InstanceIds: ids }));
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

export const POWER: Record<string, PowerState> = {
  pending: 'pending',
  running: 'running',
  stopping: 'stopping',
  stopped: 'stopped',
  'shutting-down': 'stopping',
  terminated: 'terminated',
};

async function observe(s: AwsSession, d: InstanceDesired, i: Instance): Promise<InstanceObserved> {
  let powerState = POWER[i.State?.Name ?? 'pending'] ?? 'pending';
  if (d.suspended && (i.State?.Name === 'running' || i.State?.Name === 'pending')) {
    // Suspended upstream: stop it, keeping its volumes and interfaces; a resume starts it again below.
    s.log.info('stopping a suspended instance', { instance: d.id, ec2: i.InstanceId });
    await s.send(s.clients.ec2, new StopInstancesCommand({ InstanceIds: [i.InstanceId!] }));
    powerState = 'stopping';
  } else if (i.State?.Name === 'stopped' && !d.suspended) {
    // Desired state is running: someone stopped it (or EC2 did); start it again.
    s.log.info('starting a stopped instance', { instance: d.id, ec2: i.InstanceId });
    await s.send(s.clients.ec2, new StartInstancesCommand({ InstanceIds: [i.InstanceId!] }));
    powerState = 'pending';
  }
  const addresses = d.interfaces.map((_, index) => {
    const nic = i.NetworkInterfaces?.find((n) => (n.Attachment?.DeviceIndex ?? 0) === index);
    const networkIP = nic?.PrivateIpAddress ?? (index === 0 ? i.PrivateIpAddress : undefined);
    const externalIP = nic?.Association?.PublicIp ?? (index === 0 ? i.PublicIpAddress : undefined);
    return { ...(networkIP ? { networkIP } : {}), ...(externalIP ? { externalIP } : {}) };
  });
  return { providerId: i.InstanceId!, upToDate: true, powerState, addresses };
}

/**
 * Terminates every live instance of `id`; gone only once none is left (terminated or never existed), then
 * deletes its security groups (in use until the instance is gone) and its SSM parameters.
 */
export async function deleteInstance(s: AwsSession, store: SecretStore, id: string): Promise<DeleteResult> {
  const live = await findInstances(s, id);
  if (live.length > 0) {
    const running = live.filter((i) => i.State?.Name !== 'shutting-down').map((i) => i.InstanceId!);
    if (running.length > 0) await terminate(s, running);
    // An adopted instance may be one we released earlier: the parameters it read at boot go with it.
    for (const i of live.filter((x) => tagMap(x.Tags)[TAG_ADOPTED]))
      await store.deleteReleasedWith(s, i.InstanceId!);
    return { gone: false };
  }
  if (!(await deleteGroups(s, id))) return { gone: false };
  await store.deleteAll(s, id);
  return { gone: true };
}
