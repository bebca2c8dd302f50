/**
 * IPv4 CIDR arithmetic and the VPC block plan. AWS VPC CIDR blocks are /16../28, while a Datum Network's IPAM
 * range may be larger (default 10.128.0.0/9). The rule: a VPC block is the supernet of an address at prefix
 * max(16, rangePrefix). The primary block covers the range's first address; a subnet outside the VPC's blocks
 * gets its own block (the same rule applied to the subnet) associated as a secondary CIDR.
 */

export interface Cidr {
  /** Network address as an unsigned 32-bit integer. */
  base: number;
  prefix: number;
}

export class CidrError extends Error {
  override name = 'CidrError';
}

export function parseCidr(text: string): Cidr {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text.trim());
  if (!m) throw new CidrError(`"${text}" is not an IPv4 CIDR`);
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix > 32) throw new CidrError(`"${text}" is not an IPv4 CIDR`);
  const addr = ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0;
  // Upstream allocations are `startAddress/prefix`; normalise host bits away rather than refuse.
  return { base: (addr & mask(prefix)) >>> 0, prefix };
}

export function formatCidr(c: Cidr): string {
  const b = c.base;
  return `${b >>> 24}.${(b >>> 16) & 255}.${(b >>> 8) & 255}.${b & 255}/${c.prefix}`;
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** True when `inner` lies completely inside `outer`. */
export function contains(outer: Cidr, inner: Cidr): boolean {
  return inner.prefix >= outer.prefix && (inner.base & mask(outer.prefix)) >>> 0 === outer.base;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return contains(a, b) || contains(b, a);
}

export function supernet(c: Cidr, prefix: number): Cidr {
  return { base: (c.base & mask(prefix)) >>> 0, prefix };
}

export const VPC_MIN_PREFIX = 16;
export const VPC_MAX_PREFIX = 28;

/** The VPC block that should hold `c` (an address range inside a Datum range of prefix `rangePrefix`). */
export function vpcBlockFor(c: Cidr, rangePrefix: number): Cidr {
  return supernet(c, Math.max(VPC_MIN_PREFIX, rangePrefix));
}

/** The primary VPC block for a Datum range; throws for ranges AWS cannot host. */
export function primaryVpcBlock(range: Cidr): Cidr {
  if (range.prefix > VPC_MAX_PREFIX)
    throw new CidrError(`${formatCidr(range)} is smaller than the smallest AWS VPC block (/28)`);
  return vpcBlockFor(range, range.prefix);
}

/**
 * Checks a subnet against AWS's limits and the network's range; returns the VPC block it must sit in.
 * `range` is undefined when the VPC carries no range tag (then the subnet's own /16 is used).
 */
export function subnetBlock(subnet: Cidr, range: Cidr | undefined): Cidr {
  if (subnet.prefix < VPC_MIN_PREFIX || subnet.prefix > VPC_MAX_PREFIX)
    throw new CidrError(`subnet ${formatCidr(subnet)}: AWS subnets must be between /16 and /28`);
  if (range && !contains(range, subnet))
    throw new CidrError(`subnet ${formatCidr(subnet)} is outside the network range ${formatCidr(range)}`);
  return vpcBlockFor(subnet, range?.prefix ?? VPC_MIN_PREFIX);
}

/**
 * `outer` minus every block in `excepts`, as the smallest list of CIDRs (security groups have no deny rules,
 * so NetworkPolicy `except` becomes the complement). Excepts outside `outer` are ignored.
 */
export function subtract(outer: Cidr, excepts: Cidr[]): Cidr[] {
  let parts: Cidr[] = [outer];
  for (const ex of excepts) {
    const next: Cidr[] = [];
    for (const p of parts) {
      if (contains(ex, p)) continue;
      if (!contains(p, ex)) {
        next.push(p);
        continue;
      }
      // Split p down towards ex, keeping the halves that do not hold it.
      let cur = p;
      while (cur.prefix < ex.prefix) {
        const lo = { base: cur.base, prefix: cur.prefix + 1 };
        const hi = { base: (cur.base + 2 ** (31 - cur.prefix)) >>> 0, prefix: cur.prefix + 1 };
        if (contains(lo, ex)) {
          next.push(hi);
          cur = lo;
        } else {
          next.push(lo);
          cur = hi;
        }
      }
    }
    parts = next;
  }
  return parts.sort((a, b) => a.base - b.base || a.prefix - b.prefix);
}
