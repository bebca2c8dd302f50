/**
 * Deletion policy Retain on EC2: every resource carrying our ownership tags for an id (the instance and its
 * security group, the VPC with its gateway and main route table, a subnet) loses those tags and keeps running,
 * so neither `listManaged` nor adoption ever finds it again. What only we could clean up later gets the
 * release mark (`datum.net/released-by`): the instance's security groups (deleted once an adoption detaches
 * them, or with their VPC) and the SSM parameters its secrets live in (kept: the instance reads them at every
 * boot; untagged and listed with the rest, so the Retained Event names them).
 */
import { CreateTagsCommand, DeleteTagsCommand, DescribeTagsCommand } from '@aws-sdk/client-ec2';
import type { AwsSession } from './clients.ts';
import type { SecretStore } from './secrets.ts';
import {
  TAG_ADOPTED,
  TAG_CLUSTER,
  TAG_ID,
  TAG_KIND,
  TAG_MANAGED_BY,
  TAG_NAME,
  TAG_NAMESPACE,
  TAG_RANGE,
  TAG_RELEASED_BY,
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

export async function releaseResources(
  s: AwsSession,
  store: SecretStore,
  kind: 'instance' | 'subnet' | 'network',
  id: string,
): Promise<{ released: string[] }> {
  const released = await releaseTagged(s, id);
  // Parameters after the instance: the Event lists the instance first, then what it still reads.
  if (kind === 'instance') {
    const readers = released.filter((r) => r.startsWith('i-'));
    // One live instance per id is the rule; with duplicates nobody can tell which reads them: no reader mark.
    released.push(...(await store.release(s, id, OURS, readers.length === 1 ? readers[0] : undefined)));
  }
  if (released.length > 0) s.log.info('released resources (deletion policy Retain)', { id, released });
  return { released };
}

async function releaseTagged(s: AwsSession, id: string): Promise<string[]> {
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
  if (candidates.length === 0) return [];
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
  if (released.length === 0) return released;
  // Marked while still ours (the IAM policy allows the mark only then), before the tags go.
  const groups = released.filter((r) => r.startsWith('sg-'));
  if (groups.length > 0)
    await s.send(
      s.clients.ec2,
      new CreateTagsCommand({
        Resources: groups,
        Tags: [{ Key: TAG_RELEASED_BY, Value: tagValue(s.managedBy) }],
      }),
    );
  await s.send(
    s.clients.ec2,
    new DeleteTagsCommand({ Resources: released, Tags: OURS.map((Key) => ({ Key })) }),
  );
  return released;
}
