/**
 * Event recording (core/v1 Events, which `kubectl describe` shows). Repeats of the same event on the same
 * object within the process bump `count` instead of creating new objects. Recording never fails a reconcile.
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

export class ClientEventRecorder implements EventRecorder {
  private readonly client: Client;
  private readonly component: string;
  private readonly log?: Logger;
  private readonly seen = new Map<string, { name: string; namespace: string; count: number }>();
  private pending: Promise<void> = Promise.resolve();

  constructor(client: Client, component: string, log?: Logger) {
    this.client = client;
    this.component = component;
    this.log = log;
  }

  event(obj: KubeObject, type: EventType, reason: string, message: string): void {
    this.pending = this.pending
      .then(() => this.write(obj, type, reason, message))
      .catch((err) => {
        this.log?.debug('event not recorded', { reason, err });
      });
  }

  flush(): Promise<void> {
    return this.pending;
  }

  private async write(obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const namespace = obj.metadata.namespace || 'default';
    const key = `${obj.metadata.uid}|${type}|${reason}|${message}`;
    const now = rfc3339(new Date());
    const prior = this.seen.get(key);
    if (prior) {
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
    this.seen.set(key, { name, namespace, count: 1 });
    if (this.seen.size > 5000) this.seen.delete(this.seen.keys().next().value!);
  }
}
