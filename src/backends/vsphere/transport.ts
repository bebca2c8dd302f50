/**
 * The SOAP transport: one POST per call to `<endpoint>` with the session cookie, TLS verified against a CA
 * bundle or a pinned SHA-256 certificate fingerprint (never switched off), AbortSignal honoured, faults parsed
 * into typed errors. Only calls the caller marks idempotent are retried (connection errors, HTTP 5xx without
 * a fault), with exponential backoff: a create is never sent twice by the transport.
 */
import type { TLSSocket } from 'node:tls';
import { Agent, buildConnector, request } from 'undici';
import { TlsVerificationError, VimError, type VimFault, VimTransportError, vimFault } from './faults.ts';
import { arr, envelope, type Node, parseXml, xsiType } from './xml.ts';

export interface TlsOptions {
  /** PEM CA bundle the server certificate must chain to. */
  caPem?: string;
  /** SHA-256 fingerprint of the server certificate (hex, colons optional). */
  fingerprintSha256?: string;
}

export interface TransportOptions {
  /** `https://host/sdk` */
  endpoint: string;
  tls: TlsOptions;
  /** Attempts for idempotent calls (default 4). */
  maxAttempts?: number;
  /** Per-request timeout (default 60 s). */
  timeoutMs?: number;
  /** Sent as the `SOAPAction` version (default 8.0: vCenter 8 and vcsim accept it). */
  apiVersion?: string;
}

export function normalizeFingerprint(fp: string): string {
  return fp.replace(/[^0-9a-fA-F]/g, '').toUpperCase();
}

export class SoapTransport {
  readonly endpoint: string;
  private readonly agent: Agent;
  private readonly maxAttempts: number;
  private readonly timeoutMs: number;
  private readonly soapAction: string;
  /** `vmware_soap_session=...`; set by the first response that carries it. */
  cookie: string | undefined;
  /** Calls per operation (measurements, tests). */
  readonly calls = new Map<string, number>();

  constructor(opts: TransportOptions) {
    this.endpoint = opts.endpoint;
    this.maxAttempts = opts.maxAttempts ?? 4;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.soapAction = `"urn:vim25/${opts.apiVersion ?? '8.0'}"`;
    this.agent = new Agent({ connect: connector(opts.tls), keepAliveTimeout: 30_000 });
  }

  /**
   * Invokes `op` with `body` (the operation element's inner XML, `_this` first); returns the parsed
   * `returnval` (undefined for void operations).
   */
  async call(op: string, body: string, opts: { signal?: AbortSignal; idempotent: boolean }): Promise<Node> {
    const xml = envelope(`<${op} xmlns="urn:vim25">${body}</${op}>`);
    let delay = 200;
    for (let attempt = 1; ; attempt++) {
      opts.signal?.throwIfAborted();
      try {
        this.calls.set(op, (this.calls.get(op) ?? 0) + 1);
        return await this.once(op, xml, opts.signal);
      } catch (err) {
        const retry =
          opts.idempotent &&
          err instanceof VimTransportError &&
          (err.status === undefined || err.status >= 500) &&
          attempt < this.maxAttempts;
        if (!retry) throw err;
        await sleep(delay * (0.5 + Math.random()), opts.signal);
        delay = Math.min(delay * 2, 5_000);
      }
    }
  }

  private async once(op: string, xml: string, signal: AbortSignal | undefined): Promise<Node> {
    const headers: Record<string, string> = {
      'content-type': 'text/xml; charset=utf-8',
      soapaction: this.soapAction,
    };
    if (this.cookie) headers.cookie = this.cookie;
    const timeout = AbortSignal.timeout(this.timeoutMs);
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(this.endpoint, {
        method: 'POST',
        headers,
        body: xml,
        dispatcher: this.agent,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (err instanceof VimError) throw err;
      const cause = (err as { cause?: unknown })?.cause ?? err;
      if (cause instanceof TlsVerificationError) throw cause;
      const code = (cause as { code?: string })?.code ?? (err as { code?: string })?.code;
      if (typeof code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code))
        throw new TlsVerificationError(`${op}: the server certificate is not trusted (${code})`);
      throw new VimTransportError(`${op}: ${code ?? (err as Error).name}: ${(err as Error).message}`, {
        code,
      });
    }
    const setCookie = res.headers['set-cookie'];
    for (const c of arr(setCookie) as string[]) {
      const m = /^(vmware_soap_session=[^;]*)/.exec(c);
      if (m) this.cookie = m[1];
    }
    const text = await res.body.text();
    let doc: Node;
    try {
      doc = parseXml(text);
    } catch {
      doc = undefined;
    }
    const bodyNode = doc?.Envelope?.Body;
    const fault = bodyNode?.Fault;
    if (fault) throw faultOf(op, fault);
    if (res.statusCode >= 500 || !bodyNode)
      throw new VimTransportError(`${op}: HTTP ${res.statusCode}`, { status: res.statusCode });
    if (res.statusCode >= 400)
      throw new VimTransportError(`${op}: HTTP ${res.statusCode}`, { status: res.statusCode });
    return bodyNode[`${op}Response`]?.returnval;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/** `<Fault><faultstring/><detail><XFault xsi:type="X"/></detail></Fault>` → the typed fault. */
export function faultOf(op: string, fault: Node): VimFault {
  const detail = fault.detail ?? {};
  const key = Object.keys(detail).find((k) => !k.startsWith('@'));
  const node = key ? detail[key] : undefined;
  const type = xsiType(node) ?? (key ? key.replace(/Fault$/, '') : 'SystemError');
  const message = typeof fault.faultstring === 'string' ? fault.faultstring : '';
  return vimFault(type, op, message);
}

/** Verifies the server: by CA bundle (standard chain + hostname checks), or by pinned fingerprint. */
function connector(tls: TlsOptions): buildConnector.connector {
  if (tls.fingerprintSha256) {
    const want = normalizeFingerprint(tls.fingerprintSha256);
    // The pin replaces chain verification (a self-signed vCenter/ESXi certificate has no chain); the
    // fingerprint is checked before any byte of a request is written. No session resumption: a resumed
    // session shows no peer certificate to check.
    const base = buildConnector({ rejectUnauthorized: false, maxCachedSessions: 0 });
    return (opts, cb) =>
      base(opts, (err, socket) => {
        if (err || !socket) return cb(err ?? new Error('no socket'), null);
        const got = normalizeFingerprint((socket as TLSSocket).getPeerCertificate?.().fingerprint256 ?? '');
        if (got !== want) {
          socket.destroy();
          return cb(
            new TlsVerificationError(
              `the server certificate's SHA-256 fingerprint ${got || '(none)'} is not the pinned one`,
            ),
            null,
          );
        }
        cb(null, socket);
      });
  }
  return buildConnector(tls.caPem ? { ca: tls.caPem } : {});
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}
