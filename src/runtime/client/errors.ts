/**
 * Typed API errors. The API server answers failures with a `Status` object; we map its HTTP code and reason
 * onto one class each so callers branch with `isNotFound(err)` instead of parsing text.
 */

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  readonly reason: string;
  readonly details?: StatusDetails;
  constructor(status: number, reason: string, message: string, details?: StatusDetails) {
    super(message);
    this.status = status;
    this.reason = reason;
    this.details = details;
  }
}

export class NotFoundError extends ApiError {
  override name = 'NotFoundError';
}
export class AlreadyExistsError extends ApiError {
  override name = 'AlreadyExistsError';
}
export class ConflictError extends ApiError {
  override name = 'ConflictError';
}
export class GoneError extends ApiError {
  override name = 'GoneError';
}
export class ForbiddenError extends ApiError {
  override name = 'ForbiddenError';
}
export class UnauthorizedError extends ApiError {
  override name = 'UnauthorizedError';
}
export class InvalidError extends ApiError {
  override name = 'InvalidError';
}
export class ServerError extends ApiError {
  override name = 'ServerError';
}
export class TooManyRequestsError extends ApiError {
  override name = 'TooManyRequestsError';
  readonly retryAfterMs?: number;
  constructor(
    status: number,
    reason: string,
    message: string,
    details?: StatusDetails,
    retryAfterMs?: number,
  ) {
    super(status, reason, message, details);
    this.retryAfterMs = retryAfterMs;
  }
}

/** A request that never got an HTTP answer (connection refused, reset, timeout). */
export class TransportError extends Error {
  override name = 'TransportError';
  readonly code?: string;
  constructor(message: string, code?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** A kubeconfig that cannot be used as written: missing, malformed, or asking for something we refuse. */
export class KubeconfigError extends Error {
  override name = 'KubeconfigError';
}

/**
 * An exec credential plugin that failed, hung or printed something other than an ExecCredential. One line,
 * naming the command; never the plugin's output (it may hold a token).
 */
export class ExecCredentialError extends Error {
  override name = 'ExecCredentialError';
}

interface StatusBody {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: StatusDetails;
}

/** Builds the typed error for an HTTP failure from its status code, body and Retry-After header. */
export function errorFromResponse(status: number, body: unknown, retryAfterHeader?: string | null): ApiError {
  const s: StatusBody = typeof body === 'object' && body !== null ? (body as StatusBody) : {};
  const text = typeof body === 'string' ? body.slice(0, 500) : '';
  const reason = s.reason ?? '';
  const message = s.message ?? (text || `HTTP ${status}`);
  const details = s.details;
  if (status === 404) return new NotFoundError(status, reason || 'NotFound', message, details);
  if (status === 409 && reason === 'AlreadyExists')
    return new AlreadyExistsError(status, reason, message, details);
  if (status === 409) return new ConflictError(status, reason || 'Conflict', message, details);
  if (status === 410) return new GoneError(status, reason || 'Expired', message, details);
  if (status === 403) return new ForbiddenError(status, reason || 'Forbidden', message, details);
  if (status === 401) return new UnauthorizedError(status, reason || 'Unauthorized', message, details);
  if (status === 422 || status === 400)
    return new InvalidError(status, reason || 'Invalid', message, details);
  if (status === 429) {
    return new TooManyRequestsError(
      status,
      reason || 'TooManyRequests',
      message,
      details,
      retryAfterMs(retryAfterHeader, details),
    );
  }
  return new ServerError(status, reason || 'InternalError', message, details);
}

function retryAfterMs(header: string | null | undefined, details?: StatusDetails): number | undefined {
  if (header) {
    const secs = Number(header);
    if (Number.isFinite(secs)) return secs * 1000;
    const date = Date.parse(header);
    if (Number.isFinite(date)) return Math.max(0, date - Date.now());
  }
  if (details?.retryAfterSeconds !== undefined) return details.retryAfterSeconds * 1000;
  return undefined;
}

export const isNotFound = (e: unknown): e is NotFoundError => e instanceof NotFoundError;
export const isAlreadyExists = (e: unknown): e is AlreadyExistsError => e instanceof AlreadyExistsError;
export const isConflict = (e: unknown): e is ConflictError => e instanceof ConflictError;
export const isGone = (e: unknown): e is GoneError => e instanceof GoneError;
export const isForbidden = (e: unknown): e is ForbiddenError => e instanceof ForbiddenError;
export const isInvalid = (e: unknown): e is InvalidError => e instanceof InvalidError;
export const isTooManyRequests = (e: unknown): e is TooManyRequestsError => e instanceof TooManyRequestsError;
export const isTransport = (e: unknown): e is TransportError => e instanceof TransportError;
