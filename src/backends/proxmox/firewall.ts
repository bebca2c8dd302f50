/**
 * Datum network policy (`InterfaceDesired.ingress`) → the guest's own PVE firewall: options (enabled, inbound
 * policy DROP) and rules commented `datum`, kept in sync by comparing and rewriting only ours. `except` blocks
 * become DROP rules placed before the ACCEPT they carve out of.
 */
import type { IngressRule } from '../../datum/backend.ts';
import type { Session } from './session.ts';

export interface FwRule {
  type: 'in';
  action: 'ACCEPT' | 'DROP';
  proto: string;
  dport?: string;
  source?: string;
}

const COMMENT = 'datum';

export function desiredRules(ingress: IngressRule[]): FwRule[] {
  const out: FwRule[] = [];
  for (const rule of ingress) {
    const ports =
      rule.ports.length > 0 ? rule.ports : [{ protocol: 'TCP' as const }, { protocol: 'UDP' as const }];
    const froms = rule.from.length > 0 ? rule.from : [{ cidr: '0.0.0.0/0' }];
    for (const p of ports) {
      const proto = p.protocol.toLowerCase();
      const dport = p.port === undefined ? undefined : p.endPort ? `${p.port}:${p.endPort}` : String(p.port);
      for (const f of froms) {
        for (const ex of f.except ?? []) out.push({ type: 'in', action: 'DROP', proto, dport, source: ex });
        out.push({
          type: 'in',
          action: 'ACCEPT',
          proto,
          dport,
          source: f.cidr === '0.0.0.0/0' ? undefined : f.cidr,
        });
      }
    }
  }
  return out;
}

const key = (r: FwRule) => [r.type, r.action, r.proto, r.dport ?? '', r.source ?? ''].join('|');

interface FirewallState {
  want: FwRule[];
  optionsOk: boolean;
  ours: (FwRule & { pos: number })[];
  rulesOk: boolean;
}

/** The guest firewall as it is, against the desired rules (reads only). */
async function readFirewall(s: Session, base: string, ingress: IngressRule[]): Promise<FirewallState> {
  const want = desiredRules(ingress);
  const fw = `${base}/firewall`;
  const opts = await s.step('read firewall options', () =>
    s.client.get<{ enable?: number; policy_in?: string }>(`${fw}/options`, undefined, s.o),
  );
  const rules = await s.step('read firewall rules', () =>
    s.client.get<(FwRule & { pos: number; comment?: string })[]>(`${fw}/rules`, undefined, s.o),
  );
  const ours = (rules ?? []).filter((r) => r.comment === COMMENT).sort((a, b) => a.pos - b.pos);
  const have = ours.map((r) =>
    key({ type: 'in', action: r.action, proto: r.proto, dport: r.dport, source: r.source }),
  );
  return {
    want,
    optionsOk: Number(opts?.enable) === 1 && opts?.policy_in === 'DROP',
    ours,
    rulesOk: have.length === want.length && have.every((k, i) => k === key(want[i]!)),
  };
}

/** What syncFirewall would change, one line each (for plan). */
export async function firewallChanges(s: Session, base: string, ingress: IngressRule[]): Promise<string[]> {
  const st = await readFirewall(s, base, ingress);
  const out: string[] = [];
  if (!st.optionsOk) out.push('firewall: enabled, inbound policy DROP');
  if (!st.rulesOk) out.push(`firewall rules (ingress): ${st.ours.length} → ${st.want.length}`);
  return out;
}

export async function syncFirewall(s: Session, base: string, ingress: IngressRule[]): Promise<void> {
  const fw = `${base}/firewall`;
  const { want, optionsOk, ours, rulesOk } = await readFirewall(s, base, ingress);
  if (!optionsOk)
    await s.step('enable the guest firewall', () =>
      s.client.put(
        `${fw}/options`,
        { enable: 1, policy_in: 'DROP', policy_out: 'ACCEPT' },
        { ...s.o, idempotent: true },
      ),
    );
  if (rulesOk) return;
  // Delete ours from the bottom up (positions shift), then insert the desired ones; each POST goes on top.
  for (const r of [...ours].sort((a, b) => b.pos - a.pos))
    await s.step('delete a firewall rule', () => s.client.delete(`${fw}/rules/${r.pos}`, undefined, s.o));
  for (const r of [...want].reverse())
    await s.step('add a firewall rule', () =>
      s.client.post(
        `${fw}/rules`,
        {
          type: r.type,
          action: r.action,
          proto: r.proto,
          dport: r.dport,
          source: r.source,
          enable: 1,
          comment: COMMENT,
        },
        s.o,
      ),
    );
}
