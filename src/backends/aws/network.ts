/**
 * Datum network → VPC (primary block per cidr.ts), plus an internet gateway and a default route in the main
 * route table when public IPs are enabled. MTU is not configurable on AWS (9001 inside a VPC, 1500 through
 * the internet gateway) and is ignored.
 */
import {
  AttachInternetGatewayCommand,
  CreateInternetGatewayCommand,
  CreateRouteCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DeleteInternetGatewayCommand,
  DeleteRouteCommand,
  DeleteSecurityGroupCommand,
  DeleteVpcCommand,
  DescribeInternetGatewaysCommand,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  DetachInternetGatewayCommand,
  type InternetGateway,
  type Tag,
  type Vpc,
} from '@aws-sdk/client-ec2';
import {
  BackendError,
  type DeleteResult,
  type NetworkDesired,
  type NetworkObserved,
} from '../../datum/backend.ts';
import { CidrError, formatCidr, parseCidr, primaryVpcBlock } from '../common/cidr.ts';
import { createOrAdopt } from './adopt.ts';
import type { AwsSession } from './clients.ts';
import { errorCode, isNotFound } from './errors.ts';
import { releasedByUs } from './firewall.ts';
import {
  ownedFilters,
  ownerTags,
  TAG_ID,
  TAG_KIND,
  TAG_MANAGED_BY,
  TAG_RANGE,
  tagMap,
  tagSpecs,
  tagValue,
} from './tags.ts';

const DEFAULT_ROUTE = '0.0.0.0/0';

export async function findVpcs(s: AwsSession, networkId: string): Promise<Vpc[]> {
  const out = await s.send(
    s.clients.ec2,
    new DescribeVpcsCommand({ Filters: ownedFilters(s.managedBy, 'network', networkId) }),
  );
  return (out.Vpcs ?? []).sort((a, b) => (a.VpcId ?? '').localeCompare(b.VpcId ?? ''));
}

/** The VPC of a network, or DependencyNotReady when it does not exist (yet). */
export async function requireVpc(s: AwsSession, networkId: string): Promise<Vpc> {
  const [vpc] = await findVpcs(s, networkId);
  if (!vpc?.VpcId)
    throw new BackendError('DependencyNotReady', `network ${networkId} has no VPC yet`, {
      retryAfterMs: 2_000,
    });
  return vpc;
}

export async function ensureNetwork(s: AwsSession, d: NetworkDesired): Promise<NetworkObserved> {
  let block: string;
  try {
    block = formatCidr(primaryVpcBlock(parseCidr(d.ipv4Cidr)));
  } catch (err) {
    if (err instanceof CidrError)
      throw new BackendError('InvalidConfiguration', `network ${d.id}: ${err.message}`);
    throw err;
  }
  const tags = [...ownerTags(s.managedBy, 'network', d.id, d.owner), { Key: TAG_RANGE, Value: d.ipv4Cidr }];
  let vpcs = await findVpcs(s, d.id);
  if (vpcs.length === 0) {
    const vpc = await createOrAdopt(s, {
      what: `VPC for network ${d.id}`,
      lookup: async () => (await findVpcs(s, d.id))[0],
      create: async () =>
        (
          await s.send(
            s.clients.ec2Once,
            new CreateVpcCommand({ CidrBlock: block, TagSpecifications: tagSpecs(['vpc'], tags) }),
          )
        ).Vpc!,
    });
    vpcs = [vpc];
  }
  if (vpcs.length > 1) vpcs = [await dedupe(s, d.id, vpcs)];
  const vpc = vpcs[0]!;
  let ready = vpc.State === undefined || vpc.State === 'available';
  if (s.settings.assignPublicIp) ready = (await ensureInternetAccess(s, d, vpc.VpcId!, tags)) && ready;
  return { providerId: vpc.VpcId!, ready };
}

/** Several VPCs for one network (a create whose answer was lost twice): keep one, delete empty extras. */
async function dedupe(s: AwsSession, id: string, vpcs: Vpc[]): Promise<Vpc> {
  const withSubnets: Vpc[] = [];
  for (const v of vpcs) if ((await subnetsIn(s, v.VpcId!)) > 0) withSubnets.push(v);
  const keep = withSubnets[0] ?? vpcs[0]!;
  for (const v of vpcs) {
    if (v === keep || withSubnets.includes(v)) continue;
    s.log.warn('deleting a duplicate VPC', { network: id, vpc: v.VpcId });
    await deleteOneVpc(s, v.VpcId!, id).catch((err) => s.log.warn('duplicate VPC not deleted', { err }));
  }
  return keep;
}

async function subnetsIn(s: AwsSession, vpcId: string): Promise<number> {
  const out = await s.send(
    s.clients.ec2,
    new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }),
  );
  return out.Subnets?.length ?? 0;
}

async function findGateways(s: AwsSession, networkId: string): Promise<InternetGateway[]> {
  const out = await s.send(
    s.clients.ec2,
    new DescribeInternetGatewaysCommand({ Filters: ownedFilters(s.managedBy, 'network', networkId) }),
  );
  return (out.InternetGateways ?? []).sort((a, b) =>
    (a.InternetGatewayId ?? '').localeCompare(b.InternetGatewayId ?? ''),
  );
}

/** Internet gateway attached + default route in the main route table. Returns true when both are in place. */
async function ensureInternetAccess(
  s: AwsSession,
  d: NetworkDesired,
  vpcId: string,
  tags: Tag[],
): Promise<boolean> {
  const gateways = await findGateways(s, d.id);
  let igw = gateways.find((g) => g.Attachments?.some((a) => a.VpcId === vpcId)) ?? gateways[0];
  if (!igw) {
    igw = await createOrAdopt(s, {
      what: `internet gateway for network ${d.id}`,
      lookup: async () => (await findGateways(s, d.id))[0],
      create: async () =>
        (
          await s.send(
            s.clients.ec2Once,
            new CreateInternetGatewayCommand({ TagSpecifications: tagSpecs(['internet-gateway'], tags) }),
          )
        ).InternetGateway!,
    });
  }
  const igwId = igw.InternetGatewayId!;
  if (!igw.Attachments?.some((a) => a.VpcId === vpcId)) {
    try {
      await s.send(
        s.clients.ec2,
        new AttachInternetGatewayCommand({ InternetGatewayId: igwId, VpcId: vpcId }),
      );
    } catch (err) {
      // Another attempt attached it already.
      if (!errorCode(err).includes('AlreadyAssociated')) throw err;
    }
  }
  const rts = await s.send(
    s.clients.ec2,
    new DescribeRouteTablesCommand({
      Filters: [
        { Name: 'vpc-id', Values: [vpcId] },
        { Name: 'association.main', Values: ['true'] },
      ],
    }),
  );
  const main = rts.RouteTables?.[0];
  if (!main?.RouteTableId) return false;
  // AWS creates the main route table untagged; the IAM policy lets routes change only in tables tagged as ours.
  if (!main.Tags?.some((t) => t.Key === TAG_MANAGED_BY))
    await s.send(
      s.clients.ec2,
      new CreateTagsCommand({
        Resources: [main.RouteTableId],
        Tags: tags.filter((t) => t.Key === TAG_MANAGED_BY || t.Key === TAG_ID || t.Key === TAG_KIND),
      }),
    );
  const route = main.Routes?.find((r) => r.DestinationCidrBlock === DEFAULT_ROUTE);
  if (route?.GatewayId === igwId && route.State !== 'blackhole') return true;
  if (route)
    await s.send(
      s.clients.ec2,
      new DeleteRouteCommand({ RouteTableId: main.RouteTableId, DestinationCidrBlock: DEFAULT_ROUTE }),
    );
  await s.send(
    s.clients.ec2,
    new CreateRouteCommand({
      RouteTableId: main.RouteTableId,
      DestinationCidrBlock: DEFAULT_ROUTE,
      GatewayId: igwId,
    }),
  );
  return true;
}

/**
 * Deletes what ensureNetwork created. Waits (gone: false) while subnets remain in the VPC: the Subnet
 * reconciler (or the orphan sweep) removes those, and AWS refuses to delete a VPC that still has them.
 */
export async function deleteNetwork(s: AwsSession, id: string): Promise<DeleteResult> {
  const vpcs = await findVpcs(s, id);
  let gone = true;
  for (const v of vpcs) if (!(await deleteOneVpc(s, v.VpcId!, id))) gone = false;
  if (gone) {
    // Gateways left detached by an earlier, interrupted delete.
    for (const g of await findGateways(s, id)) await deleteGateway(s, g, undefined);
  }
  return { gone };
}

async function deleteOneVpc(s: AwsSession, vpcId: string, networkId: string): Promise<boolean> {
  if ((await subnetsIn(s, vpcId)) > 0) return false;
  await clearGroups(s, vpcId);
  const igws = await s.send(
    s.clients.ec2,
    new DescribeInternetGatewaysCommand({ Filters: [{ Name: 'attachment.vpc-id', Values: [vpcId] }] }),
  );
  if ((igws.InternetGateways ?? []).length > 0) await deleteDefaultRoute(s, vpcId);
  for (const g of igws.InternetGateways ?? []) await deleteGateway(s, g, vpcId, networkId);
  try {
    await s.send(s.clients.ec2, new DeleteVpcCommand({ VpcId: vpcId }));
  } catch (err) {
    if (isNotFound(err)) return true;
    if (err instanceof BackendError && err.reason === 'DependencyNotReady') return false;
    throw err;
  }
  return true;
}

/**
 * AWS refuses DeleteVpc while any non-default security group is in the VPC. Deletes ours (instance firewalls
 * whose instance delete was interrupted) and those we released with a retained instance that is gone now (no
 * subnet is left, so nothing uses them). Any other group is someone else's: it is never deleted, and the
 * deletion waits with an error naming it instead of failing on DeleteVpc without saying why.
 */
async function clearGroups(s: AwsSession, vpcId: string): Promise<void> {
  const out = await s.send(
    s.clients.ec2,
    new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }),
  );
  const blocking: string[] = [];
  for (const g of out.SecurityGroups ?? []) {
    if (g.GroupName === 'default') continue;
    const ours = tagMap(g.Tags)[TAG_MANAGED_BY] === tagValue(s.managedBy);
    if (!ours && !releasedByUs(s, g)) {
      blocking.push(`${g.GroupId} (${g.GroupName})`);
      continue;
    }
    try {
      await s.send(s.clients.ec2, new DeleteSecurityGroupCommand({ GroupId: g.GroupId }));
    } catch (err) {
      if (isNotFound(err)) continue;
      if (err instanceof BackendError && err.reason === 'DependencyNotReady') {
        blocking.push(`${g.GroupId} (${g.GroupName}, still referenced)`);
        continue;
      }
      throw err;
    }
  }
  if (blocking.length === 0) return;
  const message = `VPC ${vpcId} cannot be deleted while these security groups are in it (not this installation's, or still referenced by another group's rule): ${blocking.join(', ')}; delete them (or the rules referencing them) and the deletion goes on`;
  s.log.warn('network deletion waits for security groups it may not delete', { vpc: vpcId, blocking });
  throw new BackendError('DependencyNotReady', message, { retryAfterMs: 30_000 });
}

async function deleteDefaultRoute(s: AwsSession, vpcId: string): Promise<void> {
  const rts = await s.send(
    s.clients.ec2,
    new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }),
  );
  for (const rt of rts.RouteTables ?? []) {
    if (!rt.Routes?.some((r) => r.DestinationCidrBlock === DEFAULT_ROUTE && r.GatewayId?.startsWith('igw-')))
      continue;
    try {
      await s.send(
        s.clients.ec2,
        new DeleteRouteCommand({ RouteTableId: rt.RouteTableId, DestinationCidrBlock: DEFAULT_ROUTE }),
      );
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}

/** Detaches a gateway from `vpcId`; deletes it when it is ours (`networkId` given and tagged) or detached. */
async function deleteGateway(
  s: AwsSession,
  g: InternetGateway,
  vpcId: string | undefined,
  networkId?: string,
): Promise<void> {
  const id = g.InternetGatewayId!;
  const ours = g.Tags?.some((t) => t.Key === TAG_ID && (!networkId || t.Value === networkId)) ?? false;
  try {
    for (const a of g.Attachments ?? [])
      if (a.VpcId && (!vpcId || a.VpcId === vpcId))
        await s.send(
          s.clients.ec2,
          new DetachInternetGatewayCommand({ InternetGatewayId: id, VpcId: a.VpcId }),
        );
    if (ours) await s.send(s.clients.ec2, new DeleteInternetGatewayCommand({ InternetGatewayId: id }));
  } catch (err) {
    if (!isNotFound(err) && errorCode(err) !== 'Gateway.NotAttached') throw err;
  }
}
