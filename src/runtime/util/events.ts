/**
 * Event recording (core/v1 Events, which `kubectl describe` shows). Repeats of the same event on the same
 * object within the process bump `count` instead of creating new objects. Recording never fails a reconcile.
 * Writes run a few at a time (one at a time, a storm's Events trailed its reconciles by many seconds).
 */
import { createHash } from 'node:crypto';
import { isNotFound } from '../client/errors.ts';
import type { Client } from '../client/interface.ts';
import type { KubeObject, ResourceType } from '../client/types.ts';
import type { Logger } from '../log/logger.ts';
import { rfc3339 } from './conditions.ts';

export const EVENT_RESOURCE: ResourceType = {
  group: '',
  version: 'v1',
  kind: 'Event',
  plural: 'events',
  namespaced: true,
};

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  event(obj: KubeObject, type: EventType, reason: string, message: string): void;
  /** Resolves when queued writes are done (tests and shutdown). */
  flush(): Promise<void>;
}

/** Event writes in flight at once. */
const CONCURRENCY = 8;

interface Seen {
  name: string;
  namespace: string;
  count: number;
  /** Settles when this Event's create is done: a repeat bumps the count only after it exists. */
  created: Promise<void>;
}

export class ClientEventRecorder implements EventRecorder {
  private readonly client: Client;
  private readonly component: string;
  private readonly log?: Logger;
  private readonly seen = new Map<string, Seen>();
  private readonly queue: (() => Promise<void>)[] = [];
  private active = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(client: Client, component: string, log?: Logger) {
    this.client = client;
    this.component = component;
    this.log = log;
  }

  event(obj: KubeObject, type: EventType, reason: string, message: string): void {
    this.queue.push(() =>
      this.write(obj, type, reason, message).catch((err) => {
        this.log?.debug('event not recorded', { reason, err });
      }),
    );
    this.pump();
  }

  flush(): Promise<void> {
    if (this.active === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.active < CONCURRENCY && this.queue.length > 0) {
      const job = this.queue.shift()!;
      this.active++;
      void job().finally(() => {
        this.active--;
        this.pump();
        if (this.active === 0 && this.queue.length === 0) {
          const waiters = this.idleWaiters;
          this.idleWaiters = [];
          for (const w of waiters) w();
        }
      });
    }
  }

  private async write(obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const namespace = obj.metadata.namespace || 'default';
    const key = `${obj.metadata.uid}|${type}|${reason}|${message}`;
    const now = rfc3339(new Date());
    const prior = this.seen.get(key);
    if (prior) {
      await prior.created;
      prior.count++;
      try {
        await this.client.patch(EVENT_RESOURCE, prior.name, prior.namespace, {
          type: 'merge',
          patch: { count: prior.count, lastTimestamp: now },
        });
        return;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    const hash = createHash('sha1').update(key).digest('hex').slice(0, 10);
    const name = `${obj.metadata.name}.${hash}${Date.now().toString(36)}`.slice(0, 253);
    let created!: () => void;
    const entry: Seen = { name, namespace, count: 1, created: new Promise((r) => (created = r)) };
    this.seen.set(key, entry);
    if (this.seen.size > 5000) this.seen.delete(this.seen.keys().next().value!);
    try {
      await this.create(obj, type, reason, message, name, namespace, now);
    } catch (err) {
      if (this.seen.get(key) === entry) this.seen.delete(key);
      throw err;
    } finally {
      created();
    }
  }

  private async create(
    obj: KubeObject,
    type: EventType,
    reason: string,
    message: string,
    name: string,
    namespace: string,
    now: string,
  ): Promise<void> {
    await this.client.create(EVENT_RESOURCE, {
      metadata: { name, namespace },
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: obj.metadata.name,
        namespace: obj.metadata.namespace,
        uid: obj.metadata.uid,
        resourceVersion: obj.metadata.resourceVersion,
      },
      type,
      reason,
      message: message.slice(0, 1024),
      source: { component: this.component },
      reportingComponent: this.component,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    });
  }
}
