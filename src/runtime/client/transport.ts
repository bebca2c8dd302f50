/**
 * HTTP transport to one API server: credentials (auth.ts), the connection pool (dispatcher.ts), retries with
 * backoff, typed errors and a per-request observer hook (the metrics module counts
 * `rest_client_requests_total` through it). A 401 to credentials from an exec plugin fetches new ones and
 * resends the request once; a second 401 is an UnauthorizedError that says so.
 */
import { type Dispatcher, request } from 'undici';
import type { Logger } from '../log/logger.ts';
import { sleep } from '../util/sleep.ts';
import { Authenticator, type RequestCredentials } from './auth.ts';
import type { ClusterConfig } from './config.ts';
import { createDispatcher, encodingHeaders } from './dispatcher.ts';
import {
  ApiError,
  ExecCredentialError,
  errorFromResponse,
  TooManyRequestsError,
  TransportError,
  UnauthorizedError,
} from './errors.ts';

export interface RequestObserver {
  onRequest(method: string, host: string, code: string, durationSeconds: number): void;
}

export interface TransportOptions {
  userAgent?: string;
  observer?: RequestObserver;
  log?: Logger;
  /** Attempts per request including the first (default 5). */
  maxAttempts?: number;
  /** Per-request timeout for non-streaming calls (default 60 s). */
  timeoutMs?: number;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);
// Errors that prove the request never reached the server, so even a POST is safe to resend.
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT']);

export function backoffDelay(attempt: number, baseMs = 100, capMs = 5000): number {
  const exp = Math.min(capMs, baseMs * 2 ** attempt);
  return exp / 2 + Math.random() * (exp / 2);
}

export class Transport {
  readonly host: string;
  readonly auth: Authenticator;
  private readonly base: string;
  /** The pool for the current client certificate; one from a plugin's earlier certificate is retired. */
  private pool: { dispatcher: Dispatcher; certData?: string } | undefined;
  private readonly retired = new Set<Promise<void>>();
  private readonly cfg: ClusterConfig;
  private readonly opts: TransportOptions;
  private lastExecError = '';

  constructor(cfg: ClusterConfig, opts: TransportOptions = {}) {
    this.cfg = cfg;
    this.opts = opts;
    this.base = cfg.server.replace(/\/+$/, '');
    this.host = new URL(this.base).host;
    this.auth = new Authenticator(cfg);
  }

  private dispatcherFor(creds: RequestCredentials): Dispatcher {
    if (this.pool && this.pool.certData === creds.certData) return this.pool.dispatcher;
    if (this.pool) {
      // In-flight requests (watches included) finish on the old pool; new ones use the new certificate.
      const closing = this.pool.dispatcher.close().catch(() => {});
      this.retired.add(closing);
      closing.then(() => this.retired.delete(closing));
    }
    this.pool = { dispatcher: createDispatcher(this.cfg, creds), certData: creds.certData };
    return this.pool.dispatcher;
  }

  private headers(creds: RequestCredentials, extra?: Record<string, string>): string[] {
    const h: Record<string, string | string[]> = {
      accept: 'application/json',
      'user-agent': this.opts.userAgent ?? 'datum-provider-ts',
      ...encodingHeaders(this.cfg),
      ...impersonationHeaders(this.cfg),
    };
    if (creds.token) h.authorization = `Bearer ${creds.token}`;
    // Flat name/value pairs: a list value becomes repeated header lines, one per impersonated group (over
    // HTTP/1.1: see dispatcher.ts for why not HTTP/2).
    return Object.entries({ ...h, ...extra }).flatMap(([k, v]) =>
      (Array.isArray(v) ? v : [v]).flatMap((x) => [k, x]),
    );
  }

  /** Credentials for one attempt. A plugin failure is not retried here: callers retry with their backoff. */
  private async credentials(): Promise<RequestCredentials> {
    try {
      const creds = await this.auth.credentials();
      if (this.lastExecError) {
        this.opts.log?.info('exec credential plugin works again', { host: this.host });
        this.lastExecError = '';
      }
      return creds;
    } catch (err) {
      if (err instanceof ExecCredentialError && err.message !== this.lastExecError) {
        this.lastExecError = err.message;
        this.opts.log?.warn('cannot get credentials; requests fail until the plugin succeeds', { err });
      }
      throw err;
    }
  }

  /** One HTTP exchange with retries; returns the raw response for 2xx, throws typed errors otherwise. */
  async send(
    method: string,
    path: string,
    opts: {
      body?: string;
      headers?: Record<string, string>;
      stream?: boolean;
      signal?: AbortSignal;
      bodyTimeoutMs?: number;
    } = {},
  ): Promise<RawResponse> {
    const maxAttempts = this.opts.maxAttempts ?? 5;
    let reauthenticated = false;
    for (let attempt = 0; ; attempt++) {
      const creds = await this.credentials();
      const started = performance.now();
      try {
        const res = await request(this.base + path, {
          method: method as Dispatcher.HttpMethod,
          headers: this.headers(creds, opts.headers),
          body: opts.body,
          dispatcher: this.dispatcherFor(creds),
          signal: opts.signal,
          headersTimeout: this.opts.timeoutMs ?? 60_000,
          bodyTimeout: opts.bodyTimeoutMs ?? (opts.stream ? 0 : (this.opts.timeoutMs ?? 60_000)),
        });
        this.observe(method, String(res.statusCode), started);
        if (res.statusCode >= 200 && res.statusCode < 300)
          return { status: res.statusCode, headers: res.headers, body: res.body };
        const text = await res.body.text();
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {}
        const retryAfter = res.headers['retry-after'];
        const err = errorFromResponse(
          res.statusCode,
          parsed,
          Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
        );
        if (err instanceof UnauthorizedError && this.auth.refreshable) {
          // Authentication happens before anything else, so resending any request is safe.
          if (!reauthenticated) {
            reauthenticated = true;
            this.auth.unauthorized(creds);
            this.opts.log?.info('credentials refused (401); fetching new ones', {
              host: this.host,
              method,
              path,
            });
            attempt--; // not a failed attempt of the request itself
            continue;
          }
          throw new UnauthorizedError(
            401,
            err.reason,
            `${err.message}: the API server refused the credential from ${this.auth.describe()} again after a refresh`,
            err.details,
          );
        }
        if (attempt + 1 < maxAttempts && this.retryable(method, err)) {
          const wait =
            err instanceof TooManyRequestsError && err.retryAfterMs !== undefined
              ? Math.min(err.retryAfterMs, 30_000)
              : backoffDelay(attempt);
          this.opts.log?.debug('retrying API request', {
            method,
            path,
            status: res.statusCode,
            waitMs: Math.round(wait),
          });
          await sleep(wait, opts.signal);
          if (opts.signal?.aborted) throw err;
          continue;
        }
        throw err;
      } catch (err) {
        if (err instanceof ApiError) throw err;
        if (opts.signal?.aborted) throw err;
        const code = (err as { code?: string }).code ?? (err as { cause?: { code?: string } }).cause?.code;
        this.observe(method, '<error>', started);
        const terr = new TransportError(
          `${method} ${this.host}${path.split('?')[0]}: ${(err as Error).message}`,
          code,
          { cause: err },
        );
        const safe = method !== 'POST' || (code !== undefined && NOT_SENT_CODES.has(code));
        if (
          attempt + 1 < maxAttempts &&
          safe &&
          (code === undefined || TRANSIENT_CODES.has(code) || NOT_SENT_CODES.has(code))
        ) {
          await sleep(backoffDelay(attempt), opts.signal);
          if (opts.signal?.aborted) throw terr;
          continue;
        }
        throw terr;
      }
    }
  }

  private retryable(method: string, err: ApiError): boolean {
    if (err.status === 429) return true;
    // A 5xx on a create may have been applied; let the caller decide (it gets AlreadyExists on retry anyway).
    return method !== 'POST' && (err.status === 502 || err.status === 503 || err.status === 504);
  }

  private observe(method: string, code: string, started: number): void {
    this.opts.observer?.onRequest(method, this.host, code, (performance.now() - started) / 1000);
  }

  async close(): Promise<void> {
    await Promise.all([this.pool?.dispatcher.close(), ...this.retired]);
    this.pool = undefined;
  }
}

/** kubeconfig `as`, `as-uid`, `as-groups`, `as-user-extra`: act as another user (needs impersonate rights). */
function impersonationHeaders(cfg: ClusterConfig): Record<string, string | string[]> {
  const i = cfg.impersonate;
  if (!i?.user) return {};
  const h: Record<string, string | string[]> = { 'impersonate-user': i.user };
  if (i.uid) h['impersonate-uid'] = i.uid;
  if (i.groups?.length) h['impersonate-group'] = i.groups;
  for (const [k, vs] of Object.entries(i.extra ?? {})) h[`impersonate-extra-${encodeURIComponent(k)}`] = vs;
  return h;
}
