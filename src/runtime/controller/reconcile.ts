/**
 * The reconcile contract: a request names one object in one cluster; the reconciler converges the world
 * towards it and returns when (if ever) it wants to run again. It never learns which event woke it.
 */
import type { Logger } from '../log/logger.ts';

export interface Request {
  /** The name of the engaged cluster the object lives in (the project name in Datum; 'single' by default). */
  cluster: string;
  namespace?: string;
  name: string;
}

export interface Result {
  /** Run again after this many milliseconds, even if nothing changes (a resync; not counted as a retry). */
  requeueAfter?: number;
  /** Run again soon with the per-item backoff (counted as a retry); `requeueAfter` wins when both are set. */
  requeue?: boolean;
}

export interface ReconcileContext {
  log: Logger;
  /** A unique id for this reconcile, in every log line it writes. */
  reconcileId: string;
  /** Aborted when the manager shuts down; long backend waits should honour it. */
  signal: AbortSignal;
}

export interface Reconciler {
  reconcile(req: Request, ctx: ReconcileContext): Promise<Result | undefined | void>;
}

/** An error that retrying cannot fix: logged, counted, not requeued. */
export class TerminalError extends Error {
  override readonly name = 'TerminalError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export function isTerminalError(err: unknown): err is TerminalError {
  return err instanceof TerminalError || (err instanceof Error && err.name === 'TerminalError');
}

export function requestKey(r: Request): string {
  return `${r.cluster}/${r.namespace ?? ''}/${r.name}`;
}
