/** IPv4 helpers for the static address a VM gets by guest customization in its subnet. */
import { createHash } from 'node:crypto';
import { BackendError } from '../../datum/backend.ts';

export function parseCidr(cidr: string): { base: number; prefix: number } {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr);
  if (!m) throw new BackendError('InvalidConfiguration', `vsphere: '${cidr}' is not an IPv4 CIDR`);
  const prefix = Number(m[5]);
  const ip = ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { base: (ip & mask) >>> 0, prefix };
}

export function ipString(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

export function netmask(prefix: number): string {
  return ipString(prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);
}

export function gateway(cidr: string): string {
  return ipString(parseCidr(cidr).base + 1);
}

export function inCidr(ip: string, cidr: string): boolean {
  const { base, prefix } = parseCidr(cidr);
  const { base: addr } = parseCidr(`${ip}/32`);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return (addr & mask) >>> 0 === base;
}

/**
 * A host address for `id`: hash-chosen, probing past `taken`; skips the network address, the gateway (.1,
 * by convention) and the broadcast address.
 */
export function allocateAddress(id: string, cidr: string, taken: Set<string>): string {
  const { base, prefix } = parseCidr(cidr);
  const size = 2 ** (32 - prefix);
  const usable = size - 3;
  if (usable <= 0) throw new BackendError('InvalidConfiguration', `vsphere: subnet ${cidr} is too small`);
  const start = createHash('sha256').update(id).digest().readUInt32BE(0) % usable;
  for (let i = 0; i < usable; i++) {
    const ip = ipString(base + 2 + ((start + i) % usable));
    if (!taken.has(ip)) return ip;
  }
  throw new BackendError('QuotaExceeded', `vsphere: no free address left in ${cidr}`, {
    retryable: true,
    retryAfterMs: 60_000,
  });
}
