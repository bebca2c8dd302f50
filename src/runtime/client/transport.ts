/**
 * HTTP transport to one API server: TLS material, bearer tokens, retries with backoff, typed errors and a
 * per-request observer hook (the metrics module counts `rest_client_requests_total` through it).
 */
import { readFileSync } from 'node:fs';
import { Agent, type Dispatcher, request } from 'undici';
import type { Logger } from '../log/logger.ts';
import { sleep } from '../util/sleep.ts';
import type { ClusterConfig } from './config.ts';
import { ApiError, errorFromResponse, TooManyRequestsError, TransportError } from './errors.ts';

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
  private readonly base: string;
  private readonly agent: Agent;
  private readonly cfg: ClusterConfig;
  private readonly opts: TransportOptions;

  constructor(cfg: ClusterConfig, opts: TransportOptions = {}) {
    this.cfg = cfg;
    this.opts = opts;
    this.base = cfg.server.replace(/\/+$/, '');
    this.host = new URL(this.base).host;
    this.agent = new Agent({
      connect: {
        ca: cfg.caData,
        cert: cfg.certData,
        key: cfg.keyData,
        rejectUnauthorized: !cfg.insecureSkipTLSVerify,
      },
      keepAliveTimeout: 30_000,
    });
  }

  private headers(extra?: Record<string, string>): Record<string, string> {
    const h: Record<string, string> = {
      accept: 'application/json',
      'user-agent': this.opts.userAgent ?? 'datum-provider-ts',
    };
    const token = this.cfg.tokenFile ? readFileSync(this.cfg.tokenFile, 'utf8').trim() : this.cfg.token;
    if (token) h.authorization = `Bearer ${token}`;
    return { ...h, ...extra };
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
    for (let attempt = 0; ; attempt++) {
      const started = performance.now();
      try {
        const res = await request(this.base + path, {
          method: method as Dispatcher.HttpMethod,
          headers: this.headers(opts.headers),
          body: opts.body,
          dispatcher: this.agent,
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
    await this.agent.close();
  }
}
