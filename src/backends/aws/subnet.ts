/**
 * Datum subnet → EC2 subnet with the same CIDR in the network's VPC. A subnet outside the VPC's blocks gets
 * its block (cidr.ts) associated as a secondary CIDR first; AWS allows 5 blocks per VPC by default.
 */
import {
  AssociateVpcCidrBlockCommand,
  CreateSubnetCommand,
  DeleteSubnetCommand,
  DescribeInstancesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  type Subnet,
  type Vpc,
} from '@aws-sdk/client-ec2';
import {
  BackendError,
  type DeleteResult,
  type SubnetDesired,
  type SubnetObserved,
} from '../../datum/backend.ts';
import {
  type Cidr,
  CidrError,
  contains,
  formatCidr,
  overlaps,
  parseCidr,
  subnetBlock,
} from '../common/cidr.ts';
import { createOrAdopt, delay } from './adopt.ts';
import type { AwsSession } from './clients.ts';
import { errorCode, isNotFound } from './errors.ts';
import { requireVpc } from './network.ts';
import { ownedFilters, ownerTags, TAG_RANGE, tagMap, tagSpecs } from './tags.ts';

export const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped', 'shutting-down'];

export async function findSubnets(s: AwsSession, subnetId: string): Promise<Subnet[]> {
  const out = await s.send(
    s.clients.ec2,
    new DescribeSubnetsCommand({ Filters: ownedFilters(s.managedBy, 'subnet', subnetId) }),
  );
  return (out.Subnets ?? []).sort((a, b) => (a.SubnetId ?? '').localeCompare(b.SubnetId ?? ''));
}

export async function ensureSubnet(s: AwsSession, d: SubnetDesired): Promise<SubnetObserved> {
  const existing = (await findSubnets(s, d.id))[0];
  if (existing) return observed(s, d, existing);
  const vpc = await requireVpc(s, d.networkId);
  let cidr: Cidr;
  let block: Cidr;
  try {
    cidr = parseCidr(d.cidr);
    const rangeTag = tagMap(vpc.Tags)[TAG_RANGE];
    block = subnetBlock(cidr, rangeTag ? parseCidr(rangeTag) : undefined);
  } catch (err) {
    if (err instanceof CidrError)
      throw new BackendError('InvalidConfiguration', `subnet ${d.id}: ${err.message}`);
    throw err;
  }
  await ensureBlock(s, vpc, cidr, block);
  const tags = ownerTags(s.managedBy, 'subnet', d.id, d.owner);
  const subnet = await createOrAdopt(s, {
    what: `subnet ${d.id}`,
    lookup: async () => (await findSubnets(s, d.id))[0],
    create: async () => {
      try {
        const out = await s.send(
          s.clients.ec2Once,
          new CreateSubnetCommand({
            VpcId: vpc.VpcId,
            CidrBlock: formatCidr(cidr),
            AvailabilityZone: s.settings.availabilityZone,
            TagSpecifications: tagSpecs(['subnet'], tags),
          }),
        );
        return out.Subnet!;
      } catch (err) {
        // The CIDR is taken: by our own earlier attempt (adopt), or by someone else (refuse).
        if (errorCode(err) !== 'InvalidSubnet.Conflict') throw err;
        const mine = (await findSubnets(s, d.id))[0];
        if (mine) return mine;
        throw new BackendError(
          'InvalidConfiguration',
          `subnet ${d.id}: ${formatCidr(cidr)} is already used by another subnet in ${vpc.VpcId}`,
        );
      }
    },
  });
  return observed(s, d, subnet);
}

function observed(s: AwsSession, d: SubnetDesired, subnet: Subnet): SubnetObserved {
  if (subnet.CidrBlock && subnet.CidrBlock !== formatCidr(parseCidr(d.cidr)))
    s.log.warn('subnet CIDR differs from the desired one; AWS subnets are immutable, keeping it', {
      subnet: d.id,
      actual: subnet.CidrBlock,
      desired: d.cidr,
    });
  return { providerId: subnet.SubnetId!, ready: subnet.State === undefined || subnet.State === 'available' };
}

/** Makes sure a VPC block holds `cidr`, associating `block` as a secondary CIDR if needed. */
async function ensureBlock(s: AwsSession, vpc: Vpc, cidr: Cidr, block: Cidr): Promise<void> {
  const live = (v: Vpc) =>
    (v.CidrBlockAssociationSet ?? []).filter(
      (a) =>
        a.CidrBlock &&
        (a.CidrBlockState?.State === 'associated' || a.CidrBlockState?.State === 'associating'),
    );
  const holding = live(vpc).find((a) => contains(parseCidr(a.CidrBlock!), cidr));
  if (holding?.CidrBlockState?.State === 'associated') return;
  if (!holding) {
    const clash = live(vpc).find((a) => overlaps(parseCidr(a.CidrBlock!), block));
    if (clash)
      throw new BackendError(
        'InvalidConfiguration',
        `subnet ${formatCidr(cidr)}: its VPC block ${formatCidr(block)} overlaps ${clash.CidrBlock} of ${vpc.VpcId}`,
      );
    s.log.info('associating a secondary VPC CIDR block', { vpc: vpc.VpcId, block: formatCidr(block) });
    await s.send(
      s.clients.ec2,
      new AssociateVpcCidrBlockCommand({ VpcId: vpc.VpcId, CidrBlock: formatCidr(block) }),
    );
  }
  // Association is asynchronous on AWS: wait briefly, then let the reconciler come back.
  for (let i = 0; i < 10; i++) {
    const out = await s.send(s.clients.ec2, new DescribeVpcsCommand({ VpcIds: [vpc.VpcId!] }));
    const a = (out.Vpcs?.[0]?.CidrBlockAssociationSet ?? []).find(
      (x) => x.CidrBlock && contains(parseCidr(x.CidrBlock), cidr),
    );
    if (a?.CidrBlockState?.State === 'associated') return;
    if (a?.CidrBlockState?.State === 'failed')
      throw new BackendError(
        'InvalidConfiguration',
        `associating ${formatCidr(block)} with ${vpc.VpcId} failed: ${a.CidrBlockState.StatusMessage ?? ''}`,
      );
    await delay(500, s.signal);
  }
  throw new BackendError('DependencyNotReady', `VPC block ${formatCidr(block)} is still associating`, {
    retryAfterMs: 3_000,
  });
}

/**
 * Waits (gone: false) while instances or network interfaces remain in the subnet — AWS refuses the delete
 * (DependencyViolation) and moto would silently allow it, orphaning them.
 */
export async function deleteSubnet(s: AwsSession, id: string): Promise<DeleteResult> {
  const subnets = await findSubnets(s, id);
  let gone = true;
  for (const sn of subnets) {
    const subnetId = sn.SubnetId!;
    const inst = await s.send(
      s.clients.ec2,
      new DescribeInstancesCommand({
        Filters: [
          { Name: 'subnet-id', Values: [subnetId] },
          { Name: 'instance-state-name', Values: LIVE_STATES },
        ],
      }),
    );
    if ((inst.Reservations ?? []).some((r) => (r.Instances ?? []).length > 0)) {
      gone = false;
      continue;
    }
    const enis = await s.send(
      s.clients.ec2,
      new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'subnet-id', Values: [subnetId] }] }),
    );
    if ((enis.NetworkInterfaces ?? []).length > 0) {
      gone = false;
      continue;
    }
    try {
      await s.send(s.clients.ec2, new DeleteSubnetCommand({ SubnetId: subnetId }));
    } catch (err) {
      if (isNotFound(err)) continue;
      if (err instanceof BackendError && err.reason === 'DependencyNotReady') {
        gone = false;
        continue;
      }
      throw err;
    }
  }
  return { gone };
}
