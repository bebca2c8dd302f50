/** A host's address for an Instance: the first of its inventory addresses inside the Subnet, else its first. */
export function addressFor(addresses: string[], cidr: string | undefined): string | undefined {
  if (cidr) {
    const inside = addresses.find((a) => inCidr(a, cidr));
    if (inside) return inside;
  }
  return addresses[0];
}

function toInt(ip: string): number | undefined {
  const p = ip.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) return undefined;
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

export function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const a = toInt(ip);
  const b = toInt(base ?? '');
  const n = Number(bits);
  if (a === undefined || b === undefined || !Number.isInteger(n) || n < 0 || n > 32) return false;
  const mask = n === 0 ? 0 : (~0 << (32 - n)) >>> 0;
  return (a & mask) >>> 0 === (b & mask) >>> 0;
}
