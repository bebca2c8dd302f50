/** Owner references: who owns an object, and setting them the way controllerutil does. */
import type { KubeObject, OwnerReference } from '../client/types.ts';

export function ownerRefFor(
  owner: KubeObject,
  opts: { controller?: boolean; blockOwnerDeletion?: boolean } = {},
): OwnerReference {
  if (!owner.apiVersion || !owner.kind || !owner.metadata.uid)
    throw new Error('owner must have apiVersion, kind and uid');
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name!,
    uid: owner.metadata.uid,
    controller: opts.controller,
    blockOwnerDeletion: opts.blockOwnerDeletion,
  };
}

/** Adds or replaces the owner reference for `owner` (matched by uid). */
export function setOwnerReference<T extends KubeObject>(
  obj: T,
  owner: KubeObject,
  opts: { blockOwnerDeletion?: boolean } = {},
): T {
  const ref = ownerRefFor(owner, opts);
  const refs = (obj.metadata.ownerReferences ?? []).filter((r) => r.uid !== ref.uid);
  obj.metadata.ownerReferences = [...refs, ref];
  return obj;
}

/** Sets `owner` as the controller; refuses if another object already controls `obj`. */
export function setControllerReference<T extends KubeObject>(obj: T, owner: KubeObject): T {
  const existing = getControllerOf(obj);
  if (existing && existing.uid !== owner.metadata.uid) {
    throw new Error(`${obj.metadata.name} is already controlled by ${existing.kind} ${existing.name}`);
  }
  const ref = ownerRefFor(owner, { controller: true, blockOwnerDeletion: true });
  obj.metadata.ownerReferences = [
    ...(obj.metadata.ownerReferences ?? []).filter((r) => r.uid !== ref.uid),
    ref,
  ];
  return obj;
}

export function getControllerOf(obj: KubeObject): OwnerReference | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller);
}
