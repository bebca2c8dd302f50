/**
 * The parts of real EC2 behaviour moto lacks, emulated on the wire by the proxy:
 * - ClientToken idempotency for RunInstances (moto stores the token but launches again on every call);
 * - transitional states: `pending` for the first K describes after a launch, `shutting-down` after terminate;
 * - DeleteVpc refused (`DependencyViolation`) while a security group other than `default` is in the VPC.
 */
import { type ErrorReply, errorReply } from './faults.ts';

export interface CachedReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

interface TokenEntry {
  fingerprint: string;
  reply: CachedReply;
  instanceIds: string[];
}

/** Parameters that identify a launch, without the token and the SDK's per-request noise. */
export function launchFingerprint(params: URLSearchParams): string {
  return [...params.entries()]
    .filter(([k]) => k !== 'ClientToken')
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

export function instanceIdsInRunResponse(body: string): string[] {
  const set = body.match(/<instancesSet>[\s\S]*<\/instancesSet>/)?.[0] ?? '';
  return [...set.matchAll(/<instanceId>(i-[0-9a-zA-Z]+)<\/instanceId>/g)].map((m) => m[1]!);
}

/** Security groups in a DescribeSecurityGroups answer (a description is written per group, not per rule). */
export function securityGroupsIn(body: string): number {
  return body.match(/<groupDescription>/g)?.length ?? 0;
}

export class ClientTokenCache {
  private readonly entries = new Map<string, TokenEntry>();
  /** Per token: the in-flight first request, so a concurrent retry waits for it instead of launching again. */
  private readonly inflight = new Map<string, Promise<void>>();

  /**
   * Runs `launch` at most once per token, like AWS: a repeat with the same parameters gets the first answer;
   * different parameters get `IdempotentParameterMismatch`; a token whose instances are all terminated gets
   * `IdempotentInstanceTerminated`. Failed launches are not cached (AWS lets the caller retry them).
   */
  async run(
    token: string,
    params: URLSearchParams,
    isTerminated: (id: string) => boolean,
    launch: () => Promise<CachedReply>,
  ): Promise<{ reply: CachedReply | ErrorReply; replayed: boolean }> {
    for (let wait = this.inflight.get(token); wait; wait = this.inflight.get(token)) await wait;
    const fp = launchFingerprint(params);
    const hit = this.entries.get(token);
    if (hit) {
      if (hit.fingerprint !== fp)
        return {
          reply: errorReply(
            400,
            'IdempotentParameterMismatch',
            `Client token ${token} was used with different parameters.`,
            false,
          ),
          replayed: true,
        };
      if (hit.instanceIds.length > 0 && hit.instanceIds.every(isTerminated))
        return {
          reply: errorReply(
            400,
            'IdempotentInstanceTerminated',
            `The client token ${token} belongs to a terminated instance.`,
            false,
          ),
          replayed: true,
        };
      return { reply: hit.reply, replayed: true };
    }
    let done!: () => void;
    this.inflight.set(
      token,
      new Promise<void>((r) => {
        done = r;
      }),
    );
    try {
      const reply = await launch();
      if (reply.status >= 200 && reply.status < 300)
        this.entries.set(token, {
          fingerprint: fp,
          reply,
          instanceIds: instanceIdsInRunResponse(reply.body),
        });
      return { reply, replayed: false };
    } finally {
      this.inflight.delete(token);
      done();
    }
  }

  clear(): void {
    this.entries.clear();
  }
}

/** Rewrites instance states in DescribeInstances answers for the first K describes after launch/terminate. */
export class StateRealism {
  pendingDescribes: number;
  shuttingDownDescribes: number;
  private readonly pending = new Map<string, number>();
  private readonly shuttingDown = new Map<string, number>();
  readonly terminated = new Set<string>();

  constructor(pendingDescribes: number, shuttingDownDescribes: number) {
    this.pendingDescribes = pendingDescribes;
    this.shuttingDownDescribes = shuttingDownDescribes;
  }

  launched(ids: string[]): void {
    for (const id of ids) if (this.pendingDescribes > 0) this.pending.set(id, this.pendingDescribes);
  }

  terminating(ids: string[]): void {
    for (const id of ids) {
      this.terminated.add(id);
      this.pending.delete(id);
      if (this.shuttingDownDescribes > 0) this.shuttingDown.set(id, this.shuttingDownDescribes);
    }
  }

  /** moto puts an instance's `<instanceState>` after its `<instanceId>` in the same item. */
  rewriteDescribe(body: string): string {
    if (this.pending.size === 0 && this.shuttingDown.size === 0) return body;
    const seen = new Set<string>();
    return body.replace(
      /<instanceState><code>(\d+)<\/code><name>([a-z-]+)<\/name><\/instanceState>/g,
      (whole, _code: string, name: string, offset: number) => {
        const at = body.lastIndexOf('<instanceId>', offset);
        const id = at < 0 ? undefined : body.slice(at + 12, body.indexOf('<', at + 12));
        if (!id || seen.has(id)) return whole;
        seen.add(id);
        if (name === 'running' && this.consume(this.pending, id))
          return '<instanceState><code>0</code><name>pending</name></instanceState>';
        if (name === 'terminated' && this.consume(this.shuttingDown, id))
          return '<instanceState><code>32</code><name>shutting-down</name></instanceState>';
        return whole;
      },
    );
  }

  /**
   * moto filters on the real state, so a describe for `shutting-down` would never see a terminated instance
   * we present as shutting down. Widen the request's state filter to the real states behind the presented
   * ones; `filterStates` then applies the caller's filter to the rewritten answer.
   */
  widenStateFilter(params: URLSearchParams): Set<string> | undefined {
    if (this.pending.size === 0 && this.shuttingDown.size === 0) return undefined;
    for (const [k, v] of params) {
      const m = /^Filter\.(\d+)\.Name$/.exec(k);
      if (!m || v !== 'instance-state-name') continue;
      const prefix = `Filter.${m[1]}.Value.`;
      const wanted = new Set([...params].filter(([pk]) => pk.startsWith(prefix)).map(([, pv]) => pv));
      const extra = [];
      if (wanted.has('pending') && !wanted.has('running')) extra.push('running');
      if (wanted.has('shutting-down') && !wanted.has('terminated')) extra.push('terminated');
      let n = wanted.size;
      for (const e of extra) params.set(`${prefix}${++n}`, e);
      return wanted;
    }
    return undefined;
  }

  private consume(m: Map<string, number>, id: string): boolean {
    const left = m.get(id);
    if (!left) return false;
    if (left <= 1) m.delete(id);
    else m.set(id, left - 1);
    return true;
  }

  clear(): void {
    this.pending.clear();
    this.shuttingDown.clear();
    this.terminated.clear();
  }
}

/** Top-level `<item>…</item>` elements of a set's inner XML. */
function splitItems(inner: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let start = -1;
  const re = /<(\/?)item>/g;
  for (let m = re.exec(inner); m; m = re.exec(inner)) {
    if (m[1] === '') {
      if (depth++ === 0) start = m.index;
    } else if (--depth === 0) {
      items.push(inner.slice(start, m.index + m[0].length));
    }
  }
  return items;
}

/** Drops instances whose (presented) state is not in `wanted`, and reservations left empty. */
export function filterStates(body: string, wanted: Set<string>): string {
  return body.replace(/<reservationSet>([\s\S]*)<\/reservationSet>/, (_w, inner: string) => {
    const reservations = splitItems(inner).flatMap((r) => {
      const kept = r.replace(/<instancesSet>([\s\S]*?)<\/instancesSet>/, (_x, set: string) => {
        const items = splitItems(set).filter((i) => {
          const state = /<instanceState><code>\d+<\/code><name>([a-z-]+)<\/name><\/instanceState>/.exec(
            i,
          )?.[1];
          return !state || wanted.has(state);
        });
        return `<instancesSet>${items.join('')}</instancesSet>`;
      });
      return kept.includes('<instancesSet></instancesSet>') ? [] : [kept];
    });
    return `<reservationSet>${reservations.join('')}</reservationSet>`;
  });
}
