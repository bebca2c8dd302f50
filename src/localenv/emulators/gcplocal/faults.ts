/**
 * What the GCE fault proxy can do to a request, and the error bodies it answers with (the JSON error shape of
 * Google APIs: `{ error: { code, message, status, errors: [{ reason, domain, message }] } }`).
 */

import { FaultPlan, type FaultRuleOf } from '../fault-plan.ts';
export type GceFault =
  /** 429 `rateLimitExceeded` (RESOURCE_EXHAUSTED), what GCE answers when a per-minute API quota is spent. */
  | { kind: 'throttle' }
  /** 500 `backendError`. */
  | { kind: 'internalError' }
  /** 503 `backendError` (UNAVAILABLE). */
  | { kind: 'unavailable' }
  /** Any error, e.g. `{ status: 403, reason: 'quotaExceeded' }` or `{ status: 401, reason: 'authError' }`. */
  | { kind: 'error'; status: number; reason: string; message?: string }
  /** Serve the request (the side effect happens), then lose the answer: destroy the socket or answer 500. */
  | { kind: 'lostResponse'; mode?: 'destroy' | '500' }
  /** Accept a mutation, then end its operation DONE with this error and without the side effect. */
  | { kind: 'operationError'; code: string; message?: string; httpStatus?: number }
  /** Delay the request, then serve it. */
  | { kind: 'latency'; ms: number };

export type GceFaultRule = FaultRuleOf<GceFault>;

export interface JsonReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const STATUS_NAME: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  412: 'FAILED_PRECONDITION',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

export function gceError(status: number, reason: string, message: string): JsonReply {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=UTF-8' },
    body: JSON.stringify({
      error: {
        code: status,
        message,
        status: STATUS_NAME[status] ?? 'UNKNOWN',
        errors: [{ message, domain: status === 429 ? 'usageLimits' : 'global', reason }],
      },
    }),
  };
}

/** The reply for a fault that answers instead of the emulator; undefined for faults that serve the request. */
export function faultReply(fault: GceFault): JsonReply | undefined {
  switch (fault.kind) {
    case 'throttle':
      return gceError(429, 'rateLimitExceeded', "Quota exceeded for quota metric 'Queries' (rate limited)");
    case 'internalError':
      return gceError(500, 'backendError', 'Internal error. Please try again or contact Google Support.');
    case 'unavailable':
      return gceError(503, 'backendError', 'The service is currently unavailable.');
    case 'error':
      return gceError(fault.status, fault.reason, fault.message ?? fault.reason);
    default:
      return undefined;
  }
}

export function describeFault(f: GceFault): string {
  if (f.kind === 'error') return `error:${f.status}:${f.reason}`;
  if (f.kind === 'latency') return `latency:${f.ms}ms`;
  if (f.kind === 'lostResponse') return `lostResponse:${f.mode ?? 'destroy'}`;
  if (f.kind === 'operationError') return `operationError:${f.code}`;
  return f.kind;
}

/** Matches rules against one request and consumes their `times` budget (src/localenv/emulators/fault-plan.ts). */
export class GceFaultPlan extends FaultPlan<GceFault> {}
