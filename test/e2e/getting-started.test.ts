/** The getting-started flow with the AWS backend (moto behind our fault proxy) and each upstream. */
import {
  DescribeInstancesCommand,
  DescribeInternetGatewaysCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { TAG_ID, TAG_MANAGED_BY } from '../../src/backends/aws/tags.ts';
import { gettingStartedSuite } from './getting-started.ts';

/**
 * What EC2 still holds with our ownership tag (any installation id: the local environment derives its own),
 * read from the emulator directly: instances not terminated, VPCs, subnets, security groups, gateways.
 */
async function backendLeftovers(out: string): Promise<string[]> {
  const endpoint = /^ec2-endpoint: (.+)$/m.exec(out)?.[1];
  if (!endpoint) throw new Error('no ec2-endpoint line in the output');
  const ec2 = new EC2Client({
    region: 'us-east-1',
    endpoint,
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret-key' },
  });
  try {
    const ours = [{ Name: 'tag-key', Values: [TAG_MANAGED_BY] }];
    const idOf = (tags?: { Key?: string; Value?: string }[]) => tags?.find((t) => t.Key === TAG_ID)?.Value;
    const [inst, vpcs, subnets, groups, gateways] = await Promise.all([
      ec2.send(
        new DescribeInstancesCommand({
          Filters: [
            ...ours,
            { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
          ],
        }),
      ),
      ec2.send(new DescribeVpcsCommand({ Filters: ours })),
      ec2.send(new DescribeSubnetsCommand({ Filters: ours })),
      ec2.send(new DescribeSecurityGroupsCommand({ Filters: ours })),
      ec2.send(new DescribeInternetGatewaysCommand({ Filters: ours })),
    ]);
    return [
      ...(inst.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => `instance/${idOf(i.Tags)}`),
      ...(vpcs.Vpcs ?? []).map((v) => `vpc/${idOf(v.Tags)}`),
      ...(subnets.Subnets ?? []).map((s) => `subnet/${idOf(s.Tags)}`),
      ...(groups.SecurityGroups ?? []).map((g) => `security-group/${idOf(g.Tags)}`),
      ...(gateways.InternetGateways ?? []).map((g) => `gateway/${idOf(g.Tags)}`),
    ];
  } finally {
    ec2.destroy();
  }
}

gettingStartedSuite({ backend: 'aws', endpointLines: ['ec2-endpoint'], leftovers: backendLeftovers });
