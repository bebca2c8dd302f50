/**
 * The per-cluster cache: at most one informer per (resource type, scope), shared by every controller that
 * reads that kind. Informers requested after `start()` start at once.
 */
import type { Client } from '../client/interface.ts';
import type { KubeObject, ResourceType } from '../client/types.ts';
import { resourceKey } from '../client/types.ts';
import type { Logger } from '../log/logger.ts';
import { Informer, type InformerOptions, type Transform } from './informer.ts';

export interface CacheOptions {
  /** Applied to every object before it is stored, unless an informer sets its own. */
  defaultTransform?: Transform;
  log?: Logger;
}

function scopeKey(r: ResourceType, o: InformerOptions): string {
  return [
    resourceKey(r),
    o.namespace ?? '',
    o.labelSelector ?? '',
    o.fieldSelector ?? '',
    o.metadataOnly ? 'meta' : 'full',
  ].join('|');
}

export class Cache {
  readonly client: Client;
  private readonly opts: CacheOptions;
  private readonly informers = new Map<string, Informer>();
  private signal: AbortSignal | undefined;
  private abort: AbortController | undefined;

  constructor(client: Client, opts: CacheOptions = {}) {
    this.client = client;
    this.opts = opts;
  }

  informerFor<T extends KubeObject = KubeObject>(r: ResourceType, o: InformerOptions = {}): Informer<T> {
    const key = scopeKey(r, o);
    let inf = this.informers.get(key);
    if (!inf) {
      inf = new Informer(this.client, r, { transform: this.opts.defaultTransform, ...o }, this.opts.log);
      this.informers.set(key, inf);
      if (this.signal) inf.start(this.signal);
    }
    return inf as unknown as Informer<T>;
  }

  start(parent?: AbortSignal): void {
    if (this.abort) return;
    this.abort = new AbortController();
    parent?.addEventListener('abort', () => this.abort?.abort(), { once: true });
    this.signal = this.abort.signal;
    for (const inf of this.informers.values()) inf.start(this.signal);
  }

  hasSynced(): boolean {
    return [...this.informers.values()].every((i) => i.hasSynced());
  }

  async waitForSync(opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<boolean> {
    const results = await Promise.all([...this.informers.values()].map((i) => i.waitForSync(opts)));
    return results.every(Boolean);
  }

  allInformers(): Informer[] {
    return [...this.informers.values()];
  }

  async stop(): Promise<void> {
    this.abort?.abort();
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
    this.abort = undefined;
    this.signal = undefined;
  }
}
