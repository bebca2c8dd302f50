/**
 * Exec credential plugins (kubeconfig `user.exec`, API client.authentication.k8s.io/v1 and v1beta1): what the
 * kubeconfig says to run, and one run of it. We are never interactive — the provider runs unattended — so the
 * plugin gets no stdin, `spec.interactive: false`, and `interactiveMode: Always` is refused up front. A run is
 * bounded by a timeout that kills the plugin's whole process group (a shell script's children too).
 * Caching and refreshing live in exec-credentials.ts.
 */
import { spawn } from 'node:child_process';
import { isAbsolute, join } from 'node:path';
import { ExecCredentialError, KubeconfigError } from './errors.ts';

export const EXEC_API_VERSIONS = ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1'];

export interface ExecConfig {
  command: string;
  args: string[];
  env: { name: string; value: string }[];
  apiVersion: string;
  installHint?: string;
  provideClusterInfo: boolean;
  interactiveMode: 'Never' | 'IfAvailable';
  /** The cluster's `client.authentication.k8s.io/exec` extension, handed to the plugin as spec.cluster.config. */
  clusterConfig?: unknown;
  /** Ours, not kubeconfig's: how long one run may take before it is killed (default 60 s). */
  timeoutMs?: number;
}

/** What the plugin is told about the cluster when provideClusterInfo is set. */
export interface ExecClusterInfo {
  server: string;
  tlsServerName?: string;
  insecureSkipTLSVerify?: boolean;
  /** PEM. */
  caData?: string;
  proxyUrl?: string;
  disableCompression?: boolean;
}

export interface ExecCredential {
  token?: string;
  /** PEM. */
  certData?: string;
  keyData?: string;
  /** Epoch ms; undefined: valid until the server refuses it. */
  expiresAt?: number;
}

export const DEFAULT_EXEC_TIMEOUT_MS = 60_000;
const MAX_OUTPUT = 1 << 20;

/** Validates a kubeconfig `exec` block. A relative command with a slash is relative to the kubeconfig's dir. */
export function parseExecConfig(raw: unknown, baseDir: string, where: string): ExecConfig {
  const e = (raw ?? {}) as Record<string, unknown>;
  const bad = (why: string) => new KubeconfigError(`${where}: exec plugin ${why}`);
  if (typeof e.command !== 'string' || !e.command) throw bad('has no command');
  let command = e.command;
  if (command.includes('/') && !isAbsolute(command)) command = join(baseDir, command);
  const apiVersion = e.apiVersion;
  if (typeof apiVersion !== 'string' || !EXEC_API_VERSIONS.includes(apiVersion))
    throw bad(
      `'${command}': apiVersion '${String(apiVersion ?? '')}' is not supported (use ${EXEC_API_VERSIONS.join(' or ')})`,
    );
  const args = e.args ?? [];
  if (!Array.isArray(args) || args.some((a) => typeof a !== 'string'))
    throw bad(`'${command}': args must be strings`);
  const env = e.env ?? [];
  if (
    !Array.isArray(env) ||
    env.some((v) => typeof v?.name !== 'string' || typeof (v?.value ?? '') !== 'string')
  )
    throw bad(`'${command}': env must be a list of {name, value}`);
  // client-go requires interactiveMode for v1 and defaults v1beta1 to IfAvailable; we accept it missing for
  // both, as IfAvailable: without a terminal that means the same as Never.
  const mode = e.interactiveMode ?? 'IfAvailable';
  if (mode === 'Always')
    throw bad(
      `'${command}' needs interactiveMode Always (a person at a terminal), but this process runs unattended; ` +
        'use a non-interactive credential (interactiveMode Never or IfAvailable, e.g. a service account)',
    );
  if (mode !== 'Never' && mode !== 'IfAvailable')
    throw bad(`'${command}': interactiveMode '${String(mode)}' is not one of Never, IfAvailable, Always`);
  return {
    command,
    args: args as string[],
    env: (env as { name: string; value?: string }[]).map((v) => ({ name: v.name, value: v.value ?? '' })),
    apiVersion,
    installHint: typeof e.installHint === 'string' ? e.installHint : undefined,
    provideClusterInfo: e.provideClusterInfo === true,
    interactiveMode: mode,
  };
}

/** `command arg…` for messages (shortened: a message is one line). */
export function describeCommand(cfg: ExecConfig): string {
  const s = [cfg.command, ...cfg.args].join(' ');
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

/** The KUBERNETES_EXEC_INFO value: the ExecCredential request the plugin reads. */
export function execInfo(cfg: ExecConfig, cluster?: ExecClusterInfo): string {
  const spec: Record<string, unknown> = { interactive: false };
  if (cfg.provideClusterInfo && cluster) {
    const c: Record<string, unknown> = { server: cluster.server };
    if (cluster.tlsServerName) c['tls-server-name'] = cluster.tlsServerName;
    if (cluster.insecureSkipTLSVerify) c['insecure-skip-tls-verify'] = true;
    if (cluster.caData) c['certificate-authority-data'] = Buffer.from(cluster.caData).toString('base64');
    if (cluster.proxyUrl) c['proxy-url'] = cluster.proxyUrl;
    if (cluster.disableCompression) c['disable-compression'] = true;
    if (cfg.clusterConfig !== undefined) c.config = cfg.clusterConfig;
    spec.cluster = c;
  }
  return JSON.stringify({ apiVersion: cfg.apiVersion, kind: 'ExecCredential', spec });
}

/** Reads the plugin's stdout. The message never quotes it: it may hold a credential. */
export function parseExecOutput(stdout: string, cfg: ExecConfig, now = Date.now()): ExecCredential {
  const bad = (why: string) =>
    new ExecCredentialError(
      `exec plugin '${describeCommand(cfg)}' printed an invalid ExecCredential: ${why}`,
    );
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(stdout);
  } catch {
    throw bad(stdout.trim() ? 'its output is not JSON' : 'its output is empty');
  }
  if (typeof doc !== 'object' || doc === null) throw bad('its output is not a JSON object');
  if (doc.kind !== 'ExecCredential') throw bad(`kind is '${String(doc.kind ?? '')}', not ExecCredential`);
  if (doc.apiVersion !== cfg.apiVersion)
    throw bad(
      `apiVersion is '${String(doc.apiVersion ?? '')}', but the kubeconfig asks for ${cfg.apiVersion}`,
    );
  const st = (doc.status ?? {}) as Record<string, unknown>;
  const str = (k: string) => (typeof st[k] === 'string' && st[k] ? (st[k] as string) : undefined);
  const cred: ExecCredential = {
    token: str('token'),
    certData: str('clientCertificateData'),
    keyData: str('clientKeyData'),
  };
  if (!cred.certData !== !cred.keyData)
    throw bad('clientCertificateData and clientKeyData must come together');
  if (!cred.token && !cred.certData) throw bad('status has neither a token nor a client certificate');
  const exp = st.expirationTimestamp;
  if (exp !== undefined && exp !== null) {
    const t = typeof exp === 'string' ? Date.parse(exp) : Number.NaN;
    if (!Number.isFinite(t)) throw bad('expirationTimestamp is not an RFC 3339 time');
    if (t <= now)
      throw bad(
        `the credential expired already (${new Date(t).toISOString()}; is this machine's clock right?)`,
      );
    cred.expiresAt = t;
  }
  return cred;
}

function lastLine(text: string): string {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  const last = lines.filter(Boolean).pop() ?? '';
  return last.length > 300 ? `${last.slice(0, 297)}...` : last;
}

/** Runs the plugin once. Rejects with a one-line ExecCredentialError; `redact` strings never appear in it. */
export function runExecPlugin(
  cfg: ExecConfig,
  cluster?: ExecClusterInfo,
  redact: string[] = [],
): Promise<ExecCredential> {
  const name = describeCommand(cfg);
  const timeoutMs = cfg.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const v of cfg.env) env[v.name] = v.value;
  env.KUBERNETES_EXEC_INFO = execInfo(cfg, cluster);
  const clean = (s: string) => redact.reduce((acc, r) => (r ? acc.split(r).join('[redacted]') : acc), s);
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const tail = lastLine(stderr);
      reject(new ExecCredentialError(clean(`exec plugin '${name}' ${why}${tail ? `: ${tail}` : ''}`)));
    };
    // Own process group (detached), so a timeout kills what the plugin started too; no stdin: unattended.
    const child = spawn(cfg.command, cfg.args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {}
    };
    const timer = setTimeout(() => {
      killGroup();
      fail(`did not finish within ${timeoutMs / 1000}s and was killed`);
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (stdout.length > MAX_OUTPUT) {
        killGroup();
        fail(`printed more than ${MAX_OUTPUT} bytes`);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-8192);
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') {
        const hint = cfg.installHint?.replace(/\s+/g, ' ').trim();
        fail(`was not found (${cfg.command}: no such file)${hint ? `; ${hint}` : ''}`);
      } else fail(`could not start: ${err.message}`);
    });
    child.on('close', (code, signal) => {
      if (settled) return;
      if (code !== 0) return fail(signal ? `was killed by ${signal}` : `exited with code ${code}`);
      try {
        const cred = parseExecOutput(stdout, cfg);
        settled = true;
        clearTimeout(timer);
        resolve(cred);
      } catch (err) {
        fail(`${(err as Error).message.replace(`exec plugin '${name}' `, '')}`);
      }
    });
  });
}
