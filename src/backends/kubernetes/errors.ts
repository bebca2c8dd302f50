/**
 * Downstream API failures → BackendError reasons. Called after the client's own retries gave up, so every
 * retryable error carries a hint for the reconciler's next attempt. Messages never carry the kubeconfig.
 */
import { BackendError, type BackendErrorReason } from '../../datum/backend.ts';
import {
  ApiError,
  ConflictError,
  ExecCredentialError,
  ForbiddenError,
  InvalidError,
  KubeconfigError,
  NotFoundError,
  ServerError,
  TooManyRequestsError,
  TransportError,
  UnauthorizedError,
} from '../../runtime/client/errors.ts';

export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('[redacted]');
  return out;
}

/** Classifies an error; `op` names the call (e.g. `create Pod datum-x/inst-1`). BackendErrors pass through. */
export function toBackendError(err: unknown, op: string, secrets: readonly string[] = []): BackendError {
  if (err instanceof BackendError) return err;
  const raw = err instanceof Error ? err.message : String(err);
  const make = (
    reason: BackendErrorReason,
    why: string,
    o: { retryable?: boolean; retryAfterMs?: number } = {},
  ) =>
    new BackendError(reason, redact(`${op}: ${why}`, secrets).slice(0, 600), {
      ...o,
      cause: err instanceof ApiError ? { status: err.status, reason: err.reason } : undefined,
    });
  if (err instanceof TooManyRequestsError)
    return make('Throttled', `throttled by the downstream API server (HTTP 429)`, {
      retryAfterMs: err.retryAfterMs ?? 2_000,
    });
  if (err instanceof ForbiddenError && /being terminated/.test(raw))
    return make('DependencyNotReady', raw, { retryAfterMs: 5_000 });
  // Admission refusals answer 403 too: they are about the object, not the credentials.
  if (err instanceof ForbiddenError && /exceeded quota|status unknown for quota/.test(raw))
    return make('QuotaExceeded', raw, { retryAfterMs: 60_000 });
  if (err instanceof ForbiddenError && /violates PodSecurity/.test(raw))
    return make('InvalidConfiguration', raw);
  if (err instanceof UnauthorizedError || err instanceof ForbiddenError)
    return make(
      'CredentialsInvalid',
      `the downstream cluster rejected the kubeconfig or its permissions (HTTP ${err.status}): ${raw.slice(0, 300)}`,
      { retryAfterMs: 60_000 },
    );
  if (err instanceof InvalidError) return make('InvalidConfiguration', raw);
  if (err instanceof NotFoundError) return make('NotFound', raw);
  if (err instanceof ConflictError) return make('Transient', raw, { retryAfterMs: 500 });
  if (err instanceof ServerError)
    return make('Transient', `HTTP ${err.status}: ${raw}`, { retryAfterMs: 2_000 });
  if (err instanceof TransportError)
    return make('Transient', `downstream API server unreachable: ${raw}`, { retryAfterMs: 2_000 });
  if (err instanceof KubeconfigError || err instanceof ExecCredentialError)
    return make('CredentialsInvalid', raw);
  return make('Transient', raw, { retryAfterMs: 2_000 });
}
