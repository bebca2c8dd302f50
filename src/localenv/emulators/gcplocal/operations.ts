/**
 * Long-running operations as GCE has them, which gcplocal lacks (it answers every mutation with an operation
 * already DONE): each operation goes PENDING → RUNNING → DONE over time, `wait` blocks until DONE (or a cap),
 * and a mutation's side effect can be deferred to the moment its operation completes (deletes).
 */
import { randomUUID } from 'node:crypto';

export interface OpScope {
  zone?: string;
  region?: string;
}

export interface OpTiming {
  /** Milliseconds the operation stays PENDING. */
  pendingMs: number;
  /** Milliseconds until DONE (from creation). */
  doneMs: number;
}

interface OpRecord {
  name: string;
  id: string;
  project: string;
  scope: OpScope;
  operationType: string;
  targetLink: string;
  created: number;
  timing: OpTiming;
  error?: { code: string; message: string; httpStatus: number };
  done: boolean;
  finished: Promise<void>;
  endTime?: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

export class OperationStore {
  private readonly ops = new Map<string, OpRecord>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private origin = '';

  setOrigin(origin: string): void {
    this.origin = origin;
  }

  /**
   * Starts an operation. `effect` runs when it completes (before it reads DONE); an effect that throws ends
   * the operation with an internal error.
   */
  start(o: {
    project: string;
    scope: OpScope;
    operationType: string;
    targetLink: string;
    timing: OpTiming;
    effect?: () => Promise<void>;
    error?: { code: string; message: string; httpStatus: number };
  }): OpRecord {
    const name = `operation-${Date.now()}-${randomUUID().slice(0, 8)}`;
    let resolve!: () => void;
    const rec: OpRecord = {
      name,
      id: String(BigInt(`0x${randomUUID().replace(/-/g, '').slice(0, 15)}`)),
      project: o.project,
      scope: o.scope,
      operationType: o.operationType,
      targetLink: o.targetLink,
      created: Date.now(),
      timing: o.timing,
      error: o.error,
      done: false,
      finished: new Promise<void>((r) => {
        resolve = r;
      }),
    };
    this.ops.set(this.key(o.project, o.scope, name), rec);
    const finish = async () => {
      try {
        if (!rec.error) await o.effect?.();
      } catch (err) {
        rec.error = { code: 'INTERNAL_ERROR', message: String((err as Error).message), httpStatus: 500 };
      }
      rec.done = true;
      rec.endTime = Date.now();
      resolve();
    };
    if (o.timing.doneMs <= 0) void finish();
    else {
      const t = setTimeout(() => {
        this.timers.delete(t);
        void finish();
      }, o.timing.doneMs);
      this.timers.add(t);
    }
    return rec;
  }

  get(project: string, scope: OpScope, name: string): OpRecord | undefined {
    return this.ops.get(this.key(project, scope, name));
  }

  /** Blocks until the operation is DONE or `capMs` passed (GCE's `wait` returns after at most ~2 minutes). */
  async wait(rec: OpRecord, capMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      rec.finished,
      new Promise<void>((r) => {
        timer = setTimeout(r, capMs);
      }),
    ]);
    clearTimeout(timer);
  }

  status(rec: OpRecord): 'PENDING' | 'RUNNING' | 'DONE' {
    if (rec.done) return 'DONE';
    return Date.now() - rec.created < rec.timing.pendingMs ? 'PENDING' : 'RUNNING';
  }

  /** The operation resource as GCE returns it. */
  toJson(rec: OpRecord): Record<string, unknown> {
    const status = this.status(rec);
    const base = `${this.origin}/compute/v1/projects/${rec.project}`;
    const where = rec.scope.zone
      ? `/zones/${rec.scope.zone}`
      : rec.scope.region
        ? `/regions/${rec.scope.region}`
        : '/global';
    const out: Record<string, unknown> = {
      kind: 'compute#operation',
      id: rec.id,
      name: rec.name,
      operationType: rec.operationType,
      targetLink: rec.targetLink,
      status,
      progress: status === 'DONE' ? 100 : status === 'RUNNING' ? 50 : 0,
      insertTime: iso(rec.created),
      selfLink: `${base}${where}/operations/${rec.name}`,
    };
    if (status !== 'PENDING') out.startTime = iso(rec.created + rec.timing.pendingMs);
    if (rec.scope.zone) out.zone = `${base}/zones/${rec.scope.zone}`;
    if (rec.scope.region) out.region = `${base}/regions/${rec.scope.region}`;
    if (status === 'DONE') {
      out.endTime = iso(rec.endTime ?? Date.now());
      if (rec.error) {
        out.httpErrorStatusCode = rec.error.httpStatus;
        out.error = { errors: [{ code: rec.error.code, message: rec.error.message }] };
      }
    }
    return out;
  }

  clear(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.ops.clear();
  }

  private key(project: string, scope: OpScope, name: string): string {
    return `${project}/${scope.zone ?? ''}/${scope.region ?? ''}/${name}`;
  }
}
