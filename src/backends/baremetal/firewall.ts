/**
 * Ingress rules on bare metal: there is no cloud firewall in front of a machine, so the rules are enforced by the
 * machine's own kernel: an nftables ruleset (default drop inbound, the Instance's rules accepted) written by
 * cloud-init from the config drive at boot. A rule change changes the template hash, which re-provisions the
 * host with the new ruleset. Limit (docs/baremetal.md): root on the machine can change it.
 */
import type { IngressRule } from '../../datum/backend.ts';

export function nftRuleset(ingress: IngressRule[]): string {
  const lines = [
    'table inet datum_ingress {',
    '  chain input {',
    '    type filter hook input priority 0; policy drop;',
    '    ct state established,related accept',
    '    iif lo accept',
    '    meta l4proto { icmp, ipv6-icmp } accept',
  ];
  for (const rule of ingress) {
    const sources = rule.from.length ? rule.from : [{ cidr: '' }];
    const ports = rule.ports.length ? rule.ports : [undefined];
    for (const src of sources)
      for (const p of ports) {
        const parts: string[] = [];
        if (src.cidr) {
          const fam = src.cidr.includes(':') ? 'ip6' : 'ip';
          parts.push(`${fam} saddr ${src.cidr}`);
          for (const ex of src.except ?? []) parts.push(`${fam} saddr != ${ex}`);
        }
        if (p) {
          const proto = p.protocol.toLowerCase();
          if (p.port === undefined) parts.push(`meta l4proto ${proto}`);
          else parts.push(`${proto} dport ${p.endPort ? `${p.port}-${p.endPort}` : p.port}`);
        }
        lines.push(`    ${[...parts, 'accept'].join(' ')}`);
      }
  }
  lines.push('  }', '}');
  return `${lines.join('\n')}\n`;
}
