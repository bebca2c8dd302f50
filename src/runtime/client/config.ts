/**
 * Where a cluster is and how to authenticate: from a kubeconfig file or from the in-cluster service account.
 * We read kubeconfig ourselves (it is small YAML) rather than pull in the official client for it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';

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
}

interface KubeconfigFile {
  'current-context'?: string;
  clusters?: { name: string; cluster: Record<string, unknown> }[];
  users?: { name: string; user: Record<string, unknown> }[];
  contexts?: { name: string; context: { cluster: string; user: string; namespace?: string } }[];
}

export class KubeconfigError extends Error {
  override name = 'KubeconfigError';
}

function fromB64(s: unknown): string | undefined {
  return typeof s === 'string' ? Buffer.from(s, 'base64').toString('utf8') : undefined;
}

function readRelative(base: string, p: unknown): string | undefined {
  if (typeof p !== 'string') return undefined;
  return readFileSync(isAbsolute(p) ? p : join(base, p), 'utf8');
}

/** The kubeconfig path kubectl would use: $KUBECONFIG (first entry), else ~/.kube/config. */
export function defaultKubeconfigPath(): string {
  const env = process.env.KUBECONFIG?.split(':').find(Boolean);
  return env ?? join(homedir(), '.kube', 'config');
}

export function loadKubeconfig(path = defaultKubeconfigPath(), context?: string): ClusterConfig {
  if (!existsSync(path)) throw new KubeconfigError(`kubeconfig not found at ${path}`);
  let doc: KubeconfigFile;
  try {
    doc = parse(readFileSync(path, 'utf8')) as KubeconfigFile;
  } catch (err) {
    throw new KubeconfigError(`kubeconfig ${path} is not valid YAML: ${(err as Error).message}`);
  }
  const ctxName = context ?? doc['current-context'];
  const ctx = doc.contexts?.find((c) => c.name === ctxName)?.context;
  if (!ctx) throw new KubeconfigError(`kubeconfig ${path}: context '${ctxName ?? ''}' not found`);
  const cluster = doc.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
  if (!cluster) throw new KubeconfigError(`kubeconfig ${path}: cluster '${ctx.cluster}' not found`);
  const user = doc.users?.find((u) => u.name === ctx.user)?.user ?? {};
  if (user.exec || user['auth-provider']) {
    throw new KubeconfigError(
      `kubeconfig ${path}: user '${ctx.user}' uses an exec or auth-provider plugin, which is not supported; use a token or client certificate`,
    );
  }
  const base = dirname(path);
  return {
    server: String(cluster.server ?? ''),
    caData:
      fromB64(cluster['certificate-authority-data']) ?? readRelative(base, cluster['certificate-authority']),
    certData: fromB64(user['client-certificate-data']) ?? readRelative(base, user['client-certificate']),
    keyData: fromB64(user['client-key-data']) ?? readRelative(base, user['client-key']),
    token: typeof user.token === 'string' ? user.token : undefined,
    tokenFile: typeof user.tokenFile === 'string' ? user.tokenFile : undefined,
    insecureSkipTLSVerify: cluster['insecure-skip-tls-verify'] === true,
  };
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

/** kubeconfig if given or present, else in-cluster. */
export function resolveClusterConfig(kubeconfig?: string, context?: string): ClusterConfig {
  if (kubeconfig) return loadKubeconfig(kubeconfig, context);
  if (process.env.KUBERNETES_SERVICE_HOST && !process.env.KUBECONFIG) return inClusterConfig();
  return loadKubeconfig(defaultKubeconfigPath(), context);
}

/** Serialises a ClusterConfig as a kubeconfig document (for handing to kubectl or child processes). */
export function toKubeconfigYaml(c: ClusterConfig, name = 'default'): string {
  const b64 = (s?: string) => (s ? Buffer.from(s).toString('base64') : undefined);
  const cluster: Record<string, unknown> = { server: c.server };
  if (c.caData) cluster['certificate-authority-data'] = b64(c.caData);
  if (c.insecureSkipTLSVerify) cluster['insecure-skip-tls-verify'] = true;
  const user: Record<string, unknown> = {};
  if (c.certData) user['client-certificate-data'] = b64(c.certData);
  if (c.keyData) user['client-key-data'] = b64(c.keyData);
  if (c.token) user.token = c.token;
  if (c.tokenFile) user.tokenFile = c.tokenFile;
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': name,
    clusters: [{ name, cluster }],
    users: [{ name, user }],
    contexts: [{ name, context: { cluster: name, user: name } }],
  };
  return JSON.stringify(doc, null, 2);
}
