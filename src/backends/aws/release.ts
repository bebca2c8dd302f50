/**
 * Deletion policy Retain on EC2: every resource carrying our ownership tags for an id (the instance and its
 * security group, the VPC with its gateway and main route table, a subnet) loses those tags and keeps running,
 * so neither `listManaged` nor adoption ever finds it again. SSM parameters an instance reads its secrets from
 * are kept (the instance still needs them at boot).
 */
import { DeleteTagsCommand, DescribeTagsCommand } from '@aws-sdk/client-ec2';
import type { AwsSession } from './clients.ts';
import {
  TAG_ADOPTED,
  TAG_CLUSTER,
  TAG_ID,
  TAG_KIND,
  TAG_MANAGED_BY,
  TAG_NAME,
  TAG_NAMESPACE,
  TAG_RANGE,
  TAG_SPEC,
  TAG_UID,
  TAG_UPSTREAM_KIND,
  tagValue,
} from './tags.ts';

const OURS = [
  TAG_MANAGED_BY,
  TAG_ID,
  TAG_KIND,
  TAG_CLUSTER,
  TAG_NAMESPACE,
  TAG_NAME,
  TAG_UPSTREAM_KIND,
  TAG_UID,
  TAG_RANGE,
  TAG_SPEC,
  TAG_ADOPTED,
];

export async function releaseResources(s: AwsSession, id: string): Promise<{ released: string[] }> {
  // Resources tagged with this id, then only those that are this installation's (the id alone could collide
  // with another installation's).
  const withId = await s.send(
    s.clients.ec2,
    new DescribeTagsCommand({
      Filters: [
        { Name: 'key', Values: [TAG_ID] },
        { Name: 'value', Values: [tagValue(id)] },
      ],
    }),
  );
  const candidates = [...new Set((withId.Tags ?? []).map((t) => t.ResourceId!).filter(Boolean))];
  if (candidates.length === 0) return { released: [] };
  const mine = await s.send(
    s.clients.ec2,
    new DescribeTagsCommand({
      Filters: [
        { Name: 'resource-id', Values: candidates },
        { Name: 'key', Values: [TAG_MANAGED_BY] },
        { Name: 'value', Values: [tagValue(s.managedBy)] },
      ],
    }),
  );
  const released = [...new Set((mine.Tags ?? []).map((t) => t.ResourceId!).filter(Boolean))].sort();
  if (released.length === 0) return { released };
  await s.send(
    s.clients.ec2,
    new DeleteTagsCommand({ Resources: released, Tags: OURS.map((Key) => ({ Key })) }),
  );
  s.log.info('released resources (deletion policy Retain)', { id, released });
  return { released };
}
