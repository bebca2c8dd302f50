/**
 * Checks of user input that the CRDs do not enforce, each throwing a Refusal with the catalogue reason and a
 * message saying what to change. Found by the chaos suite's bad-input scenario: without them, malformed ssh
 * keys, file paths escaping their mount, absurd disk sizes and malformed network policies were programmed.
 */
import { REASON } from '../classic.ts';
import { Refusal } from './refusal.ts';

const invalid = (message: string) => new Refusal(REASON.InvalidConfiguration, message);

// A login name as useradd accepts it, and an OpenSSH public key line (type, base64 body, optional comment).
const SSH_USER = /^[a-z_][a-z0-9_-]{0,31}$/;
const SSH_KEY =
  /^(ssh-(rsa|dss|ed25519)|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]{16,}={0,3}( [^\n]*)?$/;

/** One `user:key` line of the ssh-keys annotation. */
export function checkSshKey(user: string, key: string): void {
  if (!SSH_USER.test(user))
    throw invalid(
      `ssh-keys: '${user.slice(0, 40)}' is not a valid login name (lowercase letters, digits, _ and -)`,
    );
  if (!SSH_KEY.test(key))
    throw invalid(
      `ssh-keys: the key for '${user}' is not an OpenSSH public key ('ssh-ed25519 AAAA… comment', 'ssh-rsa AAAA…')`,
    );
}

/** A file path inside a volume mount: relative, and never leaving the mount. */
export function checkItemPath(volume: string, path: string): void {
  if (!path || path.startsWith('/') || path.split('/').some((p) => p === '..' || p === ''))
    throw invalid(
      `volume '${volume}': item path '${path.slice(0, 80)}' must be relative and may not contain '..'`,
    );
}

const BINARY: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const DECIMAL: Record<string, number> = { k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
/** Largest boot disk accepted: 64 TiB, more than any platform offers for one disk. */
const MAX_DISK_GIB = 65_536;

/** A Kubernetes storage quantity ("20Gi", "50G", "21474836480") as whole GiB (rounded up), 1 GiB .. 64 TiB. */
export function diskSizeGiB(q: string | number): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/.exec(String(q).trim());
  if (!m) throw invalid(`disk size '${String(q).slice(0, 40)}' is not a storage quantity such as 20Gi`);
  const unit = m[2] ?? '';
  const bytes = Number(m[1]) * (BINARY[unit] ?? DECIMAL[unit] ?? 1);
  const gib = Math.ceil(bytes / 2 ** 30);
  if (!Number.isFinite(gib) || bytes < 2 ** 30 || gib > MAX_DISK_GIB)
    throw invalid(`disk size '${q}' must be between 1Gi and 64Ti`);
  return gib;
}

function ipv4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return undefined;
  return parts.map(Number);
}

/** An IPv4 CIDR as [address as a 32-bit number, prefix length], or an IPv6 CIDR's prefix, or undefined. */
function parseCidr(cidr: string): { v4?: [number, number]; v6?: number } | undefined {
  const [addr, len, ...rest] = cidr.split('/');
  if (rest.length || len === undefined || !/^\d{1,3}$/.test(len)) return undefined;
  const prefix = Number(len);
  const octets = ipv4(addr ?? '');
  if (octets) {
    if (prefix > 32) return undefined;
    return { v4: [((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0, prefix] };
  }
  if (/^[0-9a-fA-F:]+$/.test(addr ?? '') && addr!.includes(':') && prefix <= 128) return { v6: prefix };
  return undefined;
}

function inside(inner: [number, number], outer: [number, number]): boolean {
  if (inner[1] < outer[1]) return false;
  const mask = outer[1] === 0 ? 0 : (~0 << (32 - outer[1])) >>> 0;
  return (inner[0] & mask) >>> 0 === (outer[0] & mask) >>> 0;
}

/** A network policy ipBlock: a CIDR (with its prefix), and `except` blocks inside it. */
export function checkIpBlock(cidr: string, except: string[] | undefined): void {
  const c = parseCidr(cidr);
  if (!c) throw invalid(`network policy: '${cidr.slice(0, 60)}' is not a CIDR such as 10.0.0.0/8`);
  for (const e of except ?? []) {
    const x = parseCidr(e);
    const ok = x && (c.v4 ? x.v4 && inside(x.v4, c.v4) : x.v6 !== undefined && x.v6 >= (c.v6 ?? 0));
    if (!ok) throw invalid(`network policy: except '${e.slice(0, 60)}' is not a CIDR inside ${cidr}`);
  }
}

/** A numeric policy port and its optional endPort: 1..65535, endPort >= port. */
export function checkPortRange(port: number, endPort: number | undefined): void {
  if (!Number.isInteger(port) || port < 1 || port > 65_535)
    throw invalid(`network policy: port ${port} is not between 1 and 65535`);
  if (endPort !== undefined && (!Number.isInteger(endPort) || endPort < port || endPort > 65_535))
    throw invalid(`network policy: endPort ${endPort} must be between port ${port} and 65535`);
}
