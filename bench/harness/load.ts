/**
 * The load generator: creates, changes and deletes Instances through the admin client (not audited), and
 * watches them through an informer to time each one: when its create returned, when it first met the goal.
 */
import { INSTANCE } from '../../src/datum/api/resources.ts';
import { Cache } from '../../src/runtime/cache/cache.ts';
import { stripManagedFields } from '../../src/runtime/cache/informer.ts';
import type { HttpClient } from '../../src/runtime/client/client.ts';
import type { KubeObject } from '../../src/runtime/client/types.ts';
import { instanceObject } from '../../src/testkit/contract/fixtures.ts';

const WRITERS = 16;

export const keyOf = (o: { metadata: { name?: string; namespace?: string } }) =>
  `${o.metadata.namespace}/${o.metadata.name}`;

/** Programmed=True and Running=True, both for the object's current generation. */
export function converged(o: KubeObject): boolean {
  const conds = (o.status as { conditions?: { type: string; status: string; observedGeneration?: number }[] })
    ?.conditions;
  const ok = (t: string) =>
    conds?.some((c) => c.type === t && c.status === 'True' && c.observedGeneration === o.metadata.generation);
  return !!ok('Programmed') && !!ok('Running');
}

export interface Named {
  name: string;
  namespace: string;
}

/** `n` Instance names spread round-robin over the namespaces. */
export function instanceNames(n: number, namespaces: string[], prefix = 'i'): Named[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `${prefix}-${i}`,
    namespace: namespaces[i % namespaces.length]!,
  }));
}

/** Runs `fn` over `items` with WRITERS concurrent callers; returns when each call returned, by key. */
export async function forEachConcurrently(
  items: Named[],
  fn: (it: Named) => Promise<unknown>,
  writers = WRITERS,
): Promise<Map<string, number>> {
  const done = new Map<string, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (next < items.length) {
        const it = items[next++]!;
        await fn(it);
        done.set(`${it.namespace}/${it.name}`, performance.now());
      }
    }),
  );
  return done;
}

export function createInstances(c: HttpClient, items: Named[], image = 'nginx:1.27') {
  return forEachConcurrently(items, (it) =>
    c.create(INSTANCE, instanceObject({ ...it, location: { name: 'dfw', namespace: it.namespace }, image })),
  );
}

/** A template change as upstream makes it: a new image and template hash in the Instance spec. */
export function changeTemplate(c: HttpClient, items: Named[], image: string) {
  return forEachConcurrently(items, async (it) => {
    const cur = await c.get<KubeObject>(INSTANCE, it.name, it.namespace);
    const spec = structuredClone(cur.spec) as { runtime: { sandbox?: { containers: { image: string }[] } } };
    for (const ct of spec.runtime.sandbox?.containers ?? []) ct.image = image;
    await c.patch(INSTANCE, it.name, it.namespace, { type: 'merge', patch: { spec } });
  });
}

export function deleteInstances(c: HttpClient, items: Named[]) {
  return forEachConcurrently(items, (it) => c.delete(INSTANCE, it.name, it.namespace));
}

/** Unrelated writes (ConfigMap updates) at the API server's pace until stopped; returns how many. */
export function unrelatedWrites(c: HttpClient, namespaces: string[]): { stop(): Promise<number> } {
  let stopped = false;
  let n = 0;
  const cm = { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };
  const loops = namespaces.slice(0, 4).map(async (ns, w) => {
    const name = `noise-${w}`;
    await c.create(cm, { metadata: { name, namespace: ns }, data: { n: '0' } }).catch(() => {});
    while (!stopped) {
      await c.patch(cm, name, ns, { type: 'merge', patch: { data: { n: String(n++) } } });
    }
  });
  return {
    async stop() {
      stopped = true;
      await Promise.all(loops);
      return n;
    },
  };
}

/** Watches every Instance; records when each first meets the goal, and when each is gone. */
export class Tracker {
  private readonly cache: Cache;
  private readonly informer;
  private goal: (o: KubeObject) => boolean = () => false;
  readonly met = new Map<string, number>();
  readonly gone = new Map<string, number>();

  constructor(admin: HttpClient) {
    this.cache = new Cache(admin, { defaultTransform: stripManagedFields });
    this.informer = this.cache.informerFor(INSTANCE);
    const seen = (o: KubeObject) => {
      if (!this.met.has(keyOf(o)) && this.goal(o)) this.met.set(keyOf(o), performance.now());
    };
    this.informer.addEventHandler({
      onAdd: seen,
      onUpdate: (_old, o) => seen(o),
      onDelete: (o) => this.gone.set(keyOf(o), performance.now()),
    });
  }

  async start(): Promise<void> {
    this.cache.start();
    await this.cache.waitForSync({ timeoutMs: 120_000 });
  }

  /** A new goal: forgets who met the old one, and counts who already meets this one now. */
  setGoal(goal: (o: KubeObject) => boolean): void {
    this.goal = goal;
    this.met.clear();
    this.gone.clear();
    const now = performance.now();
    for (const o of this.informer.list()) if (goal(o)) this.met.set(keyOf(o), now);
  }

  count(): number {
    return this.informer.list().length;
  }

  /** Resolves once `done()` holds; throws after `timeoutMs` with what is missing. */
  async waitUntil(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const end = performance.now() + timeoutMs;
    while (!done()) {
      if (performance.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  waitMet(keys: Iterable<string>, timeoutMs: number, what: string): Promise<void> {
    const all = [...keys];
    return this.waitUntil(
      () => all.every((k) => this.met.has(k)),
      timeoutMs,
      `${what} (${this.met.size}/${all.length})`,
    );
  }

  waitGone(keys: Iterable<string>, timeoutMs: number, what: string): Promise<void> {
    const all = [...keys];
    return this.waitUntil(
      () => all.every((k) => this.gone.has(k)),
      timeoutMs,
      `${what} (${this.gone.size}/${all.length})`,
    );
  }

  async stop(): Promise<void> {
    await this.cache.stop();
  }
}

/** p-th percentile (0..100) of the per-key differences `end - start`, in ms. */
export function percentiles(
  start: Map<string, number>,
  end: Map<string, number>,
): { p50: number; p99: number } {
  const d = [...start].map(([k, t]) => (end.get(k) ?? Number.NaN) - t).filter((x) => !Number.isNaN(x));
  d.sort((a, b) => a - b);
  const at = (p: number) =>
    Math.max(0, d[Math.min(d.length - 1, Math.floor((p / 100) * d.length))] ?? Number.NaN);
  return { p50: at(50), p99: at(99) };
}
