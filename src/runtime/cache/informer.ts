/**
 * A shared informer: one watcher feeding one store, fanned out to any number of event handlers.
 * Relists replace the store atomically at `init-done`, delivering updates for changed objects and
 * deletions for objects that vanished while the watch was down (no lost deletes after a 410).
 */
import type { Client } from '../client/interface.ts';
import type { KubeObject, ResourceType } from '../client/types.ts';
import { objectKey } from '../client/types.ts';
import type { Logger } from '../log/logger.ts';
import { type Backoff, runWatcher, type WatcherEvent, type WatcherStats } from '../watch/watcher.ts';
import { type IndexFunc, NAMESPACE_INDEX, Store } from './indexer.ts';
import { selectorMatches } from './selector.ts';

export interface EventHandler<T extends KubeObject = KubeObject> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

export type Transform = <T extends KubeObject>(obj: T) => T;

/** Drops `metadata.managedFields`: on typical objects it is a third of the bytes and no controller reads it. */
export const stripManagedFields: Transform = (obj) => {
  if (obj.metadata?.managedFields) delete obj.metadata.managedFields;
  return obj;
};

export interface InformerOptions {
  labelSelector?: string;
  fieldSelector?: string;
  namespace?: string;
  metadataOnly?: boolean;
  transform?: Transform;
  pageSize?: number;
  timeoutSeconds?: [number, number];
  backoff?: Backoff;
}

export class Informer<T extends KubeObject = KubeObject> {
  readonly resource: ResourceType;
  readonly options: InformerOptions;
  readonly stats: WatcherStats = { lists: 0, relists: 0, reconnects: 0, events: 0, bookmarks: 0 };
  private readonly client: Client;
  private readonly log?: Logger;
  private readonly store = new Store<T>();
  private readonly handlers = new Set<EventHandler<T>>();
  private pending: Map<string, T> | undefined;
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private abort: AbortController | undefined;
  private running: Promise<void> | undefined;

  constructor(client: Client, resource: ResourceType, options: InformerOptions = {}, log?: Logger) {
    this.client = client;
    this.resource = resource;
    this.options = options;
    this.log = log?.child({ informer: resource.plural });
  }

  start(parent?: AbortSignal): void {
    if (this.running) return;
    this.abort = new AbortController();
    parent?.addEventListener('abort', () => this.abort?.abort(), { once: true });
    this.running = runWatcher<T>(
      {
        client: this.client,
        resource: this.resource,
        ...this.options,
        onEvent: (ev) => this.handle(ev),
        log: this.log,
      },
      this.abort.signal,
      this.stats,
    );
  }

  async stop(): Promise<void> {
    this.abort?.abort();
    await this.running;
    this.running = undefined;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  waitForSync(opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = opts.timeoutMs ? setTimeout(() => resolve(false), opts.timeoutMs) : undefined;
      opts.signal?.addEventListener('abort', () => resolve(false), { once: true });
      this.syncWaiters.push(() => {
        if (t) clearTimeout(t);
        resolve(true);
      });
    });
  }

  /** Registers a handler; objects already in the store are replayed to it as adds. Returns an unsubscribe. */
  addEventHandler(h: EventHandler<T>): () => void {
    this.handlers.add(h);
    for (const obj of this.store.values()) h.onAdd?.(obj);
    return () => this.handlers.delete(h);
  }

  addIndex(name: string, fn: IndexFunc<T>): void {
    if (!this.store.hasIndex(name)) this.store.addIndex(name, fn);
  }

  byIndex(name: string, value: string): T[] {
    return this.store.byIndex(name, value);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.store.get(namespace ? `${namespace}/${name}` : name);
  }

  list(opts: { namespace?: string; labelSelector?: string } = {}): T[] {
    const base =
      opts.namespace !== undefined
        ? this.store.byIndex(NAMESPACE_INDEX, opts.namespace)
        : [...this.store.values()];
    return opts.labelSelector
      ? base.filter((o) => selectorMatches(opts.labelSelector, o.metadata.labels))
      : base;
  }

  get size(): number {
    return this.store.size;
  }

  private prepare(obj: T): T {
    return this.options.transform ? this.options.transform(obj) : obj;
  }

  private handle(ev: WatcherEvent<T>): void {
    switch (ev.type) {
      case 'init-start':
        this.pending = new Map();
        return;
      case 'init-object':
        this.pending?.set(objectKey(ev.obj), this.prepare(ev.obj));
        return;
      case 'init-done':
        this.replace(this.pending ?? new Map());
        this.pending = undefined;
        if (!this.synced) {
          this.synced = true;
          for (const w of this.syncWaiters.splice(0)) w();
        }
        return;
      case 'applied': {
        const obj = this.prepare(ev.obj);
        const old = this.store.upsert(obj);
        this.dispatch(old, obj);
        return;
      }
      case 'deleted': {
        const old = this.store.remove(objectKey(ev.obj));
        this.emitDelete(old ?? this.prepare(ev.obj));
        return;
      }
    }
  }

  private replace(fresh: Map<string, T>): void {
    for (const key of [...this.store.keys()]) {
      if (!fresh.has(key)) this.emitDelete(this.store.remove(key)!);
    }
    for (const obj of fresh.values()) {
      const old = this.store.upsert(obj);
      if (!old || old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.dispatch(old, obj);
    }
  }

  private dispatch(old: T | undefined, obj: T): void {
    for (const h of this.handlers) {
      try {
        if (old) h.onUpdate?.(old, obj);
        else h.onAdd?.(obj);
      } catch (err) {
        this.log?.error('event handler failed', { err });
      }
    }
  }

  private emitDelete(obj: T): void {
    for (const h of this.handlers) {
      try {
        h.onDelete?.(obj);
      } catch (err) {
        this.log?.error('event handler failed', { err });
      }
    }
  }
}
