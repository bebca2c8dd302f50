/**
 * HTTPS to a PVE API with the server verified before any byte of the request (and so the token) is sent:
 * either against a CA bundle (normal verification, host name included) or against a pinned SHA-256
 * certificate fingerprint (PVE's self-signed node certificates). One connection per request: the TLS socket is
 * made and checked first, then handed to `http.request`.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, type TLSSocket } from 'node:tls';

export type TlsTrust =
  | { kind: 'ca'; ca: string }
  | { kind: 'fingerprint'; sha256: string }
  | { kind: 'system' };

export class TlsVerificationError extends Error {
  override readonly name = 'TlsVerificationError';
}

/** A connection failure before the request was written: nothing reached the server, so a retry is safe. */
export class ConnectError extends Error {
  override readonly name = 'ConnectError';
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.code = code;
  }
}

/** A failure after the request may have reached the server (reset, timeout): the outcome is unknown. */
export class ExchangeError extends Error {
  override readonly name = 'ExchangeError';
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.code = code;
  }
}

export interface RawResponse {
  status: number;
  /** The status line's reason phrase: where PVE puts its error message (the JSON body often has none). */
  statusMessage: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export function normaliseFingerprint(fp: string): string {
  const hex = fp.replace(/[:\s]/g, '').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex))
    throw new TlsVerificationError('the pinned fingerprint must be a SHA-256 fingerprint (64 hex digits)');
  return hex;
}

function openTls(url: URL, trust: TlsTrust, timeoutMs: number, signal: AbortSignal): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const pinned = trust.kind === 'fingerprint' ? normaliseFingerprint(trust.sha256) : undefined;
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const sock = connect({
      host,
      port: Number(url.port || 443),
      servername: /^[\d.:]+$/.test(host) ? undefined : host,
      ca: trust.kind === 'ca' ? trust.ca : undefined,
      // With a pin the chain is not checked by OpenSSL (a self-signed certificate has none): the exact
      // certificate is checked below instead, before the socket is used.
      rejectUnauthorized: pinned === undefined,
    });
    const fail = (err: Error) => {
      cleanup();
      sock.destroy();
      reject(err);
    };
    const onAbort = () => fail(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    const timer = setTimeout(() => fail(new ConnectError('connect timed out', 'ETIMEDOUT')), timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      sock.removeAllListeners('error');
    };
    signal.addEventListener('abort', onAbort, { once: true });
    sock.once('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? 'ECONNECT';
      if (
        code.startsWith('ERR_TLS') ||
        /certificate|self.signed|CERT_|UNABLE_TO/i.test(`${code} ${err.message}`)
      )
        fail(new TlsVerificationError(`TLS verification failed: ${err.message}`));
      else fail(new ConnectError(`connection failed: ${err.message}`, code));
    });
    sock.once('secureConnect', () => {
      if (pinned !== undefined) {
        const got = normaliseFingerprint(sock.getPeerCertificate().fingerprint256 ?? '00'.repeat(32));
        if (got !== pinned)
          return fail(
            new TlsVerificationError(
              `the server's certificate fingerprint ${got} does not match the pinned fingerprint`,
            ),
          );
      }
      cleanup();
      resolve(sock);
    });
  });
}

export async function exchange(
  url: URL,
  init: { method: string; headers: Record<string, string>; body?: string },
  trust: TlsTrust,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<RawResponse> {
  const sock = await openTls(url, trust, timeoutMs, signal);
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      fn();
    };
    const req = httpRequest({
      method: init.method,
      path: url.pathname + url.search,
      headers: { host: url.host, connection: 'close', ...init.headers },
      createConnection: () => sock,
    });
    const onAbort = () => {
      req.destroy();
      sock.destroy();
      done(() => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted')));
    };
    const timer = setTimeout(() => {
      req.destroy();
      sock.destroy();
      done(() => reject(new ExchangeError(`no answer within ${timeoutMs} ms`, 'ETIMEDOUT')));
    }, timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    req.once('error', (err: NodeJS.ErrnoException) =>
      done(() => reject(new ExchangeError(`request failed: ${err.message}`, err.code ?? 'ECONNRESET'))),
    );
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('error', (err: NodeJS.ErrnoException) =>
        done(() => reject(new ExchangeError(`response failed: ${err.message}`, err.code ?? 'ECONNRESET'))),
      );
      res.once('end', () =>
        done(() =>
          resolve({
            status: res.statusCode ?? 0,
            statusMessage: res.statusMessage ?? '',
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        ),
      );
    });
    req.end(init.body);
  });
}
