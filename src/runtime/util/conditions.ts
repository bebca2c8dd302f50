/**
 * metav1.Condition helpers. `setCondition` keeps lastTransitionTime when the status does not change (so
 * the time means "since when"), and `mergeConditions` lets a controller write only the types it owns while
 * keeping every other writer's conditions as the server has them.
 */
import type { Condition } from '../client/types.ts';

export type ConditionInput = Omit<Condition, 'lastTransitionTime'> & { lastTransitionTime?: string };

export function findCondition(conds: Condition[] | undefined, type: string): Condition | undefined {
  return conds?.find((c) => c.type === type);
}

export function isConditionTrue(conds: Condition[] | undefined, type: string): boolean {
  return findCondition(conds, type)?.status === 'True';
}

/** Returns a new list with `cond` set; `now` is used only when the status changes. */
export function setCondition(
  conds: Condition[] | undefined,
  cond: ConditionInput,
  now = new Date(),
): Condition[] {
  const list = [...(conds ?? [])];
  const i = list.findIndex((c) => c.type === cond.type);
  const prev = i >= 0 ? list[i] : undefined;
  const ltt =
    prev && prev.status === cond.status ? prev.lastTransitionTime : (cond.lastTransitionTime ?? rfc3339(now));
  const next: Condition = { ...cond, lastTransitionTime: ltt };
  if (i >= 0) list[i] = next;
  else list.push(next);
  return list;
}

/** Server conditions with the `owned` types replaced by ours (transition times preserved where unchanged). */
export function mergeConditions(
  server: Condition[] | undefined,
  ours: Condition[],
  owned: string[],
): Condition[] {
  let out = [...(server ?? [])];
  for (const type of owned) {
    const mine = ours.find((c) => c.type === type);
    if (mine) out = setCondition(out, mine);
  }
  return out;
}

/** True when the two lists differ in anything but ordering (of the list, and of each condition's keys). */
export function conditionsEqual(a: Condition[] | undefined, b: Condition[] | undefined): boolean {
  const norm = (l: Condition[] | undefined) =>
    JSON.stringify(
      [...(l ?? [])]
        .sort((x, y) => x.type.localeCompare(y.type))
        .map((c) => Object.fromEntries(Object.entries(c).sort(([x], [y]) => x.localeCompare(y)))),
    );
  return norm(a) === norm(b);
}

/** metav1.Time is RFC 3339 with second precision. */
export function rfc3339(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}
