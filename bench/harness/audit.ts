/**
 * Counts the subject's API requests from the API server's audit log (JSON lines, Metadata level, only the
 * subject's user recorded). `mark()` remembers where the log ends; `since(mark)` counts what came after.
 * A request is counted once, by audit ID (a watch logs ResponseStarted and later ResponseComplete).
 */
import { closeSync, existsSync, fstatSync, openSync, readSync, rmSync } from 'node:fs';

export interface RequestCounts {
  total: number;
  /** create, update, patch, delete: what changes stored state (Events included). */
  writes: number;
  byVerb: Record<string, number>;
  /** `verb resource` (with `/subresource`), e.g. `patch instances/status`. */
  byResource: Record<string, number>;
}

const WRITES = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

export class AuditCounter {
  readonly path: string;
  constructor(path: string) {
    this.path = path;
  }

  /** The end of the last complete line (the API server may be half-way through writing the next). */
  mark(): number {
    if (!existsSync(this.path)) return 0;
    const size = fstatSize(this.path);
    const tail = Math.min(size, 1 << 20);
    const buf = readRange(this.path, size - tail, size);
    return size - tail + buf.lastIndexOf(10) + 1;
  }

  since(from: number, to = this.mark()): RequestCounts {
    const out: RequestCounts = { total: 0, writes: 0, byVerb: {}, byResource: {} };
    if (to <= from) return out;
    const buf = readRange(this.path, from, to);
    const seen = new Set<string>();
    for (const line of buf.toString('utf8').split('\n')) {
      if (!line) continue;
      let e: { auditID: string; verb: string; objectRef?: { resource?: string; subresource?: string } };
      try {
        e = JSON.parse(line);
      } catch {
        continue;
      }
      if (seen.has(e.auditID)) continue;
      seen.add(e.auditID);
      out.total++;
      if (WRITES.has(e.verb)) out.writes++;
      out.byVerb[e.verb] = (out.byVerb[e.verb] ?? 0) + 1;
      const r = e.objectRef?.resource ?? '(none)';
      const key = `${e.verb} ${r}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''}`;
      out.byResource[key] = (out.byResource[key] ?? 0) + 1;
    }
    return out;
  }

  remove(): void {
    rmSync(this.path, { force: true });
  }
}

function fstatSize(path: string): number {
  const fd = openSync(path, 'r');
  try {
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}

function readRange(path: string, from: number, to: number): Buffer {
  const fd = openSync(path, 'r');
  const buf = Buffer.alloc(to - from);
  try {
    readSync(fd, buf, 0, buf.length, from);
  } finally {
    closeSync(fd);
  }
  return buf;
}
