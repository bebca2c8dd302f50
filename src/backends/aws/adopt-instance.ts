/**
 * Operator controls on EC2 instances:
 * - adopt: an existing instance (by EC2 id) gets our ownership tags (plus `datum.net/adopted`), unless it
 *   carries another installation's or another object's; the next ensure accepts it when its type, image and
 *   subnets are the desired ones (then attaches our security groups and tags the launch spec), and otherwise
 *   says what differs. An adopted instance is never replaced by the provider.
 * - observe: the instance as it is, read-only (no start, stop or tag).
 * - plan: what an ensure would change, read-only (DescribeInstances and DescribeSubnets only).
 */
import {
  CreateTagsCommand,
  DescribeInstancesCommand,
  type Instance,
  ModifyNetworkInterfaceAttributeCommand,
} from '@aws-sdk/client-ec2';
import {
  BackendError,
  type InstanceDesired,
  type InstanceObserved,
  type InstancePlan,
} from '../../datum/backend.ts';
import type { AwsSession } from './clients.ts';
import { isNotFound } from './errors.ts';
import { deleteReleasedGroups } from './firewall.ts';
import { findInstances, POWER } from './instance.ts';
import { type LaunchPlan, type PlacedInterface, planLaunch, resolveTypeAndImage } from './launch.ts';
import { collectSecrets } from './secrets.ts';
import { findSubnets } from './subnet.ts';
import {
  ownerTags,
  TAG_ADOPTED,
  TAG_ID,
  TAG_MANAGED_BY,
  TAG_NAME,
  TAG_NAMESPACE,
  TAG_SPEC,
  TAG_UID,
  TAG_UPSTREAM_KIND,
  tagMap,
  tagValue,
} from './tags.ts';

async function describeOne(s: AwsSession, ec2Id: string): Promise<Instance | undefined> {
  try {
    const out = await s.send(s.clients.ec2, new DescribeInstancesCommand({ InstanceIds: [ec2Id] }));
    const i = out.Reservations?.[0]?.Instances?.[0];
    return i && i.State?.Name !== 'terminated' ? i : undefined;
  } catch (err) {
    if (isNotFound(err) || (err instanceof BackendError && err.reason === 'InvalidConfiguration'))
      return undefined;
    throw err;
  }
}

function observedOf(i: Instance, nics: number): InstanceObserved {
  const addresses = Array.from({ length: Math.max(nics, 1) }, (_, index) => {
    const nic = i.NetworkInterfaces?.find((n) => (n.Attachment?.DeviceIndex ?? 0) === index);
    const networkIP = nic?.PrivateIpAddress ?? (index === 0 ? i.PrivateIpAddress : undefined);
    const externalIP = nic?.Association?.PublicIp ?? (index === 0 ? i.PublicIpAddress : undefined);
    return { ...(networkIP ? { networkIP } : {}), ...(externalIP ? { externalIP } : {}) };
  });
  return {
    providerId: i.InstanceId!,
    upToDate: false,
    powerState: POWER[i.State?.Name ?? 'pending'] ?? 'pending',
    addresses,
  };
}

function subnetsOf(i: Instance): string[] {
  return [...(i.NetworkInterfaces ?? [])]
    .sort((a, b) => (a.Attachment?.DeviceIndex ?? 0) - (b.Attachment?.DeviceIndex ?? 0))
    .map((n) => n.SubnetId ?? '');
}

export async function adoptInstance(
  s: AwsSession,
  ec2Id: string,
  d: InstanceDesired,
): Promise<{ providerId: string }> {
  const i = await describeOne(s, ec2Id);
  if (!i) throw new BackendError('NotFound', `no live EC2 instance ${ec2Id} to adopt`);
  const tags = tagMap(i.Tags);
  const by = tags[TAG_MANAGED_BY];
  if (by !== undefined) {
    if (
      by === tagValue(s.managedBy) &&
      tags[TAG_ID] === tagValue(d.id) &&
      tags[TAG_UID] === tagValue(d.owner.uid)
    )
      return { providerId: ec2Id };
    const whose =
      by !== tagValue(s.managedBy)
        ? `another installation (${by})`
        : `${tags[TAG_UPSTREAM_KIND] ?? 'object'} ${tags[TAG_NAMESPACE]}/${tags[TAG_NAME]}`;
    throw new BackendError('AdoptionConflict', `${ec2Id} is managed by ${whose}: not adopting it`);
  }
  const mine = (await findInstances(s, d.id)).filter((x) => x.InstanceId !== ec2Id);
  if (mine.length > 0)
    throw new BackendError(
      'InvalidConfiguration',
      `this Instance already runs as ${mine[0]!.InstanceId}; adopting ${ec2Id} too would leave one unmanaged`,
    );
  await s.send(
    s.clients.ec2,
    new CreateTagsCommand({
      // Its interfaces too, as a launch tags them: our security groups go on them by that tag (IAM policy).
      Resources: [ec2Id, ...(i.NetworkInterfaces ?? []).map((n) => n.NetworkInterfaceId!).filter(Boolean)],
      Tags: [...ownerTags(s.managedBy, 'instance', d.id, d.owner), { Key: TAG_ADOPTED, Value: 'true' }],
    }),
  );
  s.log.info('adopted an existing instance', { instance: d.id, ec2: ec2Id });
  return { providerId: ec2Id };
}

/** Where an adopted instance differs from the desired state in what EC2 cannot change in place. */
function fixedDifferences(s: AwsSession, d: InstanceDesired, i: Instance, subnets: string[]): string[] {
  const { instanceType, imageId } = resolveTypeAndImage(s.settings, d);
  const out: string[] = [];
  if (i.InstanceType !== instanceType) out.push(`instance type: ${i.InstanceType} → ${instanceType}`);
  if (i.ImageId !== imageId) out.push(`image: ${i.ImageId} → ${imageId}`);
  if (JSON.stringify(subnetsOf(i)) !== JSON.stringify(subnets))
    out.push(`subnets: ${subnetsOf(i).join(',')} → ${subnets.join(',')}`);
  return out;
}

/**
 * Ensure on an adopted instance whose launch spec is not ours yet: accept it when type, image and subnets
 * match (our security groups replace its own, the spec tag marks it converged); never replace it.
 */
export async function acceptAdopted(
  s: AwsSession,
  d: InstanceDesired,
  i: Instance,
  plan: LaunchPlan,
  placed: PlacedInterface[],
): Promise<void> {
  const diffs = fixedDifferences(
    s,
    d,
    i,
    placed.map((p) => p.subnetId),
  );
  if (diffs.length > 0)
    throw new BackendError(
      'Unsupported',
      `adopted instance ${i.InstanceId} differs where EC2 cannot change it in place (${diffs.join('; ')}); an adopted instance is never replaced: make the Instance match it`,
    );
  const detached = new Set<string>();
  for (const nic of i.NetworkInterfaces ?? []) {
    const want = placed[nic.Attachment?.DeviceIndex ?? 0]?.groupId;
    if (want && (nic.Groups?.length !== 1 || nic.Groups[0]?.GroupId !== want)) {
      await s.send(
        s.clients.ec2,
        new ModifyNetworkInterfaceAttributeCommand({
          NetworkInterfaceId: nic.NetworkInterfaceId,
          Groups: [want],
        }),
      );
      for (const g of nic.Groups ?? []) if (g.GroupId && g.GroupId !== want) detached.add(g.GroupId);
    }
  }
  // A group we released with this instance (Retain) now guards nothing; left, it would block DeleteVpc.
  await deleteReleasedGroups(s, [...detached]);
  await s.send(
    s.clients.ec2,
    new CreateTagsCommand({ Resources: [i.InstanceId!], Tags: [{ Key: TAG_SPEC, Value: plan.specHash }] }),
  );
  s.log.info('adopted instance accepted', { instance: d.id, ec2: i.InstanceId });
}

export async function observeInstance(
  s: AwsSession,
  ref: { id: string; providerId?: string },
): Promise<InstanceObserved | undefined> {
  const i = ref.providerId ? await describeOne(s, ref.providerId) : (await findInstances(s, ref.id))[0];
  return i ? observedOf(i, i.NetworkInterfaces?.length ?? 1) : undefined;
}

export async function planInstance(s: AwsSession, d: InstanceDesired): Promise<InstancePlan> {
  const current = (await findInstances(s, d.id))[0];
  if (!current) return { action: 'create', changes: [] };
  const subnets: string[] = [];
  for (const nic of d.interfaces)
    subnets.push((await findSubnets(s, nic.subnetId))[0]?.SubnetId ?? `(${nic.subnetId})`);
  const changes = fixedDifferences(s, d, current, subnets);
  const tags = tagMap(current.Tags);
  const { refs } = collectSecrets(s.settings.ssmPrefix, d.id, d.runtime);
  if (tags[TAG_ADOPTED] && !tags[TAG_SPEC])
    changes.push('adopted: security groups and launch-spec tag written');
  else if (changes.length === 0 && refs.length === 0) {
    // Without secrets the spec hash needs no SSM read; the group ids are not part of it.
    const spec = planLaunch(s.settings, d, {
      interfaces: subnets.map((subnetId) => ({ subnetId, groupId: '' })),
      refs,
      secretVersions: [],
      tags: [],
    }).specHash;
    if (spec !== tags[TAG_SPEC])
      changes.push(
        tags[TAG_ADOPTED]
          ? 'launch spec (user data, disk, profile or public IP): not applied to an adopted instance'
          : 'launch spec (user data, disk, profile or public IP): the instance is replaced',
      );
  }
  const state = current.State?.Name;
  if (d.suspended && (state === 'running' || state === 'pending')) changes.push('power: stop (suspend)');
  if (!d.suspended && state === 'stopped') changes.push('power: start');
  return { action: changes.length ? 'update' : 'none', changes };
}
