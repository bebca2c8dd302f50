/**
 * Create-or-adopt for calls that are not idempotent on the wire (CreateVpc, CreateInternetGateway, and
 * RunInstances where ClientToken is not honoured). The create runs without SDK retries; after a failure that
 * may have happened server-side (5xx, throttling, lost response), we look for the tagged result before trying
 * again, so a lost response never leaves a duplicate behind.
 */
import { BackendError } from '../../datum/backend.ts';
import type { AwsSession } from './clients.ts';

export interface CreateOrAdoptOptions<T> {
  what: string;
  lookup: () => Promise<T | undefined>;
  create: () => Promise<T>;
  attempts?: number;
  baseDelayMs?: number;
}

export async function createOrAdopt<T>(s: AwsSession, o: CreateOrAdoptOptions<T>): Promise<T> {
  const attempts = o.attempts ?? Math.max(2, s.settings.maxAttempts);
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    if (i > 0) {
      const found = await o.lookup();
      if (found !== undefined) {
        s.log.info('adopted a resource created by an earlier attempt', { what: o.what, attempt: i + 1 });
        return found;
      }
      const hint = last instanceof BackendError ? (last.retryAfterMs ?? 0) : 0;
      await delay(Math.min(hint, 1_000) + (o.baseDelayMs ?? 100) * 2 ** (i - 1), s.signal);
    }
    try {
      return await o.create();
    } catch (err) {
      last = err;
      // Only errors that may hide a success (or that pass with time) are worth another look.
      if (!(err instanceof BackendError) || !(err.reason === 'Transient' || err.reason === 'Throttled'))
        throw err;
    }
  }
  const found = await o.lookup();
  if (found !== undefined) return found;
  throw last;
}

export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
