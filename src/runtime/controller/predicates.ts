/** Event filters, as controller-runtime's predicates: return false to ignore an event. */

import { selectorMatches } from '../cache/selector.ts';
import type { KubeObject } from '../client/types.ts';

export interface WatchEventInfo<T extends KubeObject = KubeObject> {
  type: 'create' | 'update' | 'delete';
  obj: T;
  old?: T;
}

export type Predicate<T extends KubeObject = KubeObject> = (ev: WatchEventInfo<T>) => boolean;

/** Passes creates, deletes and updates that change `metadata.generation` (spec changes), or a deletion start. */
export const generationChanged: Predicate = (ev) =>
  ev.type !== 'update' ||
  ev.old?.metadata.generation !== ev.obj.metadata.generation ||
  (!ev.old?.metadata.deletionTimestamp && !!ev.obj.metadata.deletionTimestamp);

export const resourceVersionChanged: Predicate = (ev) =>
  ev.type !== 'update' || ev.old?.metadata.resourceVersion !== ev.obj.metadata.resourceVersion;

export const labelsChanged: Predicate = (ev) =>
  ev.type !== 'update' ||
  JSON.stringify(ev.old?.metadata.labels ?? {}) !== JSON.stringify(ev.obj.metadata.labels ?? {});

export const annotationsChanged: Predicate = (ev) =>
  ev.type !== 'update' ||
  JSON.stringify(ev.old?.metadata.annotations ?? {}) !== JSON.stringify(ev.obj.metadata.annotations ?? {});

/** Like annotationsChanged, blind to `ignored` keys (a controller's own bookkeeping should not wake it). */
export function annotationsChangedIgnoring(...ignored: string[]): Predicate {
  const rest = (a: Record<string, string> | undefined) =>
    JSON.stringify(Object.entries(a ?? {}).filter(([k]) => !ignored.includes(k)));
  return (ev) =>
    ev.type !== 'update' || rest(ev.old?.metadata.annotations) !== rest(ev.obj.metadata.annotations);
}

export function labelSelector(selector: string): Predicate {
  return (ev) => selectorMatches(selector, ev.obj.metadata.labels);
}

export const and =
  (...ps: Predicate[]): Predicate =>
  (ev) =>
    ps.every((p) => p(ev));
export const or =
  (...ps: Predicate[]): Predicate =>
  (ev) =>
    ps.some((p) => p(ev));
export const not =
  (p: Predicate): Predicate =>
  (ev) =>
    !p(ev);
