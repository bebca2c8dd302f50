/**
 * A small typed client for the Proxmox VE API (`/api2/json`), written for the calls this backend makes.
 * - Auth: an API token (`PVEAPIToken=user@realm!id=secret`), never a password, and no secret in any error.
 * - TLS: a CA bundle or a pinned SHA-256 fingerprint (see transport.ts); never unverified.
 * - Retries with backoff only where safe: a request that never reached the server (connect failure), a GET,
 *   a request the caller marks idempotent, and PVE's refusals that prove nothing was done (config lock
 *   timeout, no quorum). A POST whose answer was lost is never repeated here: the caller reconciles it.
 * - Cancellation: every call takes an AbortSignal, honoured in requests, backoff sleeps and task polling.
 */
import { ConnectError, ExchangeError, exchange, type TlsTrust } from './transport.ts';

export type Params = Record<string, string | number | boolean | undefined>;

/** An answer of PVE with an error status, in PVE's words (`message`, per-parameter `errors`). */
export class ProxmoxApiError extends Error {
  override readonly name = 'ProxmoxApiError';
  readonly status: number;
  readonly method: string;
  readonly path: string;
  readonly errors: Record<string, string>;
  constructor(status: number, message: string, method: string, path: string, errors: Record<string, string>) {
    super(`${method} ${path}: HTTP ${status}: ${message}`);
    this.status = status;
    this.method = method;
    this.path = path;
    this.errors = errors;
  }
  /** PVE's message plus its per-parameter errors, one line. */
  get pveMessage(): string {
    const fields = Object.entries(this.errors).map(([k, v]) => `${k}: ${v.trim()}`);
    return [this.message.replace(/^[A-Z]+ \S+: HTTP \d+: /, '').trim(), ...fields].join('; ');
  }
}

/** A task (UPID) that ended with an exit status other than OK. */
export class ProxmoxTaskError extends Error {
  override readonly name = 'ProxmoxTaskError';
  readonly upid: string;
  readonly exitStatus: string;
  constructor(upid: string, exitStatus: string) {
    super(`task ${upid.split(':')[5] ?? ''} failed: ${exitStatus}`);
    this.upid = upid;
    this.exitStatus = exitStatus;
  }
}

export { ConnectError, ExchangeError, TlsVerificationError } from './transport.ts';

export interface ProxmoxClientOptions {
  /** `https://host:8006` */
  endpoint: string;
  tokenId: string;
  tokenSecret: string;
  trust: TlsTrust;
  /** Attempts per call where a retry is safe (1 = no retry). */
  maxAttempts?: number;
  /** Per request. */
  timeoutMs?: number;
  baseBackoffMs?: number;
  /** Counts requests per `METHOD path-template` (measurements, tests). */
  onRequest?(method: string, path: string): void;
}

export interface CallOptions {
  signal: AbortSignal;
  /** The caller knows the write is idempotent (e.g. PUT config with absolute values): retry it like a GET. */
  idempotent?: boolean;
}

/** PVE refusals that mean nothing was done, so any method may be retried. */
const REFUSED_TRANSIENT =
  /got timeout|can't lock file|no quorum|cluster not ready|is locked|No route to host/i;

export function isTransientApiError(e: ProxmoxApiError): boolean {
  if (e.status >= 502 || e.status === 408 || e.status === 429) return true;
  return e.status === 500 && REFUSED_TRANSIENT.test(e.message);
}

export class ProxmoxClient {
  readonly endpoint: URL;
  private readonly opts: Required<Omit<ProxmoxClientOptions, 'onRequest'>> &
    Pick<ProxmoxClientOptions, 'onRequest'>;

  constructor(opts: ProxmoxClientOptions) {
    this.endpoint = new URL(opts.endpoint);
    if (this.endpoint.protocol !== 'https:') throw new Error('the Proxmox endpoint must be https://');
    this.opts = { maxAttempts: 4, timeoutMs: 30_000, baseBackoffMs: 200, ...opts };
  }

  get<T>(path: string, query: Params | undefined, o: CallOptions): Promise<T> {
    return this.call<T>('GET', path, query, o);
  }
  post<T>(path: string, body: Params | undefined, o: CallOptions): Promise<T> {
    return this.call<T>('POST', path, body, o);
  }
  put<T>(path: string, body: Params | undefined, o: CallOptions): Promise<T> {
    return this.call<T>('PUT', path, body, o);
  }
  delete<T>(path: string, query: Params | undefined, o: CallOptions): Promise<T> {
    return this.call<T>('DELETE', path, query, o);
  }

  /** Polls `/nodes/{node}/tasks/{upid}/status` until the task stops; throws ProxmoxTaskError unless it ended OK. */
  async waitTask(upid: string, o: CallOptions & { timeoutMs?: number; pollMs?: number }): Promise<void> {
    const node = upid.split(':')[1];
    if (!upid.startsWith('UPID:') || !node) throw new Error(`not a task id: ${upid.slice(0, 80)}`);
    const deadline = Date.now() + (o.timeoutMs ?? 10 * 60_000);
    let pause = o.pollMs ?? 100;
    for (;;) {
      const st = await this.get<{ status: string; exitstatus?: string }>(
        `/nodes/${encodeURIComponent(node)}/tasks/${encodeURIComponent(upid)}/status`,
        undefined,
        o,
      );
      if (st.status === 'stopped') {
        if (st.exitstatus === 'OK' || st.exitstatus?.startsWith('WARNINGS')) return;
        throw new ProxmoxTaskError(upid, st.exitstatus ?? 'unknown exit status');
      }
      if (Date.now() > deadline) throw new ProxmoxTaskError(upid, 'still running after the wait timeout');
      await sleep(pause, o.signal);
      pause = Math.min(pause * 1.5, 2_000);
    }
  }

  private async call<T>(
    method: string,
    path: string,
    params: Params | undefined,
    o: CallOptions,
  ): Promise<T> {
    const safe = method === 'GET' || o.idempotent === true;
    let attempt = 0;
    for (;;) {
      attempt++;
      try {
        return await this.once<T>(method, path, params, o.signal);
      } catch (err) {
        const retry =
          attempt < this.opts.maxAttempts &&
          !o.signal.aborted &&
          (err instanceof ConnectError ||
            (err instanceof ExchangeError && safe) ||
            (err instanceof ProxmoxApiError && isTransientApiError(err) && (safe || err.status === 500)));
        if (!retry) throw err;
        const cap = this.opts.baseBackoffMs * 2 ** (attempt - 1);
        await sleep(cap / 2 + Math.random() * (cap / 2), o.signal);
      }
    }
  }

  private async once<T>(
    method: string,
    path: string,
    params: Params | undefined,
    signal: AbortSignal,
  ): Promise<T> {
    signal.throwIfAborted();
    const url = new URL(`/api2/json${path}`, this.endpoint);
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(params ?? {}))
      if (v !== undefined) form.append(k, typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
    const headers: Record<string, string> = {
      authorization: `PVEAPIToken=${this.opts.tokenId}=${this.opts.tokenSecret}`,
      accept: 'application/json',
    };
    let body: string | undefined;
    if (method === 'GET' || method === 'DELETE') {
      if ([...form].length > 0) url.search = form.toString();
    } else {
      body = form.toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    this.opts.onRequest?.(method, path.replace(/UPID[^/]*/, '{upid}').replace(/\/\d+(?=\/|$)/g, '/{id}'));
    const res = await exchange(url, { method, headers, body }, this.opts.trust, this.opts.timeoutMs, signal);
    let parsed: { data?: unknown; message?: string; errors?: Record<string, string> } = {};
    try {
      parsed = res.body ? JSON.parse(res.body) : {};
    } catch {
      parsed = { message: res.body.slice(0, 200) };
    }
    if (res.status >= 400) {
      // PVE puts its message in the status line; some versions repeat it in the body's `message`.
      const message = redact(
        String(parsed.message ?? res.statusMessage ?? '').trim() || `HTTP ${res.status}`,
        [this.opts.tokenSecret],
      );
      throw new ProxmoxApiError(res.status, message, method, path, parsed.errors ?? {});
    }
    return parsed.data as T;
  }
}

export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('[redacted]');
  return out;
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
