/** The `Client` implementation: REST paths, content types and pagination on top of the transport. */
import type { ClusterConfig } from './config.ts';
import { ApiError, errorFromResponse, GoneError } from './errors.ts';
import type {
  Client,
  DeleteOptions,
  ListOptions,
  PatchBody,
  RequestOptions,
  WatchEvent,
  WatchOptions,
  WriteOptions,
} from './interface.ts';
import { Transport, type TransportOptions } from './transport.ts';
import type { KubeList, KubeObject, ResourceType } from './types.ts';
import { apiVersionOf } from './types.ts';

export type ClientOptions = TransportOptions;

const CONTENT_TYPES: Record<PatchBody['type'], string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
};
const META_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
const META_ONE = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';

export function resourcePath(
  r: ResourceType,
  namespace?: string,
  name?: string,
  subresource?: string,
): string {
  let p = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  if (r.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${r.plural}`;
  if (name !== undefined) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}

function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export class HttpClient implements Client {
  readonly transport: Transport;
  readonly config: ClusterConfig;

  constructor(config: ClusterConfig, opts: ClientOptions = {}) {
    this.config = config;
    this.transport = new Transport(config, opts);
  }

  private async json<T>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<T> {
    const res = await this.transport.send(method, path, {
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      signal,
    });
    const text = await res.body.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<T> {
    return this.json<T>(method, path, body, headers);
  }

  get<T extends KubeObject = KubeObject>(
    r: ResourceType,
    name: string,
    namespace?: string,
    opts: RequestOptions = {},
  ): Promise<T> {
    return this.json<T>('GET', resourcePath(r, namespace, name), undefined, undefined, opts.signal);
  }

  /** Lists every page; the returned resourceVersion is the list's snapshot version. */
  async list<T extends KubeObject = KubeObject>(
    r: ResourceType,
    opts: ListOptions = {},
  ): Promise<KubeList<T>> {
    const items: T[] = [];
    let cont: string | undefined;
    let last: KubeList<T> | undefined;
    do {
      const q = query({
        labelSelector: opts.labelSelector,
        fieldSelector: opts.fieldSelector,
        limit: opts.limit ?? 500,
        continue: cont,
        resourceVersion: cont ? undefined : opts.resourceVersion,
        resourceVersionMatch: cont ? undefined : opts.resourceVersionMatch,
      });
      last = await this.json<KubeList<T>>(
        'GET',
        resourcePath(r, opts.namespace) + q,
        undefined,
        opts.metadataOnly ? { accept: META_LIST } : undefined,
      );
      items.push(...(last.items ?? []));
      cont = last.metadata?.continue || undefined;
    } while (cont);
    return {
      apiVersion: last.apiVersion,
      kind: last.kind,
      metadata: { resourceVersion: last.metadata?.resourceVersion },
      items,
    };
  }

  /** Metadata-only GET (PartialObjectMetadata). */
  getMetadata<T extends KubeObject>(r: ResourceType, name: string, namespace?: string): Promise<T> {
    return this.json<T>('GET', resourcePath(r, namespace, name), undefined, { accept: META_ONE });
  }

  create<T extends KubeObject = KubeObject>(
    r: ResourceType,
    obj: KubeObject,
    opts: WriteOptions = {},
  ): Promise<T> {
    const body = { apiVersion: apiVersionOf(r), kind: r.kind, ...obj };
    const path = resourcePath(r, obj.metadata.namespace) + writeQuery(opts);
    return this.json<T>('POST', path, body, undefined, opts.signal);
  }

  update<T extends KubeObject = KubeObject>(
    r: ResourceType,
    obj: KubeObject,
    opts: WriteOptions = {},
  ): Promise<T> {
    return this.put<T>(r, obj, opts);
  }

  updateStatus<T extends KubeObject = KubeObject>(
    r: ResourceType,
    obj: KubeObject,
    opts: WriteOptions = {},
  ): Promise<T> {
    return this.put<T>(r, obj, opts, 'status');
  }

  private put<T>(r: ResourceType, obj: KubeObject, opts: WriteOptions, subresource?: string): Promise<T> {
    const body = { apiVersion: apiVersionOf(r), kind: r.kind, ...obj };
    const path = resourcePath(r, obj.metadata.namespace, obj.metadata.name, subresource) + writeQuery(opts);
    return this.json<T>('PUT', path, body, undefined, opts.signal);
  }

  patch<T extends KubeObject = KubeObject>(
    r: ResourceType,
    name: string,
    namespace: string | undefined,
    body: PatchBody,
    opts: WriteOptions & { subresource?: string } = {},
  ): Promise<T> {
    let patch = body.patch;
    const q: Record<string, string | boolean | undefined> = { dryRun: opts.dryRun ? 'All' : undefined };
    if (body.type === 'apply') {
      patch = { apiVersion: apiVersionOf(r), kind: r.kind, ...(body.patch as object) };
      q.fieldManager = body.fieldManager;
      q.force = body.force ? true : undefined;
    } else {
      q.fieldManager = opts.fieldManager;
    }
    const path = resourcePath(r, namespace, name, opts.subresource) + query(q);
    return this.json<T>('PATCH', path, patch, { 'content-type': CONTENT_TYPES[body.type] }, opts.signal);
  }

  patchStatus<T extends KubeObject = KubeObject>(
    r: ResourceType,
    name: string,
    namespace: string | undefined,
    body: PatchBody,
    opts: WriteOptions = {},
  ): Promise<T> {
    return this.patch<T>(r, name, namespace, body, { ...opts, subresource: 'status' });
  }

  async delete(r: ResourceType, name: string, namespace?: string, opts: DeleteOptions = {}): Promise<void> {
    const body: Record<string, unknown> = { apiVersion: 'v1', kind: 'DeleteOptions' };
    if (opts.propagationPolicy) body.propagationPolicy = opts.propagationPolicy;
    if (opts.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = opts.gracePeriodSeconds;
    if (opts.preconditions) body.preconditions = opts.preconditions;
    await this.json('DELETE', resourcePath(r, namespace, name), body);
  }

  /**
   * One watch request as an async iterable. Ends when the server closes the stream (timeoutSeconds). An
   * in-stream 410 ERROR, like an HTTP 410, is thrown as GoneError; other ERROR events as ApiError.
   */
  async *watch<T extends KubeObject>(r: ResourceType, opts: WatchOptions = {}): AsyncIterable<WatchEvent<T>> {
    const q = query({
      watch: true,
      labelSelector: opts.labelSelector,
      fieldSelector: opts.fieldSelector,
      resourceVersion: opts.resourceVersion,
      allowWatchBookmarks: opts.allowWatchBookmarks ?? true,
      timeoutSeconds: opts.timeoutSeconds,
    });
    // Idle guard: the server must send something (an event or a bookmark) well within its own timeout.
    const idleMs = ((opts.timeoutSeconds ?? 300) + 30) * 1000;
    const res = await this.transport.send('GET', resourcePath(r, opts.namespace) + q, {
      stream: true,
      signal: opts.signal,
      bodyTimeoutMs: idleMs,
      headers: opts.metadataOnly ? { accept: META_ONE } : undefined,
    });
    let buf = '';
    // One decoder for the whole stream: a multi-byte character split across two chunks must not be decoded
    // half by half (that turned non-ASCII text in watched objects into U+FFFD).
    const utf8 = new TextDecoder('utf-8');
    try {
      for await (const chunk of res.body) {
        buf += typeof chunk === 'string' ? chunk : utf8.decode(chunk as Uint8Array, { stream: true });
        let nl = buf.indexOf('\n');
        while (nl >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          nl = buf.indexOf('\n');
          if (!line) continue;
          const ev = JSON.parse(line) as WatchEvent<T>;
          if (ev.type === 'ERROR') {
            const st = ev.object as unknown as { code?: number };
            const err = errorFromResponse(st.code ?? 500, ev.object);
            throw err.status === 410 ? new GoneError(410, err.reason, err.message) : err;
          }
          yield ev;
        }
      }
    } finally {
      res.body.destroy();
    }
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}

function writeQuery(opts: WriteOptions): string {
  return query({ fieldManager: opts.fieldManager, dryRun: opts.dryRun ? 'All' : undefined });
}

export function createClient(config: ClusterConfig, opts: ClientOptions = {}): HttpClient {
  return new HttpClient(config, opts);
}

/** Re-reads and retries `fn` while it fails with a 409 Conflict (optimistic concurrency). */
export async function retryOnConflict<T>(fn: () => Promise<T>, opts: { attempts?: number } = {}): Promise<T> {
  const attempts = opts.attempts ?? 5;
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (
        !(err instanceof ApiError) ||
        err.status !== 409 ||
        err.reason === 'AlreadyExists' ||
        i + 1 >= attempts
      )
        throw err;
      await new Promise((r) => setTimeout(r, 10 * 2 ** i));
    }
  }
}
