/**
 * The client contract. The implementation (client.ts) talks to one API server over undici; every
 * method throws typed errors from errors.ts (NotFoundError, ConflictError, ...).
 */
import type { KubeList, KubeObject, ResourceType } from './types.ts';

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size; list() follows continue tokens until done. Default 500. */
  limit?: number;
  resourceVersion?: string;
  resourceVersionMatch?: 'Exact' | 'NotOlderThan';
  /** Ask for PartialObjectMetadataList (metadata-only) instead of full objects. */
  metadataOnly?: boolean;
}

export interface RequestOptions {
  /** Aborts the request, including the transport's retries (e.g. a lease renewal past its deadline). */
  signal?: AbortSignal;
}

export interface WriteOptions extends RequestOptions {
  fieldManager?: string;
  dryRun?: boolean;
}

export interface ApplyOptions extends WriteOptions {
  fieldManager: string;
  force?: boolean;
}

export interface DeleteOptions {
  propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
}

export type JsonPatchOp =
  | { op: 'add' | 'replace' | 'test'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'move' | 'copy'; from: string; path: string };

export type PatchBody =
  | { type: 'merge'; patch: unknown }
  | { type: 'json'; patch: JsonPatchOp[] }
  | { type: 'apply'; patch: unknown; fieldManager: string; force?: boolean };

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
  metadataOnly?: boolean;
  signal?: AbortSignal;
}

export interface WatchEvent<T extends KubeObject = KubeObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface Client {
  get<T extends KubeObject = KubeObject>(
    r: ResourceType,
    name: string,
    namespace?: string,
    opts?: RequestOptions,
  ): Promise<T>;
  list<T extends KubeObject = KubeObject>(r: ResourceType, opts?: ListOptions): Promise<KubeList<T>>;
  create<T extends KubeObject = KubeObject>(
    r: ResourceType,
    obj: KubeObject,
    opts?: WriteOptions,
  ): Promise<T>;
  update<T extends KubeObject = KubeObject>(
    r: ResourceType,
    obj: KubeObject,
    opts?: WriteOptions,
  ): Promise<T>;
  patch<T extends KubeObject = KubeObject>(
    r: ResourceType,
    name: string,
    namespace: string | undefined,
    body: PatchBody,
    opts?: WriteOptions & { subresource?: string },
  ): Promise<T>;
  delete(r: ResourceType, name: string, namespace?: string, opts?: DeleteOptions): Promise<void>;
  /** Status subresource. */
  updateStatus<T extends KubeObject = KubeObject>(
    r: ResourceType,
    obj: KubeObject,
    opts?: WriteOptions,
  ): Promise<T>;
  patchStatus<T extends KubeObject = KubeObject>(
    r: ResourceType,
    name: string,
    namespace: string | undefined,
    body: PatchBody,
    opts?: WriteOptions,
  ): Promise<T>;
  /** One watch request: an async iterable of events that ends when the server closes the stream. */
  watch<T extends KubeObject>(r: ResourceType, opts?: WatchOptions): AsyncIterable<WatchEvent<T>>;
  /** Raw request for anything not covered above (discovery, /readyz, CRD installs). */
  request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<T>;
}
