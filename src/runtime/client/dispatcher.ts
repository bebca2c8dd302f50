/**
 * The connection pool to one API server: TLS (CA, client certificate, tls-server-name), an optional proxy
 * (kubeconfig proxy-url: http and https proxies through CONNECT, socks5 through undici's SOCKS agent), and
 * gzip responses decompressed unless the kubeconfig says disable-compression (the API server compresses
 * large list responses, much as for kubectl).
 */
import { Agent, type Dispatcher, interceptors, ProxyAgent } from 'undici';
import type { ClusterConfig } from './config.ts';
import { KubeconfigError } from './errors.ts';

const PROXY_SCHEMES = new Set(['http:', 'https:', 'socks5:']);

/** Checks a proxy-url before any request is made, so a typo fails at load time. */
export function checkProxyUrl(url: string, where: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new KubeconfigError(`${where}: proxy-url '${url}' is not a URL`);
  }
  if (!PROXY_SCHEMES.has(u.protocol))
    throw new KubeconfigError(
      `${where}: proxy-url scheme '${u.protocol}' is not supported (use http, https or socks5)`,
    );
}

export function createDispatcher(
  cfg: ClusterConfig,
  tls: { certData?: string; keyData?: string },
): Dispatcher {
  const connect = {
    ca: cfg.caData,
    cert: tls.certData,
    key: tls.keyData,
    rejectUnauthorized: !cfg.insecureSkipTLSVerify,
    // SNI and the name the serving certificate must carry (Node checks it against servername when set).
    ...(cfg.tlsServerName ? { servername: cfg.tlsServerName } : {}),
  };
  // undici speaks HTTP/2 to the API server when offered, but joins a repeated header into one value there, so
  // several impersonated groups (or extra values) would arrive as one group "a, b": use HTTP/1.1 for those.
  const imp = cfg.impersonate;
  const repeated =
    (imp?.groups?.length ?? 0) > 1 || Object.values(imp?.extra ?? {}).some((v) => v.length > 1);
  const h2 = repeated ? { allowH2: false } : {};
  const base: Dispatcher = cfg.proxyUrl
    ? new ProxyAgent({ uri: cfg.proxyUrl, requestTls: connect, keepAliveTimeout: 30_000, ...h2 })
    : new Agent({ connect, keepAliveTimeout: 30_000, ...h2 });
  if (cfg.disableCompression) return base;
  // Error bodies too: we parse them into typed errors.
  return base.compose(interceptors.decompress({ skipErrorResponses: false }));
}

/** The Accept-Encoding a request sends: gzip unless compression is disabled. */
export function encodingHeaders(cfg: ClusterConfig): Record<string, string> {
  return cfg.disableCompression ? {} : { 'accept-encoding': 'gzip' };
}
