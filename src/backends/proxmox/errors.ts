/**
 * Client errors → BackendError reasons (the catalogue in docs/proxmox.md). Messages keep PVE's own words and
 * pass through the redactor: no token secret reaches an error, a log line or a condition.
 */
import { BackendError } from '../../datum/backend.ts';
import {
  ConnectError,
  ExchangeError,
  ProxmoxApiError,
  ProxmoxTaskError,
  redact,
  TlsVerificationError,
} from './client.ts';

const TRANSIENT_TEXT = /lock|got timeout|timed out|no quorum|cluster not ready|No route to host|try again/i;
const NOT_FOUND_TEXT = /does not exist|not found|no such/i;

export function isNotFound(err: unknown): boolean {
  if (err instanceof ProxmoxApiError)
    return err.status === 404 || (err.status === 500 && NOT_FOUND_TEXT.test(err.message));
  return err instanceof BackendError && err.reason === 'NotFound';
}

export function isAlreadyExists(err: unknown): boolean {
  return err instanceof ProxmoxApiError && /already exists/i.test(err.message);
}

export function toBackendError(err: unknown, op: string, secrets: readonly string[]): BackendError {
  if (err instanceof BackendError) return err;
  const msg = (why: string) => redact(`${op}: ${why}`, secrets);
  const cause = { code: (err as { name?: string })?.name ?? 'Error' };
  if (err instanceof TlsVerificationError)
    return new BackendError('InvalidConfiguration', msg(`${err.message} (check caBundle / fingerprint)`), {
      cause,
    });
  if (err instanceof ConnectError || err instanceof ExchangeError)
    return new BackendError('Transient', msg(`${err.message} (${err.code})`), { retryAfterMs: 2_000, cause });
  if (err instanceof ProxmoxTaskError)
    return TRANSIENT_TEXT.test(err.exitStatus)
      ? new BackendError('Transient', msg(err.message), { retryAfterMs: 3_000, cause })
      : new BackendError('InvalidConfiguration', msg(err.message), { cause });
  if (err instanceof ProxmoxApiError) {
    const words = err.pveMessage;
    if (err.status === 401)
      return new BackendError('CredentialsInvalid', msg(`PVE rejected the API token: ${words}`), {
        retryAfterMs: 60_000,
        cause,
      });
    if (err.status === 403)
      return new BackendError(
        'CredentialsInvalid',
        msg(`the API token lacks a privilege (see docs/proxmox.md for the role): ${words}`),
        { retryAfterMs: 60_000, cause },
      );
    if (err.status === 400) return new BackendError('InvalidConfiguration', msg(words), { cause });
    if (err.status === 404) return new BackendError('NotFound', msg(words), { cause });
    if (err.status === 429) return new BackendError('Throttled', msg(words), { retryAfterMs: 5_000, cause });
    if (err.status >= 500 && TRANSIENT_TEXT.test(words))
      return new BackendError('Transient', msg(words), { retryAfterMs: 3_000, cause });
    if (err.status === 500 && NOT_FOUND_TEXT.test(words))
      return new BackendError('NotFound', msg(words), { cause });
    if (err.status > 500) return new BackendError('Transient', msg(words), { retryAfterMs: 3_000, cause });
    // A 500 PVE raised with `die`: a refusal in its words, usually retried after a change.
    return new BackendError('Transient', msg(words), { retryAfterMs: 5_000, cause });
  }
  if ((err as Error)?.name === 'AbortError')
    return new BackendError('Transient', msg('cancelled'), { retryAfterMs: 1_000, cause });
  return new BackendError('Transient', msg(String((err as Error)?.message ?? err)), {
    retryAfterMs: 2_000,
    cause,
  });
}
