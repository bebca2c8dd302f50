/**
 * Interface ingress rules → one VPC firewall rule per (interface, Datum rule), targeting the instance's network
 * tag, converged on every ensure: missing rules are created, changed ones patched, extra ones deleted. No rules
 * = no ingress (a custom-mode VPC denies ingress by default).
 *
 * Mapping: empty `ports` = every protocol (`all`); TCP/UDP/SCTP `port`..`endPort` (no port = every port of the
 * protocol). Empty `from` = 0.0.0.0/0. `except` blocks are subtracted from the CIDR (an allow rule cannot
 * carry exceptions, and a deny rule would also block what another rule allows).
 */
import type { protos } from '@google-cloud/compute';
import {
  BackendError,
  type IngressRule,
  type InterfaceDesired,
  type ResourceOwner,
} from '../../datum/backend.ts';
import { CidrError, formatCidr, parseCidr, subtract } from '../common/cidr.ts';
import { isNotFound } from './errors.ts';
import {
  firewallName,
  firewallPrefix,
  gceName,
  markDescription,
  parseMark,
  RELEASED,
  requestId,
} from './names.ts';
import { CALL, type GcpSession, LIST, latest } from './session.ts';

type Firewall = protos.google.cloud.compute.v1.IFirewall;

/** GCE's limit of source ranges per firewall rule. */
export const MAX_SOURCE_RANGES = 5000;

export function allowedOf(rule: IngressRule): { IPProtocol: string; ports?: string[] }[] {
  if (rule.ports.length === 0) return [{ IPProtocol: 'all' }];
  const byProto = new Map<string, Set<string>>();
  let everyPort = new Set<string>();
  for (const p of rule.ports) {
    const proto = p.protocol.toLowerCase();
    const set = byProto.get(proto) ?? new Set<string>();
    byProto.set(proto, set);
    if (p.port === undefined) everyPort = new Set([...everyPort, proto]);
    else set.add(p.endPort && p.endPort !== p.port ? `${p.port}-${p.endPort}` : String(p.port));
  }
  return [...byProto.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([proto, ports]) =>
      everyPort.has(proto) || ports.size === 0
        ? { IPProtocol: proto }
        : { IPProtocol: proto, ports: [...ports].sort() },
    );
}

export function sourcesOf(rule: IngressRule): string[] {
  try {
    const out =
      rule.from.length === 0
        ? ['0.0.0.0/0']
        : rule.from.flatMap((f) =>
            subtract(parseCidr(f.cidr), (f.except ?? []).map(parseCidr)).map(formatCidr),
          );
    if (out.length > MAX_SOURCE_RANGES)
      throw new BackendError(
        'QuotaExceeded',
        `network policy needs ${out.length} source ranges; GCE allows ${MAX_SOURCE_RANGES}`,
        {
          retryable: false,
        },
      );
    return [...new Set(out)].sort();
  } catch (err) {
    if (err instanceof CidrError)
      throw new BackendError('InvalidConfiguration', `network policy: ${err.message}`);
    throw err;
  }
}

function desiredRules(
  s: GcpSession,
  instanceId: string,
  owner: ResourceOwner,
  tag: string,
  ifaces: InterfaceDesired[],
): Firewall[] {
  const out: Firewall[] = [];
  ifaces.forEach((iface, i) =>
    iface.ingress.forEach((rule, j) => {
      const sources = sourcesOf(rule);
      if (sources.length === 0) return; // everything excepted: nothing to allow
      out.push({
        name: firewallName(instanceId, i, j),
        network: s.networkLink(gceName('net', iface.networkId)),
        direction: 'INGRESS',
        priority: 1000,
        allowed: allowedOf(rule),
        sourceRanges: sources,
        targetTags: [tag],
        description: markDescription({ managedBy: s.managedBy, kind: 'firewall', id: instanceId, owner }),
      });
    }),
  );
  return out;
}

const sameRule = (a: Firewall, b: Firewall) =>
  JSON.stringify([
    a.allowed?.map((x) => [x.IPProtocol, x.ports ?? []]),
    [...(a.sourceRanges ?? [])].sort(),
    a.targetTags,
  ]) ===
    JSON.stringify([
      b.allowed?.map((x) => [x.IPProtocol, x.ports ?? []]),
      [...(b.sourceRanges ?? [])].sort(),
      b.targetTags,
    ]) && String(a.network).endsWith(String(b.network));

/** The firewall rules of one instance (by name prefix, then ownership mark). */
export async function instanceFirewalls(s: GcpSession, instanceId: string): Promise<Firewall[]> {
  const prefix = firewallPrefix(instanceId);
  return s.call('firewalls.list', async () => {
    const out: Firewall[] = [];
    for await (const f of s.c.firewalls.listAsync(
      { project: s.project, filter: `name eq ${prefix}-.*` },
      LIST,
    ))
      if (f.name?.startsWith(`${prefix}-`) && parseMark(f.description)?.managedBy === s.managedBy)
        out.push(f);
    return out;
  });
}

/** Converges the instance's firewall rules; returns whether every operation finished. */
export async function ensureFirewalls(
  s: GcpSession,
  instanceId: string,
  owner: ResourceOwner,
  tag: string,
  ifaces: InterfaceDesired[],
): Promise<boolean> {
  const want = desiredRules(s, instanceId, owner, tag, ifaces);
  const have = new Map((await instanceFirewalls(s, instanceId)).map((f) => [f.name!, f]));
  let done = true;
  for (const f of want) {
    const cur = have.get(f.name!);
    have.delete(f.name!);
    if (cur && sameRule(cur, f)) continue;
    // A rule's network cannot be patched: delete it, and create it on a later pass.
    if (cur && !String(cur.network).endsWith(String(f.network))) {
      await deleteFirewall(s, cur);
      done = false;
      continue;
    }
    const spec = JSON.stringify(f);
    const [op] = cur
      ? await s.call('firewalls.patch', () =>
          s.c.firewalls.patch(
            {
              project: s.project,
              firewall: f.name!,
              firewallResource: f,
              requestId: requestId(s.project, f.name!, 'patch', spec),
            },
            CALL,
          ),
        )
      : await s.call('firewalls.insert', () =>
          s.c.firewalls.insert(
            {
              project: s.project,
              firewallResource: f,
              requestId: requestId(s.project, f.name!, 'insert', spec),
            },
            CALL,
          ),
        );
    done = (await s.awaitOperation(latest(op), cur ? 'firewalls.patch' : 'firewalls.insert')) && done;
  }
  for (const extra of have.values()) done = (await deleteFirewall(s, extra)) && done;
  return done;
}

/** Whether the instance's firewall rules are the desired ones (read-only: one list). */
export async function firewallsConverged(
  s: GcpSession,
  instanceId: string,
  owner: ResourceOwner,
  tag: string,
  ifaces: InterfaceDesired[],
): Promise<boolean> {
  const want = desiredRules(s, instanceId, owner, tag, ifaces);
  const have = new Map((await instanceFirewalls(s, instanceId)).map((f) => [f.name!, f]));
  return want.length === have.size && want.every((f) => have.has(f.name!) && sameRule(have.get(f.name!)!, f));
}

export async function deleteFirewall(s: GcpSession, f: Firewall): Promise<boolean> {
  try {
    const [op] = await s.call('firewalls.delete', () =>
      s.c.firewalls.delete(
        {
          project: s.project,
          firewall: f.name!,
          requestId: requestId(s.project, f.name!, 'delete', String(f.id)),
        },
        CALL,
      ),
    );
    return await s.awaitOperation(latest(op), 'firewalls.delete');
  } catch (err) {
    if (err instanceof BackendError && err.reason === 'NotFound') return true;
    if (isNotFound(err)) return true;
    throw err;
  }
}

/**
 * Rules released with an instance (deletion policy Retain) that target one of `tags`: what an adoption of that
 * instance supersedes with its own rules. Released rules have no mark; their description says they were released.
 */
export async function releasedFirewalls(s: GcpSession, tags: string[]): Promise<Firewall[]> {
  return s.call('firewalls.list', async () => {
    const out: Firewall[] = [];
    for await (const f of s.c.firewalls.listAsync({ project: s.project, filter: 'name eq dpt-fw-.*' }, LIST))
      if (
        f.description?.startsWith(RELEASED) &&
        (f.targetTags ?? []).length > 0 &&
        (f.targetTags ?? []).every((t) => t.startsWith('dpt-vm-') && tags.includes(t))
      )
        out.push(f);
    return out;
  });
}

/** Deletes every firewall rule of the instance; true once none is left. */
export async function deleteFirewalls(s: GcpSession, instanceId: string): Promise<boolean> {
  for (const f of await instanceFirewalls(s, instanceId)) await deleteFirewall(s, f);
  return (await instanceFirewalls(s, instanceId)).length === 0;
}
