/**
 * The parts of real Compute Engine behaviour gcplocal lacks, kept by the proxy:
 * - `requestId` idempotency: a repeat of a request id answers the first request's operation, never repeats it;
 * - instance lifecycle: PROVISIONING → STAGING → RUNNING while its insert runs, STOPPING while a delete or stop
 *   runs, TERMINATED after a stop; labels, metadata and network tags set with `setLabels`, `setMetadata` and
 *   `setTags` (gcplocal cannot update an instance), each with its fingerprint;
 * - internal and external IPs allocated from the subnetwork's range (gcplocal assigns none);
 * - list `filter` expressions (gcplocal ignores them).
 */

import { createHash } from 'node:crypto';

export interface InstanceOverlay {
  /** Status while an operation runs, or after a stop. */
  phase?: { status: () => string | undefined };
  labels?: Record<string, string>;
  labelFingerprint?: string;
  lastStopTimestamp?: string;
  metadata?: { items: unknown[]; fingerprint: string };
  tags?: { items: unknown[]; fingerprint: string };
}

/** A fingerprint of a value, as GCE hands out for labels, metadata and tags. */
export const fingerprintOf = (v: unknown) =>
  createHash('sha256').update(JSON.stringify(v)).digest('base64').slice(0, 12);

/** The instance's metadata and tags with a fingerprint (GCE always returns one; gcplocal none). */
function withFingerprints(inst: Record<string, unknown>): Record<string, unknown> {
  const out = { ...inst };
  for (const field of ['metadata', 'tags']) {
    const v = (out[field] ?? {}) as { items?: unknown[]; fingerprint?: string };
    if (!v.fingerprint) out[field] = { ...v, fingerprint: fingerprintOf(v.items ?? []) };
  }
  return out;
}

export class InstanceOverlays {
  private readonly m = new Map<string, InstanceOverlay>();

  key(project: string, zone: string, name: string): string {
    return `${project}/${zone}/${name}`;
  }

  get(key: string): InstanceOverlay {
    let o = this.m.get(key);
    if (!o) {
      o = {};
      this.m.set(key, o);
    }
    return o;
  }

  drop(key: string): void {
    this.m.delete(key);
  }

  /** Applies the overlay to an instance resource from gcplocal. */
  apply(project: string, inst: Record<string, unknown>): Record<string, unknown> {
    const zone = String(inst.zone ?? '')
      .split('/')
      .pop();
    const o = this.m.get(this.key(project, zone ?? '', String(inst.name)));
    if (!o) return withFingerprints(inst);
    const out = { ...inst };
    const s = o.phase?.status();
    if (s) out.status = s;
    if (o.labels) out.labels = o.labels;
    if (o.labelFingerprint) out.labelFingerprint = o.labelFingerprint;
    if (o.lastStopTimestamp) out.lastStopTimestamp = o.lastStopTimestamp;
    if (o.metadata) out.metadata = o.metadata;
    if (o.tags) out.tags = o.tags;
    return withFingerprints(out);
  }

  clear(): void {
    this.m.clear();
  }
}

export interface CachedOp {
  project: string;
  scope: { zone?: string; region?: string };
  name: string;
  /** Method and path of the first request, to refuse a reused id on another request. */
  request: string;
}

/** requestId → the operation the first request started (GCE keeps them for at least 60 minutes). */
export class RequestIds {
  private readonly m = new Map<string, CachedOp>();
  private readonly inflight = new Map<string, Promise<void>>();

  /** Runs `first` once per id; concurrent repeats wait for it. Returns the cached op for a repeat. */
  async once(
    id: string,
    first: () => Promise<CachedOp | undefined>,
  ): Promise<{ op?: CachedOp; replayed: boolean }> {
    for (let w = this.inflight.get(id); w; w = this.inflight.get(id)) await w;
    const hit = this.m.get(id);
    if (hit) return { op: hit, replayed: true };
    let done!: () => void;
    this.inflight.set(
      id,
      new Promise<void>((r) => {
        done = r;
      }),
    );
    try {
      const op = await first();
      if (op) this.m.set(id, op);
      return { op, replayed: false };
    } finally {
      this.inflight.delete(id);
      done();
    }
  }

  clear(): void {
    this.m.clear();
  }
}

const ipToInt = (ip: string) => ip.split('.').reduce((a, p) => a * 256 + Number(p), 0);
const intToIp = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

/** Hands out addresses per subnetwork range, skipping the four GCE reserves (network, gateway, last two). */
export class AddressPool {
  private readonly used = new Map<string, Set<number>>();
  private readonly owner = new Map<string, { range: string; ip: number }[]>();
  private nextExternal = 0;

  allocate(range: string, holder: string): string {
    const [net, bits] = range.split('/');
    const base = ipToInt(net!);
    const size = 2 ** (32 - Number(bits));
    const used = this.used.get(range) ?? new Set<number>();
    this.used.set(range, used);
    for (let off = 2; off < size - 2; off++) {
      if (used.has(base + off)) continue;
      used.add(base + off);
      this.owner.set(holder, [...(this.owner.get(holder) ?? []), { range, ip: base + off }]);
      return intToIp(base + off);
    }
    throw new Error(`subnetwork range ${range} is exhausted`);
  }

  /** Documentation ranges (RFC 5737), never routable. */
  external(): string {
    const n = this.nextExternal++;
    return n < 254 ? `203.0.113.${n + 1}` : `198.51.100.${(n % 254) + 1}`;
  }

  release(holder: string): void {
    for (const { range, ip } of this.owner.get(holder) ?? []) this.used.get(range)?.delete(ip);
    this.owner.delete(holder);
  }

  clear(): void {
    this.used.clear();
    this.owner.clear();
    this.nextExternal = 0;
  }
}

export class FilterError extends Error {}

/**
 * The subset of the GCE list filter grammar we use and test: `field = value`, `field != value`,
 * `field eq regex`, `field ne regex`, conjunctions with `AND` or parentheses, dotted fields (`labels.k`).
 */
export function compileFilter(text: string | null): (item: Record<string, unknown>) => boolean {
  if (!text?.trim()) return () => true;
  const terms: string[] = [];
  const re = /\(([^()]*)\)|([^\s()]+\s*(?:!=|=|\beq\b|\bne\b)\s*(?:"[^"]*"|[^\s()]+))|(\bAND\b)/gi;
  let rest = text;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[1] !== undefined) terms.push(m[1]);
    else if (m[2] !== undefined) terms.push(m[2]);
    rest = rest.replace(m[0], '');
  }
  if (rest.trim()) throw new FilterError(`Invalid list filter expression: ${text}`);
  const preds = terms.map((t) => {
    const m = /^\s*([A-Za-z0-9_.-]+)\s*(!=|=|eq|ne)\s*(?:"([^"]*)"|(\S+))\s*$/.exec(t);
    if (!m) throw new FilterError(`Invalid list filter expression: ${text}`);
    const [, field, op, q, bare] = m;
    const value = q ?? bare ?? '';
    const get = (item: Record<string, unknown>) =>
      field!.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], item);
    if (op === '=') return (i: Record<string, unknown>) => String(get(i) ?? '') === value;
    if (op === '!=') return (i: Record<string, unknown>) => String(get(i) ?? '') !== value;
    const rx = new RegExp(`^(?:${value})$`);
    return op === 'eq'
      ? (i: Record<string, unknown>) => rx.test(String(get(i) ?? ''))
      : (i: Record<string, unknown>) => !rx.test(String(get(i) ?? ''));
  });
  return (item) => preds.every((p) => p(item));
}
