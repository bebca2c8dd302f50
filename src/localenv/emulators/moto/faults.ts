/**
 * What the fault proxy can do to a request, and the error bodies it answers with. EC2 (and IAM) speak the AWS
 * query protocol with XML errors; SSM speaks JSON 1.1 (`X-Amz-Target`), whose errors are JSON.
 */

import { randomUUID } from 'node:crypto';
import { type FaultRuleOf, FaultPlan as PlanOf } from '../fault-plan.ts';

export type Fault =
  /** 503 + `RequestLimitExceeded` (EC2's throttling code; `ThrottlingException` for JSON services). */
  | { kind: 'throttle' }
  /** 500 `InternalError`. */
  | { kind: 'internalError' }
  /** 503 `Unavailable`. */
  | { kind: 'unavailable' }
  /** Any error, e.g. `{ status: 400, code: 'InsufficientInstanceCapacity' }` or `AuthFailure` 401. */
  | { kind: 'error'; status: number; code: string; message?: string }
  /** Forward to moto (the side effect happens), then lose the answer: destroy the socket or answer 500. */
  | { kind: 'lostResponse'; mode?: 'destroy' | '500' }
  /** DescribeInstances answers as if nothing existed (eventual consistency right after a launch). */
  | { kind: 'staleRead' }
  /** Delay the request, then forward it. */
  | { kind: 'latency'; ms: number };

export type FaultRule = FaultRuleOf<Fault>;

export interface ErrorReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export function errorReply(status: number, code: string, message: string, json: boolean): ErrorReply {
  if (json) {
    return {
      status,
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': code },
      body: JSON.stringify({ __type: code, message }),
    };
  }
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return {
    status,
    headers: { 'content-type': 'text/xml;charset=UTF-8' },
    body:
      `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${esc(code)}</Code>` +
      `<Message>${esc(message)}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`,
  };
}

/** The reply for a fault that answers instead of moto; undefined for faults that forward. */
export function faultReply(fault: Fault, json: boolean): ErrorReply | undefined {
  switch (fault.kind) {
    case 'throttle':
      return json
        ? errorReply(400, 'ThrottlingException', 'Rate exceeded', true)
        : errorReply(503, 'RequestLimitExceeded', 'Request limit exceeded.', false);
    case 'internalError':
      return errorReply(500, 'InternalError', 'An internal error has occurred', json);
    case 'unavailable':
      return errorReply(503, 'Unavailable', 'The server is overloaded and cannot handle the request', json);
    case 'error':
      return errorReply(fault.status, fault.code, fault.message ?? fault.code, json);
    default:
      return undefined;
  }
}

export function describeFault(f: Fault): string {
  if (f.kind === 'error') return `error:${f.code}`;
  if (f.kind === 'latency') return `latency:${f.ms}ms`;
  if (f.kind === 'lostResponse') return `lostResponse:${f.mode ?? 'destroy'}`;
  return f.kind;
}

/** Matches rules against one request and consumes their `times` budget (src/localenv/emulators/fault-plan.ts). */
export class FaultPlan extends PlanOf<Fault> {}
