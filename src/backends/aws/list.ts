/** Everything this deployment manages, found by the managed-by tag, for the orphan sweep. */
import {
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  type Tag,
} from '@aws-sdk/client-ec2';
import type { ManagedKind, ManagedResource } from '../../datum/backend.ts';
import type { AwsSession } from './clients.ts';
import { LIVE_STATES } from './subnet.ts';
import { ownedFilters, ownerFromTags, TAG_ID, TAG_KIND, tagMap } from './tags.ts';

function toManaged(
  kind: ManagedKind,
  providerId: string | undefined,
  tags: Tag[] | undefined,
): ManagedResource[] {
  const t = tagMap(tags);
  const owner = ownerFromTags(t);
  const id = t[TAG_ID];
  if (!providerId || !owner || !id || t[TAG_KIND] !== kind) return [];
  return [{ kind, id, providerId, owner }];
}

export async function listManaged(s: AwsSession): Promise<ManagedResource[]> {
  const out: ManagedResource[] = [];
  const Filters = ownedFilters(s.managedBy);
  let token: string | undefined;
  do {
    const page = await s.send(s.clients.ec2, new DescribeVpcsCommand({ Filters, NextToken: token }));
    for (const v of page.Vpcs ?? []) out.push(...toManaged('network', v.VpcId, v.Tags));
    token = page.NextToken;
  } while (token);
  do {
    const page = await s.send(s.clients.ec2, new DescribeSubnetsCommand({ Filters, NextToken: token }));
    for (const v of page.Subnets ?? []) out.push(...toManaged('subnet', v.SubnetId, v.Tags));
    token = page.NextToken;
  } while (token);
  do {
    const page = await s.send(
      s.clients.ec2,
      new DescribeSecurityGroupsCommand({ Filters, NextToken: token }),
    );
    for (const g of page.SecurityGroups ?? []) out.push(...toManaged('firewall', g.GroupId, g.Tags));
    token = page.NextToken;
  } while (token);
  const groups = out.filter((r) => r.kind === 'firewall');
  do {
    const page = await s.send(
      s.clients.ec2,
      new DescribeInstancesCommand({
        Filters: [...Filters, { Name: 'instance-state-name', Values: LIVE_STATES }],
        NextToken: token,
      }),
    );
    for (const r of page.Reservations ?? [])
      for (const i of r.Instances ?? []) out.push(...toManaged('instance', i.InstanceId, i.Tags));
    token = page.NextToken;
  } while (token);
  // A firewall whose instance never launched (or is gone) is an instance in a partial state: list it as
  // one too, so a sweep's deleteInstance removes the groups.
  const instances = new Set(out.filter((r) => r.kind === 'instance').map((r) => r.id));
  for (const g of groups)
    if (!instances.has(g.id)) {
      instances.add(g.id);
      out.push({ ...g, kind: 'instance' });
    }
  return out;
}
