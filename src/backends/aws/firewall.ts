/**
 * Interface ingress rules → one security group per instance interface, converged on every ensure: missing
 * permissions are authorized, extra ones revoked. No rules = no ingress (egress stays AWS's allow-all).
 *
 * Mapping: empty `ports` = every protocol and port (`-1`); TCP/UDP `port`..`endPort` (no port = 0-65535);
 * SCTP becomes protocol 132, for which AWS accepts no ports (every SCTP port opens). Empty `from` = 0.0.0.0/0;
 * `except` blocks are subtracted from the CIDR (security groups cannot deny), which can multiply rules.
 */

import { createHash } from 'node:crypto';
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DeleteSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  type IpPermission,
  RevokeSecurityGroupIngressCommand,
  type SecurityGroup,
  type Tag,
} from '@aws-sdk/client-ec2';
import { BackendError, type IngressRule } from '../../datum/backend.ts';
import { CidrError, formatCidr, parseCidr, subtract } from '../common/cidr.ts';
import { createOrAdopt } from './adopt.ts';
import type { AwsSession } from './clients.ts';
import { errorCode, isNotFound } from './errors.ts';
import { ownedFilters, TAG_MANAGED_BY, TAG_RELEASED_BY, tagMap, tagSpecs, tagValue } from './tags.ts';

/** AWS's default quota of inbound rules per security group. */
export const RULES_PER_GROUP = 60;

interface Perm {
  proto: string;
  from?: number;
  to?: number;
  cidr: string;
}

const key = (p: Perm) => `${p.proto}|${p.from ?? ''}|${p.to ?? ''}|${p.cidr}`;

export function groupName(instanceId: string, index: number): string {
  const h = createHash('sha256').update(instanceId).digest('hex').slice(0, 20);
  return `datum-${h}-${index}`;
}

const GROUP_NAME = /^datum-[0-9a-f]{20}-\d+$/;

/**
 * A group this installation made for an instance and then let go with it (deletion policy Retain): our name
 * pattern, our release mark, and nobody's managed-by tag. Only such a group is deleted once nothing uses it;
 * a group a person made, or another installation owns or released, never is.
 */
export function releasedByUs(s: AwsSession, g: SecurityGroup): boolean {
  const tags = tagMap(g.Tags);
  return (
    GROUP_NAME.test(g.GroupName ?? '') &&
    tags[TAG_RELEASED_BY] === tagValue(s.managedBy) &&
    tags[TAG_MANAGED_BY] === undefined
  );
}

/**
 * Deletes the groups among `groupIds` that we released and that are no longer attached (an adopted instance
 * had them until its interfaces got our groups). Best effort: one still in use elsewhere, or referenced by
 * another group's rule, stays, and the network's teardown tries again. Returns the ids deleted.
 */
export async function deleteReleasedGroups(s: AwsSession, groupIds: string[]): Promise<string[]> {
  if (groupIds.length === 0) return [];
  const deleted: string[] = [];
  try {
    const out = await s.send(s.clients.ec2, new DescribeSecurityGroupsCommand({ GroupIds: groupIds }));
    for (const g of (out.SecurityGroups ?? []).filter((x) => releasedByUs(s, x))) {
      try {
        await s.send(s.clients.ec2, new DeleteSecurityGroupCommand({ GroupId: g.GroupId }));
        deleted.push(g.GroupId!);
      } catch (err) {
        if (isNotFound(err)) continue;
        s.log.warn('released security group not deleted yet', { group: g.GroupId, err: String(err) });
      }
    }
  } catch (err) {
    if (!isNotFound(err)) s.log.warn('released security groups not looked up', { err: String(err) });
  }
  if (deleted.length > 0)
    s.log.info('deleted security groups released earlier and now detached', { deleted });
  return deleted;
}

/** The permissions an interface's rules ask for, deduplicated. */
export function desiredPerms(rules: IngressRule[]): Perm[] {
  const out = new Map<string, Perm>();
  for (const rule of rules) {
    let cidrs: string[];
    try {
      cidrs =
        rule.from.length === 0
          ? ['0.0.0.0/0']
          : rule.from.flatMap((f) =>
              subtract(parseCidr(f.cidr), (f.except ?? []).map(parseCidr)).map(formatCidr),
            );
    } catch (err) {
      if (err instanceof CidrError)
        throw new BackendError('InvalidConfiguration', `network policy: ${err.message}`);
      throw err;
    }
    const ports: Omit<Perm, 'cidr'>[] =
      rule.ports.length === 0
        ? [{ proto: '-1' }]
        : rule.ports.map((p) => {
            if (p.protocol === 'SCTP') return { proto: '132' };
            const proto = p.protocol === 'UDP' ? 'udp' : 'tcp';
            if (p.port === undefined) return { proto, from: 0, to: 65535 };
            if (p.endPort !== undefined && p.endPort < p.port)
              throw new BackendError(
                'InvalidConfiguration',
                `network policy: endPort ${p.endPort} < port ${p.port}`,
              );
            return { proto, from: p.port, to: p.endPort ?? p.port };
          });
    for (const pt of ports) for (const cidr of cidrs) out.set(key({ ...pt, cidr }), { ...pt, cidr });
  }
  if (out.size > RULES_PER_GROUP)
    throw new BackendError(
      'QuotaExceeded',
      `network policy needs ${out.size} security group rules; AWS allows ${RULES_PER_GROUP} per group by default`,
    );
  return [...out.values()];
}

function normalProto(p: string | undefined): string {
  if (p === '6') return 'tcp';
  if (p === '17') return 'udp';
  if (p === 'sctp') return '132';
  return p ?? '-1';
}

/** Actual permissions, split into ones we understand and the rest (IPv6, group pairs, prefix lists). */
function actualPerms(g: SecurityGroup): { perms: Perm[]; foreign: IpPermission[] } {
  const perms: Perm[] = [];
  const foreign: IpPermission[] = [];
  for (const p of g.IpPermissions ?? []) {
    const proto = normalProto(p.IpProtocol);
    const ported = proto === 'tcp' || proto === 'udp';
    for (const r of p.IpRanges ?? [])
      if (r.CidrIp)
        perms.push(
          ported ? { proto, from: p.FromPort, to: p.ToPort, cidr: r.CidrIp } : { proto, cidr: r.CidrIp },
        );
    if (p.Ipv6Ranges?.length || p.UserIdGroupPairs?.length || p.PrefixListIds?.length)
      foreign.push({
        IpProtocol: p.IpProtocol,
        FromPort: p.FromPort,
        ToPort: p.ToPort,
        Ipv6Ranges: p.Ipv6Ranges?.length ? p.Ipv6Ranges : undefined,
        UserIdGroupPairs: p.UserIdGroupPairs?.length ? p.UserIdGroupPairs : undefined,
        PrefixListIds: p.PrefixListIds?.length ? p.PrefixListIds : undefined,
      });
  }
  return { perms, foreign };
}

function toIpPermissions(perms: Perm[]): IpPermission[] {
  return perms.map((p) => ({
    IpProtocol: p.proto,
    FromPort: p.from,
    ToPort: p.to,
    IpRanges: [{ CidrIp: p.cidr, Description: 'datum network policy' }],
  }));
}

export async function findGroups(s: AwsSession, instanceId: string): Promise<SecurityGroup[]> {
  const out = await s.send(
    s.clients.ec2,
    new DescribeSecurityGroupsCommand({ Filters: ownedFilters(s.managedBy, 'firewall', instanceId) }),
  );
  return out.SecurityGroups ?? [];
}

/**
 * Ensures the group for interface `index` exists in `vpcId` with exactly the desired ingress. `known` are
 * the instance's groups from `findGroups` (one describe serves all interfaces).
 */
export async function ensureGroup(
  s: AwsSession,
  o: {
    instanceId: string;
    index: number;
    vpcId: string;
    rules: IngressRule[];
    tags: Tag[];
    known: SecurityGroup[];
  },
): Promise<string> {
  const desired = desiredPerms(o.rules);
  const name = groupName(o.instanceId, o.index);
  const byName = async () => {
    const out = await s.send(
      s.clients.ec2,
      new DescribeSecurityGroupsCommand({
        Filters: [
          { Name: 'vpc-id', Values: [o.vpcId] },
          { Name: 'group-name', Values: [name] },
        ],
      }),
    );
    return out.SecurityGroups?.[0];
  };
  let group = o.known.find((g) => g.GroupName === name && g.VpcId === o.vpcId);
  if (!group) {
    group = await createOrAdopt(s, {
      what: `security group ${name}`,
      lookup: byName,
      create: async () => {
        try {
          const out = await s.send(
            s.clients.ec2Once,
            new CreateSecurityGroupCommand({
              VpcId: o.vpcId,
              GroupName: name,
              Description: `Datum instance ${o.instanceId} interface ${o.index}`.slice(0, 255),
              TagSpecifications: tagSpecs(['security-group'], o.tags),
            }),
          );
          return { GroupId: out.GroupId, GroupName: name, VpcId: o.vpcId, IpPermissions: [] };
        } catch (err) {
          if (errorCode(err) !== 'InvalidGroup.Duplicate') throw err;
          const found = await byName();
          if (!found) throw err;
          return found;
        }
      },
    });
  }
  await converge(s, group, desired);
  return group.GroupId!;
}

async function converge(s: AwsSession, group: SecurityGroup, desired: Perm[]): Promise<void> {
  const { perms, foreign } = actualPerms(group);
  const have = new Set(perms.map(key));
  const want = new Set(desired.map(key));
  const missing = desired.filter((p) => !have.has(key(p)));
  const extra = perms.filter((p) => !want.has(key(p)));
  if (extra.length > 0 || foreign.length > 0) {
    s.log.info('revoking security group rules that drifted from the network policy', {
      group: group.GroupId,
      count: extra.length + foreign.length,
    });
    try {
      await s.send(
        s.clients.ec2,
        new RevokeSecurityGroupIngressCommand({
          GroupId: group.GroupId,
          IpPermissions: [...toIpPermissions(extra), ...foreign],
        }),
      );
    } catch (err) {
      if (errorCode(err) !== 'InvalidPermission.NotFound') throw err;
    }
  }
  if (missing.length > 0) {
    try {
      await s.send(
        s.clients.ec2,
        new AuthorizeSecurityGroupIngressCommand({
          GroupId: group.GroupId,
          IpPermissions: toIpPermissions(missing),
        }),
      );
    } catch (err) {
      // A rule added by a concurrent or earlier attempt: authorize the rest one by one.
      if (errorCode(err) !== 'InvalidPermission.Duplicate') throw err;
      for (const p of toIpPermissions(missing))
        await s
          .send(
            s.clients.ec2,
            new AuthorizeSecurityGroupIngressCommand({ GroupId: group.GroupId, IpPermissions: [p] }),
          )
          .catch((e) => {
            if (errorCode(e) !== 'InvalidPermission.Duplicate') throw e;
          });
    }
  }
}

/** Deletes the instance's groups; false while one is still in use (its instance is shutting down). */
export async function deleteGroups(s: AwsSession, instanceId: string): Promise<boolean> {
  let gone = true;
  for (const g of await findGroups(s, instanceId)) {
    try {
      await s.send(s.clients.ec2, new DeleteSecurityGroupCommand({ GroupId: g.GroupId }));
    } catch (err) {
      if (isNotFound(err)) continue;
      if (err instanceof BackendError && err.reason === 'DependencyNotReady') {
        gone = false;
        continue;
      }
      throw err;
    }
  }
  return gone;
}
