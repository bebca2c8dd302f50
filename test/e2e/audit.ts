/**
 * Who wrote what, from the API server's audit log (the embedded environment writes one when DATUM_AUDIT_LOG is
 * set: every write to an Instance, at level RequestResponse, so each event carries the writer's user agent and
 * the version it stored). Every stored version of an Instance is the response of exactly one audited write, so
 * ordering them by resourceVersion gives the object's whole history with the writer of each version: a Ready
 * that differs from the version before was written by that version's writer. (A status write is a merge
 * patch of the whole, atomic conditions list, guarded by resourceVersion: whoever stores a different Ready
 * entry changed Ready.)
 */
import { readFileSync } from 'node:fs';
import type { Instance } from '../../src/datum/api/types.ts';
import type { Condition } from '../../src/runtime/client/types.ts';

export interface InstanceVersion {
  uid: string;
  name: string;
  resourceVersion: number;
  verb: string;
  subresource?: string;
  userAgent: string;
  obj: Instance;
}

interface AuditEvent {
  stage: string;
  verb: string;
  userAgent?: string;
  objectRef?: { resource?: string; subresource?: string; name?: string };
  responseStatus?: { code?: number };
  responseObject?: Instance;
}

/** Every stored version of every Instance, oldest first per object (a repeated version is kept once). */
export function instanceVersions(auditLogPath: string): InstanceVersion[] {
  const seen = new Set<string>();
  const out: InstanceVersion[] = [];
  for (const line of readFileSync(auditLogPath, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const ev = JSON.parse(line) as AuditEvent;
    const obj = ev.responseObject;
    const code = ev.responseStatus?.code ?? 0;
    if (ev.stage !== 'ResponseComplete' || ev.objectRef?.resource !== 'instances') continue;
    if (code < 200 || code >= 300 || obj?.kind !== 'Instance' || !obj.metadata.uid) continue;
    const key = `${obj.metadata.uid}@${obj.metadata.resourceVersion}`;
    if (seen.has(key)) continue; // e.g. the final DELETE answers with the last stored version
    seen.add(key);
    out.push({
      uid: obj.metadata.uid,
      name: obj.metadata.name!,
      resourceVersion: Number(obj.metadata.resourceVersion),
      verb: ev.verb,
      subresource: ev.objectRef.subresource,
      userAgent: ev.userAgent ?? '',
      obj,
    });
  }
  return out.sort((a, b) => a.uid.localeCompare(b.uid) || a.resourceVersion - b.resourceVersion);
}

const ready = (o: Instance | undefined) =>
  (o?.status?.conditions as Condition[] | undefined)?.find((c) => c.type === 'Ready');

/** Each version whose Ready differs from the version before (the creation counts as a change from nothing). */
export function readyChanges(
  versions: InstanceVersion[],
): { name: string; resourceVersion: number; userAgent: string; to: Condition | undefined }[] {
  const changes = [];
  let prev: InstanceVersion | undefined;
  for (const v of versions) {
    const before = prev?.uid === v.uid ? ready(prev.obj) : undefined;
    if (prev?.uid !== v.uid || JSON.stringify(before) !== JSON.stringify(ready(v.obj)))
      changes.push({
        name: v.name,
        resourceVersion: v.resourceVersion,
        userAgent: v.userAgent,
        to: ready(v.obj),
      });
    prev = v;
  }
  return changes;
}
