/**
 * The watcher: list, then watch from the list's resourceVersion, forever, as an explicit state machine
 * (after kube-rs). Each state names what the next step does; `step()` performs one step and returns the
 * next state plus the events to emit. The loop around it only adds backoff.
 *
 *   Empty ──list page──▶ InitListing(continue) ──last page──▶ Watching(rv) ──410──▶ Empty
 *                                                          └─error──▶ Backoff ──▶ Watching(rv)
 *
 * Consumers receive `init-start`, `init-object`*, `init-done` for every (re)list — so a cache can replace
 * its contents atomically and deliver deletions for objects that vanished while we were away — then
 * `applied` / `deleted` for each watch event.
 *
 * A watch that ends within a second without delivering anything (a proxy or server that closes the stream at
 * once) is treated like an error: the next attempt waits for the backoff, or we would reconnect in a hot loop.
 */

import { GoneError } from '../client/errors.ts';
import type { Client } from '../client/interface.ts';
import type { KubeObject, ResourceType } from '../client/types.ts';
import type { Logger } from '../log/logger.ts';
import { sleep } from '../util/sleep.ts';

export type WatcherEvent<T extends KubeObject = KubeObject> =
  | { type: 'init-start' }
  | { type: 'init-object'; obj: T }
  | { type: 'init-done'; resourceVersion: string }
  | { type: 'applied'; obj: T }
  | { type: 'deleted'; obj: T };

export type WatcherState =
  | { kind: 'Empty' }
  | { kind: 'InitListing'; continueToken: string; resourceVersion: string }
  | { kind: 'Watching'; resourceVersion: string };

export interface WatcherConfig {
  labelSelector?: string;
  fieldSelector?: string;
  namespace?: string;
  metadataOnly?: boolean;
  pageSize?: number;
  /** Server-side watch timeout range in seconds; a random value in it spreads reconnects. */
  timeoutSeconds?: [number, number];
}

export interface WatcherStats {
  lists: number;
  relists: number;
  reconnects: number;
  events: number;
  bookmarks: number;
}

export interface StepContext<T extends KubeObject> {
  client: Client;
  resource: ResourceType;
  config: WatcherConfig;
  signal: AbortSignal;
  emit: (ev: WatcherEvent<T>) => void;
  stats: WatcherStats;
}

/** One list page. Pagination is done here (not inside client.list) so a huge first list streams out. */
async function listPage<T extends KubeObject>(
  ctx: StepContext<T>,
  continueToken?: string,
): Promise<WatcherState> {
  const { client, resource, config } = ctx;
  const page = await pageOnce<T>(client, resource, config, continueToken);
  if (!continueToken) {
    ctx.stats.lists++;
    ctx.emit({ type: 'init-start' });
  }
  for (const obj of page.items) ctx.emit({ type: 'init-object', obj });
  const rv = page.metadata.resourceVersion ?? '';
  if (page.metadata.continue)
    return { kind: 'InitListing', continueToken: page.metadata.continue, resourceVersion: rv };
  ctx.emit({ type: 'init-done', resourceVersion: rv });
  return { kind: 'Watching', resourceVersion: rv };
}

function pageOnce<T extends KubeObject>(client: Client, r: ResourceType, cfg: WatcherConfig, cont?: string) {
  const q = new URLSearchParams();
  q.set('limit', String(cfg.pageSize ?? 500));
  if (cont) q.set('continue', cont);
  if (cfg.labelSelector) q.set('labelSelector', cfg.labelSelector);
  if (cfg.fieldSelector) q.set('fieldSelector', cfg.fieldSelector);
  let path = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  if (r.namespaced && cfg.namespace) path += `/namespaces/${cfg.namespace}`;
  path += `/${r.plural}?${q}`;
  const accept = cfg.metadataOnly
    ? { accept: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json' }
    : undefined;
  return client.request<{ items: T[]; metadata: { resourceVersion?: string; continue?: string } }>(
    'GET',
    path,
    undefined,
    accept,
  );
}

/** Watches from `rv` until the stream ends; returns the state to continue from. Throws on errors. */
async function watchFrom<T extends KubeObject>(ctx: StepContext<T>, rv: string): Promise<WatcherState> {
  const [lo, hi] = ctx.config.timeoutSeconds ?? [240, 300];
  const timeoutSeconds = Math.floor(lo + Math.random() * (hi - lo));
  let current = rv;
  const stream = ctx.client.watch<T>(ctx.resource, {
    namespace: ctx.config.namespace,
    labelSelector: ctx.config.labelSelector,
    fieldSelector: ctx.config.fieldSelector,
    metadataOnly: ctx.config.metadataOnly,
    resourceVersion: rv,
    allowWatchBookmarks: true,
    timeoutSeconds,
    signal: ctx.signal,
  });
  for await (const ev of stream) {
    const objRv = ev.object?.metadata?.resourceVersion;
    if (objRv) current = objRv;
    if (ev.type === 'BOOKMARK') {
      ctx.stats.bookmarks++;
      continue;
    }
    ctx.stats.events++;
    if (ev.type === 'DELETED') ctx.emit({ type: 'deleted', obj: ev.object });
    else ctx.emit({ type: 'applied', obj: ev.object });
  }
  return { kind: 'Watching', resourceVersion: current };
}

/** Performs one transition. Errors propagate to the loop, which decides about backoff. */
export async function step<T extends KubeObject>(
  state: WatcherState,
  ctx: StepContext<T>,
): Promise<WatcherState> {
  switch (state.kind) {
    case 'Empty':
      return listPage(ctx);
    case 'InitListing':
      return listPage(ctx, state.continueToken);
    case 'Watching':
      return watchFrom(ctx, state.resourceVersion);
  }
}

/** What the loop does after a failed step: 410 means our resourceVersion is too old, so relist. */
export function onError(state: WatcherState, err: unknown): { next: WatcherState; backoff: boolean } {
  if (err instanceof GoneError) return { next: { kind: 'Empty' }, backoff: false };
  // A failed page of an initial list cannot be resumed reliably (continue tokens expire): start over.
  if (state.kind === 'InitListing') return { next: { kind: 'Empty' }, backoff: true };
  return { next: state, backoff: true };
}

/** A watch shorter than this that delivered nothing counts as a failure (client-go's "very short watch"). */
const SHORT_WATCH_MS = 1000;

/** Exponential backoff with jitter: 800 ms doubling to 30 s, reset after a healthy minute. */
export class Backoff {
  private attempt = 0;
  private lastFailure = 0;
  readonly baseMs: number;
  readonly capMs: number;
  readonly resetAfterMs: number;
  constructor(baseMs = 800, capMs = 30_000, resetAfterMs = 120_000) {
    this.baseMs = baseMs;
    this.capMs = capMs;
    this.resetAfterMs = resetAfterMs;
  }
  /** After a healthy watch: the next failure starts from the base delay again. */
  reset(): void {
    this.attempt = 0;
  }
  next(now = Date.now()): number {
    if (now - this.lastFailure > this.resetAfterMs) this.attempt = 0;
    this.lastFailure = now;
    const d = Math.min(this.capMs, this.baseMs * 2 ** this.attempt++);
    return d * (0.5 + Math.random() * 0.5);
  }
}

export interface WatcherOptions<T extends KubeObject> extends WatcherConfig {
  client: Client;
  resource: ResourceType;
  onEvent: (ev: WatcherEvent<T>) => void;
  log?: Logger;
  backoff?: Backoff;
}

/** Runs the state machine until `signal` aborts. Never gives up on its own. */
export async function runWatcher<T extends KubeObject>(
  opts: WatcherOptions<T>,
  signal: AbortSignal,
  stats?: WatcherStats,
): Promise<void> {
  const st = stats ?? { lists: 0, relists: 0, reconnects: 0, events: 0, bookmarks: 0 };
  const ctx: StepContext<T> = {
    client: opts.client,
    resource: opts.resource,
    config: opts,
    signal,
    emit: opts.onEvent,
    stats: st,
  };
  const backoff = opts.backoff ?? new Backoff();
  let state: WatcherState = { kind: 'Empty' };
  let lastWarned = '';
  while (!signal.aborted) {
    const watching = state.kind === 'Watching';
    const startedAt = performance.now();
    const seen = st.events + st.bookmarks;
    // A watch that delivered something or lasted a while proves the connection healthy.
    const healthy = () => st.events + st.bookmarks > seen || performance.now() - startedAt >= SHORT_WATCH_MS;
    try {
      state = await step(state, ctx);
      if (watching && !signal.aborted) {
        if (healthy()) backoff.reset();
        else {
          st.reconnects++;
          opts.log?.debug('watch closed at once; backing off', { resource: opts.resource.plural });
          await sleep(backoff.next(), signal);
        }
      }
    } catch (err) {
      if (signal.aborted) break;
      if (watching && healthy()) backoff.reset();
      const { next, backoff: wait } = onError(state, err);
      if (next.kind === 'Empty' && state.kind === 'Watching') st.relists++;
      else st.reconnects++;
      // A missing CRD or missing permission will not fix itself quickly: say so (once per distinct cause).
      const status = (err as { status?: number }).status;
      if ((status === 401 || status === 403 || status === 404) && String(err) !== lastWarned) {
        lastWarned = String(err);
        opts.log?.warn('cannot list/watch; retrying with backoff', {
          resource: opts.resource.plural,
          status,
          err,
        });
      }
      opts.log?.debug('watch interrupted', {
        resource: opts.resource.plural,
        err,
        relist: next.kind === 'Empty',
      });
      state = next;
      if (wait) await sleep(backoff.next(), signal);
    }
  }
}
