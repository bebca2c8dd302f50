/**
 * The one place that maps what a reconcile did onto the queue and the metrics, as controller-runtime does.
 *   success              -> forget backoff                          result=success
 *   requeueAfter > 0     -> forget backoff, add after the delay     result=requeue_after  (a planned resync)
 *   requeue: true        -> retry with per-item backoff             result=requeue        (+ workqueue retry)
 *   TerminalError        -> forget, not retried                     result=error (+terminal)
 *   error / panic        -> retry with per-item backoff             result=error (+panic, + workqueue retry)
 * An error carrying `retryAfterMs` (throttling) waits at least that long. Only the backoff paths count in
 * `workqueue_retries_total`: a periodic resync is not a retry and must not inflate retry alerts.
 */
import type { ReconcileResult, RuntimeMetrics } from '../metrics/metrics.ts';
import type { WorkQueue } from '../queue/workqueue.ts';
import { isTerminalError, type Result } from './reconcile.ts';

export type Outcome =
  | { kind: 'ok'; result?: Result | undefined | void }
  | { kind: 'error'; error: unknown; panic?: boolean };

export type QueueAction =
  | { action: 'forget' }
  | { action: 'requeueAfter'; ms: number }
  | { action: 'backoff'; minMs?: number };

export function decide(outcome: Outcome): {
  queue: QueueAction;
  result: ReconcileResult;
  terminal: boolean;
} {
  if (outcome.kind === 'ok') {
    const after = outcome.result?.requeueAfter;
    if (after && after > 0)
      return { queue: { action: 'requeueAfter', ms: after }, result: 'requeue_after', terminal: false };
    if (outcome.result?.requeue) return { queue: { action: 'backoff' }, result: 'requeue', terminal: false };
    return { queue: { action: 'forget' }, result: 'success', terminal: false };
  }
  if (isTerminalError(outcome.error)) return { queue: { action: 'forget' }, result: 'error', terminal: true };
  const hint = (outcome.error as { retryAfterMs?: unknown })?.retryAfterMs;
  return {
    queue: { action: 'backoff', minMs: typeof hint === 'number' ? hint : undefined },
    result: 'error',
    terminal: false,
  };
}

export function applyOutcome(
  key: string,
  outcome: Outcome,
  queue: WorkQueue<string>,
  metrics: RuntimeMetrics | undefined,
  controller: string,
): ReturnType<typeof decide> {
  const d = decide(outcome);
  switch (d.queue.action) {
    case 'forget':
      queue.forget(key);
      break;
    case 'requeueAfter':
      queue.forget(key);
      queue.addAfter(key, d.queue.ms);
      break;
    case 'backoff':
      queue.addRateLimited(key, { minMs: d.queue.minMs });
      break;
  }
  if (metrics) {
    metrics.reconcileTotal.inc({ controller, result: d.result });
    if (d.result === 'error') metrics.reconcileErrors.inc({ controller });
    if (d.terminal) metrics.terminalErrors.inc({ controller });
    if (outcome.kind === 'error' && outcome.panic) metrics.reconcilePanics.inc({ controller });
  }
  return d;
}
