/**
 * Observation helpers for the contract suite, so that "never X" is checked against what happened instead of
 * after a sleep:
 * - `Timeline`: every stored version of one resource type in a namespace, from a resourceVersion on (a watch).
 *   `catchUp(name)` writes a marker annotation and waits until the watch delivered it: every write before the
 *   marker has then been seen.
 * - `reconciles(logs, controller, name)`: how many reconciles of an object a controller has finished (the
 *   runtime logs one `reconciled` line per reconcile at debug level).
 */
import type { HttpClient } from '../../runtime/client/client.ts';
import { isGone } from '../../runtime/client/errors.ts';
import type { KubeObject, ResourceType } from '../../runtime/client/types.ts';

export const MARKER = 'contract-suite.provider-ts.io/marker';

export class Timeline {
  /** Every watch event but bookmarks, in the order the API server stored them. */
  readonly events: { type: string; obj: KubeObject }[] = [];
  private readonly client: HttpClient;
  private readonly resource: ResourceType;
  private readonly namespace: string;
  private readonly abort = new AbortController();
  private readonly running: Promise<void>;
  private failure: unknown;
  private markers = 0;

  private constructor(client: HttpClient, resource: ResourceType, namespace: string, from: string) {
    this.client = client;
    this.resource = resource;
    this.namespace = namespace;
    this.running = this.run(from);
  }

  /** Starts watching from now: objects created after this call are seen from their creation. */
  static async start(client: HttpClient, resource: ResourceType, namespace: string): Promise<Timeline> {
    const list = await client.list(resource, { namespace });
    return new Timeline(client, resource, namespace, list.metadata.resourceVersion!);
  }

  private async run(from: string): Promise<void> {
    let rv = from;
    while (!this.abort.signal.aborted) {
      try {
        for await (const ev of this.client.watch(this.resource, {
          namespace: this.namespace,
          resourceVersion: rv,
          allowWatchBookmarks: true,
          signal: this.abort.signal,
        })) {
          rv = ev.object?.metadata?.resourceVersion ?? rv;
          if (ev.type !== 'BOOKMARK') this.events.push({ type: ev.type, obj: ev.object });
        }
      } catch (err) {
        if (this.abort.signal.aborted) return;
        // A gap in the record would make every "never" below meaningless: fail instead of relisting.
        if (isGone(err)) {
          this.failure = err;
          return;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  /** Every stored version of one object (DELETED events included, last), oldest first. */
  versions(name: string): KubeObject[] {
    return this.events.filter((e) => e.obj.metadata.name === name).map((e) => e.obj);
  }

  /**
   * Writes a marker annotation on `name` and resolves once the watch has delivered that write: every write
   * stored before it has been recorded. Returns the marker's value.
   */
  async catchUp(name: string, timeoutMs = 30_000): Promise<string> {
    const value = String(++this.markers);
    const marked = await this.client.patch(this.resource, name, this.namespace, {
      type: 'merge',
      patch: { metadata: { annotations: { [MARKER]: value } } },
    });
    const rv = marked.metadata.resourceVersion;
    const deadline = Date.now() + timeoutMs;
    while (!this.events.some((e) => e.obj.metadata.resourceVersion === rv)) {
      if (this.failure) throw new Error(`the watch lost events: ${this.failure}`);
      if (Date.now() > deadline) throw new Error(`the watch did not deliver marker ${value} on ${name}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return value;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }
}

/** Finished reconciles of `namespace/name` by `controller`, counted from the manager's debug log lines. */
export function reconciles(logs: string[], controller: string, name: string, namespace?: string): number {
  let n = 0;
  for (const l of logs) {
    if (!l.includes('"msg":"reconciled"') || !l.includes(`"name":${JSON.stringify(name)}`)) continue;
    const rec = JSON.parse(l) as { controller?: string; name?: string; namespace?: string };
    if (rec.controller === controller && rec.name === name && (!namespace || rec.namespace === namespace))
      n++;
  }
  return n;
}
