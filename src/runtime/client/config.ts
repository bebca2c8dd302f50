/**
 * Where a cluster is and how to authenticate: from kubeconfig files (read and merged as kubectl does, see
 * kubeconfig.ts) or from the in-cluster service account. We read kubeconfig ourselves (it is small YAML)
 * rather than pull in the official client for it.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { checkProxyUrl } from './dispatcher.ts';
import { KubeconfigError } from './errors.ts';
import { type ExecConfig, parseExecConfig } from './exec-plugin.ts';
import { type MergedKubeconfig, readKubeconfigs } from './kubeconfig.ts';

export { defaultKubeconfigPath } from './kubeconfig.ts';

export interface ClusterConfig {
  server: string;
  /** PEM strings, not base64. */
  caData?: string;
  certData?: string;
  keyData?: string;
  token?: string;
  /** Re-read on every request so rotated projected tokens keep working. */
  tokenFile?: string;
  insecureSkipTLSVerify?: boolean;
  /** The name the server certificate must carry (and SNI), when not the server URL's host. */
  tlsServerName?: string;
  /** http://, https:// or socks5:// proxy for every request. */
  proxyUrl?: string;
  /** Do not ask for gzip-compressed responses. */
  disableCompression?: boolean;
  /** A credential plugin run for tokens or client certificates (kubeconfig user.exec). */
  exec?: ExecConfig;
  /** Act as another user (kubeconfig as, as-uid, as-groups, as-user-extra). */
  impersonate?: { user: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  /** The kubeconfig context's default namespace. */
  namespace?: string;
}

const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);

function fromB64(s: unknown): string | undefined {
  return typeof s === 'string' ? Buffer.from(s, 'base64').toString('utf8') : undefined;
}

/** A path in a kubeconfig is relative to the directory of the file it is written in. */
function relative(base: string, p: string | undefined): string | undefined {
  return p === undefined || isAbsolute(p) ? p : join(base, p);
}

function readRelative(base: string, p: unknown, where: string, field: string): string | undefined {
  const path = relative(base, str(p));
  if (path === undefined) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new KubeconfigError(`${where}: ${field} ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
}

/** The ClusterConfig of one context (default: current-context) of merged kubeconfig files. */
export function clusterConfigFrom(kc: MergedKubeconfig, context?: string): ClusterConfig {
  const files = kc.files.join(', ');
  const ctxName = context ?? kc.currentContext;
  if (!ctxName)
    throw new KubeconfigError(`kubeconfig ${files}: no current-context is set; choose one with --context`);
  const ctx = kc.contexts.get(ctxName);
  if (!ctx) {
    const known = [...kc.contexts.keys()].join(', ') || 'none';
    throw new KubeconfigError(`kubeconfig ${files}: context '${ctxName}' not found (contexts: ${known})`);
  }
  const cl = kc.clusters.get(ctx.value.cluster);
  if (!cl) throw new KubeconfigError(`kubeconfig ${ctx.origin}: cluster '${ctx.value.cluster}' not found`);
  const c = cl.value;
  const whereC = `kubeconfig ${cl.origin}: cluster '${cl.name}'`;
  const server = str(c.server);
  if (!server) throw new KubeconfigError(`${whereC} has no server`);
  const u = kc.users.get(ctx.value.user);
  const user = u?.value ?? {};
  const whereU = `kubeconfig ${u?.origin ?? ctx.origin}: user '${ctx.value.user}'`;
  const userBase = dirname(u?.origin ?? ctx.origin);
  if (user.username !== undefined || user.password !== undefined)
    throw new KubeconfigError(
      `${whereU} uses basic authentication (username/password), which Kubernetes removed in 1.19; use a token, a client certificate or an exec plugin`,
    );
  const ap = user['auth-provider'] as { name?: string } | undefined;
  if (ap)
    throw new KubeconfigError(
      `${whereU} uses the auth-provider '${ap.name ?? '?'}', which is not supported; use an exec plugin instead (e.g. kubelogin for OIDC, gke-gcloud-auth-plugin for GKE)`,
    );
  const proxyUrl = str(c['proxy-url']);
  if (proxyUrl) checkProxyUrl(proxyUrl, whereC);
  const as = str(user.as);
  const cfg: ClusterConfig = {
    server,
    caData:
      fromB64(c['certificate-authority-data']) ??
      readRelative(dirname(cl.origin), c['certificate-authority'], whereC, 'certificate-authority'),
    certData:
      fromB64(user['client-certificate-data']) ??
      readRelative(userBase, user['client-certificate'], whereU, 'client-certificate'),
    keyData:
      fromB64(user['client-key-data']) ?? readRelative(userBase, user['client-key'], whereU, 'client-key'),
    token: str(user.token),
    tokenFile: relative(userBase, str(user.tokenFile)),
    insecureSkipTLSVerify: c['insecure-skip-tls-verify'] === true,
    tlsServerName: str(c['tls-server-name']),
    proxyUrl,
    disableCompression: c['disable-compression'] === true,
    namespace: str(ctx.value.namespace),
  };
  if (user.exec) {
    cfg.exec = parseExecConfig(user.exec, userBase, whereU);
    const ext = (c.extensions as { name?: string; extension?: unknown }[] | undefined)?.find(
      (e) => e?.name === 'client.authentication.k8s.io/exec',
    );
    if (ext) cfg.exec.clusterConfig = ext.extension;
  }
  if (as)
    cfg.impersonate = {
      user: as,
      uid: str(user['as-uid']),
      groups: Array.isArray(user['as-groups']) ? (user['as-groups'] as string[]) : undefined,
      extra: (user['as-user-extra'] as Record<string, string[]> | undefined) ?? undefined,
    };
  // Only what is set, so a config prints (and keys the exec-credential cache) without noise.
  for (const k of Object.keys(cfg) as (keyof ClusterConfig)[])
    if (cfg[k] === undefined || cfg[k] === false) delete cfg[k];
  return cfg;
}

/**
 * A cluster from kubeconfig: `path` alone if given (it must exist), else $KUBECONFIG's files merged, else
 * ~/.kube/config; `context` overrides current-context.
 */
export function loadKubeconfig(path?: string, context?: string): ClusterConfig {
  return clusterConfigFrom(readKubeconfigs(path), context);
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export function inClusterConfig(): ClusterConfig {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) throw new KubeconfigError('not running in a cluster (KUBERNETES_SERVICE_HOST unset)');
  const h = host.includes(':') ? `[${host}]` : host;
  return {
    server: `https://${h}:${port}`,
    caData: readFileSync(join(SA_DIR, 'ca.crt'), 'utf8'),
    tokenFile: join(SA_DIR, 'token'),
  };
}

/**
 * Like controller-runtime: --kubeconfig, else $KUBECONFIG, else the in-cluster service account (unless a
 * context is asked for), else ~/.kube/config.
 */
export function resolveClusterConfig(kubeconfig?: string, context?: string): ClusterConfig {
  if (kubeconfig) return loadKubeconfig(kubeconfig, context);
  if (process.env.KUBERNETES_SERVICE_HOST && !process.env.KUBECONFIG && !context) return inClusterConfig();
  return loadKubeconfig(undefined, context);
}

/** Serialises a ClusterConfig as a kubeconfig document (for handing to kubectl or child processes). */
export function toKubeconfigYaml(c: ClusterConfig, name = 'default'): string {
  const b64 = (s?: string) => (s ? Buffer.from(s).toString('base64') : undefined);
  const cluster: Record<string, unknown> = { server: c.server };
  if (c.caData) cluster['certificate-authority-data'] = b64(c.caData);
  if (c.insecureSkipTLSVerify) cluster['insecure-skip-tls-verify'] = true;
  if (c.tlsServerName) cluster['tls-server-name'] = c.tlsServerName;
  if (c.proxyUrl) cluster['proxy-url'] = c.proxyUrl;
  if (c.disableCompression) cluster['disable-compression'] = true;
  const user: Record<string, unknown> = {};
  if (c.certData) user['client-certificate-data'] = b64(c.certData);
  if (c.keyData) user['client-key-data'] = b64(c.keyData);
  if (c.token) user.token = c.token;
  if (c.tokenFile) user.tokenFile = c.tokenFile;
  if (c.exec) {
    const { clusterConfig, timeoutMs: _ours, ...exec } = c.exec;
    user.exec = exec;
    if (clusterConfig !== undefined)
      cluster.extensions = [{ name: 'client.authentication.k8s.io/exec', extension: clusterConfig }];
  }
  if (c.impersonate) {
    user.as = c.impersonate.user;
    if (c.impersonate.uid) user['as-uid'] = c.impersonate.uid;
    if (c.impersonate.groups) user['as-groups'] = c.impersonate.groups;
    if (c.impersonate.extra) user['as-user-extra'] = c.impersonate.extra;
  }
  const context: Record<string, unknown> = { cluster: name, user: name };
  if (c.namespace) context.namespace = c.namespace;
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': name,
    clusters: [{ name, cluster }],
    users: [{ name, user }],
    contexts: [{ name, context }],
  };
  return JSON.stringify(doc, null, 2);
}
