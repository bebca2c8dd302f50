/**
 * Compute API errors (HTTP errors from the REST transport, and errors inside finished operations) →
 * BackendError reasons. Only the status, the reason and the API's message are kept: never the request (its
 * headers carry the bearer token). Messages pass through a redactor.
 */
import { BackendError, type BackendErrorReason } from '../../datum/backend.ts';

export interface ApiErrorInfo {
  /** HTTP status, when the error came from an HTTP answer. */
  status?: number;
  /** `errors[0].reason` (HTTP) or `errors[0].code` (operation), or a Node network code. */
  reason: string;
  message: string;
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
]);

/** Reads status, reason and message from a gaxios/gax error without touching its request. */
export function apiErrorInfo(err: unknown): ApiErrorInfo {
  const e = err as
    | { code?: unknown; status?: unknown; message?: unknown; cause?: { code?: unknown } }
    | undefined;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  let body: { error?: { code?: number; message?: string; errors?: { reason?: string }[]; status?: string } } =
    {};
  try {
    if (message.startsWith('{')) body = JSON.parse(message);
  } catch {}
  const status =
    typeof body.error?.code === 'number'
      ? body.error.code
      : typeof e?.status === 'number'
        ? e.status
        : typeof e?.code === 'number'
          ? e.code
          : undefined;
  const netCode = [e?.code, e?.cause?.code].find(
    (c): c is string => typeof c === 'string' && NETWORK_CODES.has(c),
  );
  const reason =
    body.error?.errors?.[0]?.reason ??
    netCode ??
    (/socket hang up|fetch failed|other side closed/i.test(message)
      ? 'ECONNRESET'
      : (body.error?.status ?? 'unknown'));
  return { status, reason, message: body.error?.message ?? message };
}

export const isNotFound = (err: unknown) => apiErrorInfo(err).status === 404;
export const isAlreadyExists = (err: unknown) => apiErrorInfo(err).status === 409;

export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('[redacted]');
  return out;
}

const THROTTLED = new Set(['rateLimitExceeded', 'userRateLimitExceeded', 'RATE_LIMIT_EXCEEDED']);
const QUOTA = new Set([
  'quotaExceeded',
  'QUOTA_EXCEEDED',
  'limitExceeded',
  'ZONE_RESOURCE_POOL_EXHAUSTED',
  'ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS',
  'REGION_QUOTA_EXCEEDED',
]);
const CREDENTIALS = new Set([
  'authError',
  'forbidden',
  'insufficientPermissions',
  'accessNotConfigured',
  'PERMISSIONS_ERROR',
  'FORBIDDEN',
  'UNAUTHENTICATED',
  'PERMISSION_DENIED',
]);
const IN_USE = new Set([
  'resourceInUseByAnotherResource',
  'resourceNotReady',
  'RESOURCE_IN_USE_BY_ANOTHER_RESOURCE',
  'RESOURCE_NOT_READY',
]);

/** Classifies an error; `op` names the API call. A BackendError passes through unchanged. */
export function toBackendError(err: unknown, op: string, secrets: readonly string[] = []): BackendError {
  if (err instanceof BackendError) return err;
  return classify(apiErrorInfo(err), op, secrets);
}

export function classify(info: ApiErrorInfo, op: string, secrets: readonly string[] = []): BackendError {
  const { status, reason } = info;
  const raw = info.message.slice(0, 400);
  const make = (r: BackendErrorReason, why: string, o: { retryable?: boolean; retryAfterMs?: number } = {}) =>
    new BackendError(r, redact(`${op}: ${why}`, secrets), { ...o, cause: { reason, status } });
  if (status === 429 || THROTTLED.has(reason))
    return make('Throttled', `throttled by the Compute API (${reason})`, { retryAfterMs: 5_000 });
  if (QUOTA.has(reason))
    return make('QuotaExceeded', `${reason}: ${raw}`, { retryable: true, retryAfterMs: 60_000 });
  if (status === 401 || status === 403 || CREDENTIALS.has(reason))
    return make(
      'CredentialsInvalid',
      `GCP rejected the credentials or their permissions (${reason}): ${raw.slice(0, 300)}`,
      {
        retryAfterMs: 60_000,
      },
    );
  if (IN_USE.has(reason)) return make('DependencyNotReady', `${reason}: ${raw}`, { retryAfterMs: 5_000 });
  if (status === 404 || reason === 'RESOURCE_NOT_FOUND' || reason === 'notFound')
    return make('NotFound', `${reason}: ${raw}`);
  if (
    status === 400 ||
    status === 409 ||
    status === 412 ||
    /^INVALID|BAD_REQUEST|RESOURCE_ALREADY_EXISTS|UNSUPPORTED/.test(reason)
  )
    return make('InvalidConfiguration', `${reason}: ${raw}`);
  return make('Transient', `${reason}${status ? ` (HTTP ${status})` : ''}: ${raw}`, { retryAfterMs: 2_000 });
}
