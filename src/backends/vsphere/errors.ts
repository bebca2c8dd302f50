/**
 * vSphere errors → BackendError catalogue reasons (docs/vsphere.md lists the mapping). Messages go through the
 * redactor with every credential value, so nothing secret reaches a condition, an Event or a log line.
 */
import { BackendError, type BackendErrorReason } from '../../datum/backend.ts';
import {
  DuplicateName,
  InsufficientResourcesFault,
  InvalidArgument,
  InvalidLogin,
  InvalidState,
  ManagedObjectNotFound,
  NoPermission,
  NotAuthenticated,
  NotFound,
  NotSupported,
  ResourceInUse,
  TaskInProgress,
  TlsVerificationError,
  VimFault,
  VimTransportError,
} from './faults.ts';

export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('[redacted]');
  return out;
}

export function toBackendError(err: unknown, op: string, secrets: readonly string[] = []): BackendError {
  if (err instanceof BackendError) {
    const msg = redact(err.message, secrets);
    return msg === err.message
      ? err
      : new BackendError(err.reason, msg, { retryable: err.retryable, retryAfterMs: err.retryAfterMs });
  }
  const raw = err instanceof Error ? err.message : String(err);
  const make = (reason: BackendErrorReason, o: { retryable?: boolean; retryAfterMs?: number } = {}) =>
    new BackendError(reason, redact(`${op}: ${raw}`.slice(0, 600), secrets), {
      ...o,
      cause: { code: err instanceof VimFault ? err.faultType : (err as Error)?.name },
    });
  if (err instanceof InvalidLogin || err instanceof NotAuthenticated || err instanceof NoPermission)
    return make('CredentialsInvalid', { retryAfterMs: 60_000 });
  if (err instanceof VimTransportError && (err.status === 401 || err.status === 403))
    return make('CredentialsInvalid', { retryAfterMs: 60_000 });
  if (err instanceof TlsVerificationError) return make('InvalidConfiguration');
  if (err instanceof TaskInProgress || err instanceof InvalidState)
    return make('Transient', { retryable: true, retryAfterMs: 3_000 });
  if (err instanceof InsufficientResourcesFault)
    return make('QuotaExceeded', { retryable: true, retryAfterMs: 60_000 });
  if (err instanceof InvalidArgument) return make('InvalidConfiguration');
  if (err instanceof NotSupported) return make('Unsupported');
  if (err instanceof ManagedObjectNotFound || err instanceof NotFound) return make('NotFound');
  if (err instanceof ResourceInUse) return make('DependencyNotReady', { retryAfterMs: 2_000 });
  if (err instanceof DuplicateName) return make('Transient', { retryAfterMs: 2_000 });
  if (err instanceof VimTransportError) return make('Transient', { retryAfterMs: 2_000 });
  return make('Transient', { retryAfterMs: 2_000 });
}
