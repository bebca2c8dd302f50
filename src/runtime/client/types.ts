/**
 * Core object and resource types shared by every runtime module. Objects are plain JSON as the API server
 * sends them (timestamps stay strings); nothing is deserialized into classes.
 */

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
  managedFields?: unknown[];
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  // biome-ignore lint/suspicious/noExplicitAny: objects carry arbitrary spec/status shapes
  [key: string]: any;
}

export interface KubeList<T extends KubeObject = KubeObject> {
  apiVersion?: string;
  kind?: string;
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  items: T[];
}

/** metav1.Condition */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/**
 * Everything the client needs to address one kind: group/version/kind plus the REST plural and scope.
 * Resolved statically (no discovery round-trip) because an operator knows the kinds it serves.
 */
export interface ResourceType {
  group: string; // '' for the core group
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

export function apiVersionOf(r: ResourceType): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`;
}

/** A stable string key for a resource type, used for cache and metric maps. */
export function resourceKey(r: ResourceType): string {
  return `${r.plural}.${r.version}.${r.group}`;
}

/** namespace/name, or name for cluster-scoped objects: the key the cache and queue use. */
export function objectKey(o: { metadata: ObjectMeta } | { namespace?: string; name: string }): string {
  const m = 'metadata' in o ? o.metadata : o;
  return m.namespace ? `${m.namespace}/${m.name}` : `${m.name}`;
}
