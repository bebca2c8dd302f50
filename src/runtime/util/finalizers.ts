/**
 * Finalizer helpers. Writes are JSON patches guarded by a `test` of the resourceVersion, so a concurrent
 * writer's finalizer list is never overwritten; a conflict surfaces as an error and the reconcile retries.
 */
import { ConflictError, isInvalid } from '../client/errors.ts';
import type { Client } from '../client/interface.ts';
import type { KubeObject, ResourceType } from '../client/types.ts';

export function hasFinalizer(obj: KubeObject, name: string): boolean {
  return obj.metadata.finalizers?.includes(name) ?? false;
}

export async function addFinalizer<T extends KubeObject>(
  client: Client,
  r: ResourceType,
  obj: T,
  name: string,
): Promise<T> {
  if (hasFinalizer(obj, name)) return obj;
  const ops = obj.metadata.finalizers
    ? [
        { op: 'test' as const, path: '/metadata/resourceVersion', value: obj.metadata.resourceVersion },
        { op: 'add' as const, path: '/metadata/finalizers/-', value: name },
      ]
    : [
        { op: 'test' as const, path: '/metadata/resourceVersion', value: obj.metadata.resourceVersion },
        { op: 'add' as const, path: '/metadata/finalizers', value: [name] },
      ];
  return guarded(
    client.patch<T>(r, obj.metadata.name!, obj.metadata.namespace, { type: 'json', patch: ops }),
  );
}

export async function removeFinalizer<T extends KubeObject>(
  client: Client,
  r: ResourceType,
  obj: T,
  name: string,
): Promise<T> {
  const i = obj.metadata.finalizers?.indexOf(name) ?? -1;
  if (i < 0) return obj;
  return guarded(
    client.patch<T>(r, obj.metadata.name!, obj.metadata.namespace, {
      type: 'json',
      patch: [
        { op: 'test', path: `/metadata/finalizers/${i}`, value: name },
        { op: 'remove', path: `/metadata/finalizers/${i}` },
      ],
    }),
  );
}

/**
 * A failed `test` op (the API server answers 422 "the server rejected our request due to an error in our
 * request") means our copy was stale: the same thing as a resourceVersion conflict, so report it as one.
 */
async function guarded<T>(write: Promise<T>): Promise<T> {
  try {
    return await write;
  } catch (err) {
    if (isInvalid(err) && err.status === 422 && !err.details?.causes?.length)
      throw new ConflictError(
        409,
        'Conflict',
        'the object changed since it was read; retrying with a fresh copy',
      );
    throw err;
  }
}
