/**
 * A real etcd + kube-apiserver on free loopback ports: envtest for TypeScript.
 *   const cp = await ControlPlane.start({ crdDirs: [DATUM_CRDS.compute] });
 *   const client = cp.client(); ... await cp.stop();
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { request } from 'undici';
import { createClient, type HttpClient } from '../runtime/client/client.ts';
import { type ClusterConfig, toKubeconfigYaml } from '../runtime/client/config.ts';
import type { KubeObject } from '../runtime/client/types.ts';
import { resolveBinary } from './binaries.ts';
import { clientCert, ensurePki } from './certs.ts';
import { installCRDs } from './crds.ts';
import { logTail, type Managed, ProcessGroup, sleep } from './process.ts';

export { DATUM_CRDS, sharedDir } from './shared.ts';

export interface ControlPlaneOptions {
  crdDirs?: (string | KubeObject)[];
  /** Use the RBAC authorizer (default: AlwaysAllow). */
  rbac?: boolean;
  /** Keep certificates and etcd data here so a later start resumes. */
  dataDir?: string;
  extraApiServerArgs?: string[];
  startTimeoutMs?: number;
  /** Also run kube-controller-manager with only the garbage-collector and namespace controllers, so owner
   * references and namespace deletion behave as in a real cluster. */
  controllerManager?: boolean;
  /** Bearer tokens from a static file (--token-auth-file); the API server reads it only at start, so after
   * writeTokenAuthFile() call restartApiServer(). For tokens that change or expire, prefer tokenWebhook. */
  tokenAuthFile?: StaticToken[];
  /** A TokenReview webhook (startTokenWebhook() in token-webhook.ts): valid tokens change without restarts. */
  tokenWebhook?: { apiServerArgs(dir: string): string[] };
  /**
   * The API server's audit log: JSON lines at `path`, recording what `rules` select (audit.k8s.io/v1 policy
   * rules; everything else is not recorded). Tests use it to tell who wrote what (user agent, user).
   */
  auditLog?: { path: string; rules: Record<string, unknown>[] };
}

export interface StaticToken {
  token: string;
  user: string;
  uid?: string;
  groups?: string[];
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => res(port));
    });
  });
}

export class ControlPlane {
  readonly dir: string;
  readonly etcdEndpoint: string;
  readonly apiPort: number;
  readonly kubeconfigPath: string;
  readonly connection: ClusterConfig;
  private readonly procs: ProcessGroup;
  private readonly opts: ControlPlaneOptions;
  private readonly apiBin: string;
  private readonly etcdPort: number;
  private etcd: Managed | undefined;
  private apiserver: Managed | undefined;
  private admin: HttpClient | undefined;

  private constructor(p: {
    dir: string;
    procs: ProcessGroup;
    opts: ControlPlaneOptions;
    apiBin: string;
    etcdPort: number;
    apiPort: number;
  }) {
    this.dir = p.dir;
    this.procs = p.procs;
    this.opts = p.opts;
    this.apiBin = p.apiBin;
    this.etcdPort = p.etcdPort;
    this.apiPort = p.apiPort;
    this.etcdEndpoint = `http://127.0.0.1:${p.etcdPort}`;
    const pki = join(p.dir, 'pki');
    this.connection = {
      server: `https://127.0.0.1:${p.apiPort}`,
      caData: readFileSync(join(pki, 'ca.crt'), 'utf8'),
      certData: readFileSync(join(pki, 'admin.crt'), 'utf8'),
      keyData: readFileSync(join(pki, 'admin.key'), 'utf8'),
    };
    this.kubeconfigPath = join(p.dir, 'kubeconfig');
    writeFileSync(this.kubeconfigPath, toKubeconfigYaml(this.connection, 'datum-testkit'), { mode: 0o600 });
  }

  static async start(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const [etcdBin, apiBin] = await Promise.all([resolveBinary('etcd'), resolveBinary('kube-apiserver')]);
    const procs = new ProcessGroup();
    const dir = opts.dataDir ? resolve(opts.dataDir) : procs.tempDir('datum-controlplane-');
    mkdirSync(join(dir, 'pki'), { recursive: true });
    mkdirSync(join(dir, 'logs'), { recursive: true });
    ensurePki(join(dir, 'pki'));
    const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const cp = new ControlPlane({ dir, procs, opts, apiBin, etcdPort, apiPort });
    if (opts.tokenAuthFile) cp.writeTokenAuthFile(opts.tokenAuthFile);
    try {
      await cp.startEtcd(etcdBin, peerPort);
      await cp.startApiServer();
      if (opts.crdDirs?.length) await cp.installCRDs(opts.crdDirs);
      if (opts.controllerManager)
        await cp.startControllerManager(await resolveBinary('kube-controller-manager'));
    } catch (err) {
      await cp.stop();
      throw err;
    }
    return cp;
  }

  /** The admin client (system:masters). */
  client(): HttpClient {
    this.admin ??= createClient(this.connection, { userAgent: 'datum-testkit', maxAttempts: 8 });
    return this.admin;
  }

  installCRDs(input: (string | KubeObject)[]): Promise<KubeObject[]> {
    return installCRDs(this.client(), input);
  }

  private async startEtcd(bin: string, peerPort: number): Promise<void> {
    const data = join(this.dir, 'etcd');
    this.etcd = this.procs.start(
      'etcd',
      bin,
      [
        `--data-dir=${data}`,
        `--listen-client-urls=${this.etcdEndpoint}`,
        `--advertise-client-urls=${this.etcdEndpoint}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
        '--unsafe-no-fsync=true',
        '--log-level=warn',
      ],
      join(this.dir, 'logs'),
    );
    await this.waitHttp(this.etcd, `${this.etcdEndpoint}/health`, false);
  }

  async startApiServer(): Promise<void> {
    const pki = join(this.dir, 'pki');
    const args = [
      `--etcd-servers=${this.etcdEndpoint}`,
      `--secure-port=${this.apiPort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--tls-cert-file=${join(pki, 'apiserver.crt')}`,
      `--tls-private-key-file=${join(pki, 'apiserver.key')}`,
      `--client-ca-file=${join(pki, 'ca.crt')}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
      '--disable-admission-plugins=ServiceAccount',
      `--service-account-issuer=https://127.0.0.1:${this.apiPort}/`,
      `--service-account-key-file=${join(pki, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(pki, 'sa.key')}`,
      '--endpoint-reconciler-type=none',
      `--authorization-mode=${this.opts.rbac ? 'RBAC' : 'AlwaysAllow'}`,
      ...(this.opts.tokenAuthFile ? [`--token-auth-file=${join(this.dir, 'tokens.csv')}`] : []),
      ...(this.opts.tokenWebhook?.apiServerArgs(this.dir) ?? []),
      ...this.auditArgs(),
      ...(this.opts.extraApiServerArgs ?? []),
    ];
    this.apiserver = this.procs.start('kube-apiserver', this.apiBin, args, join(this.dir, 'logs'));
    await this.waitHttp(this.apiserver, `${this.connection.server}/readyz`, true);
  }

  private auditArgs(): string[] {
    const audit = this.opts.auditLog;
    if (!audit) return [];
    const policy = join(this.dir, 'audit-policy.json');
    // JSON is YAML: the API server reads it as a policy file. The log backend writes each event before the
    // request's response is complete (blocking mode).
    writeFileSync(
      policy,
      JSON.stringify({
        apiVersion: 'audit.k8s.io/v1',
        kind: 'Policy',
        omitStages: ['RequestReceived'],
        rules: [...audit.rules, { level: 'None' }],
      }),
    );
    return [
      `--audit-policy-file=${policy}`,
      `--audit-log-path=${resolve(audit.path)}`,
      '--audit-log-format=json',
      '--audit-log-mode=blocking',
    ];
  }

  private async startControllerManager(bin: string): Promise<void> {
    const pki = join(this.dir, 'pki');
    const port = await freePort();
    const kcm = this.procs.start(
      'kube-controller-manager',
      bin,
      [
        `--kubeconfig=${this.kubeconfigPath}`,
        `--authentication-kubeconfig=${this.kubeconfigPath}`,
        `--authorization-kubeconfig=${this.kubeconfigPath}`,
        '--controllers=garbage-collector-controller,namespace-controller',
        '--leader-elect=false',
        '--use-service-account-credentials=false',
        `--service-account-private-key-file=${join(pki, 'sa.key')}`,
        `--root-ca-file=${join(pki, 'ca.crt')}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${port}`,
      ],
      join(this.dir, 'logs'),
    );
    const deadline = Date.now() + 60_000;
    while (
      !logTail(kcm.logPath, 400).includes('Started controller') &&
      !logTail(kcm.logPath, 400).includes('garbage')
    ) {
      if (kcm.child.exitCode !== null)
        throw new Error(`kube-controller-manager exited (${kcm.child.exitCode}):\n${logTail(kcm.logPath)}`);
      if (Date.now() > deadline)
        throw new Error(`kube-controller-manager did not start:\n${logTail(kcm.logPath)}`);
      await sleep(200);
    }
  }

  async stopApiServer(): Promise<void> {
    if (this.apiserver) await this.procs.stopOne(this.apiserver);
    this.apiserver = undefined;
  }

  async restartApiServer(): Promise<void> {
    await this.stopApiServer();
    await this.startApiServer();
  }

  /** Compacts etcd to its current revision: watches from older resourceVersions then get 410 Gone. */
  async compactEtcd(): Promise<number> {
    const post = async (path: string, body: unknown) => {
      const res = await request(`${this.etcdEndpoint}${path}`, {
        method: 'POST',
        body: JSON.stringify(body),
      });
      return (await res.body.json()) as { header?: { revision?: string } };
    };
    const range = await post('/v3/kv/range', { key: Buffer.from('/').toString('base64') });
    const revision = Number(range.header?.revision);
    await post('/v3/kv/compaction', { revision, physical: true });
    return revision;
  }

  /** Rewrites the static token file (tokenAuthFile); the API server sees it after restartApiServer(). */
  writeTokenAuthFile(tokens: StaticToken[]): void {
    const line = (t: StaticToken) =>
      [t.token, t.user, t.uid ?? t.user, ...(t.groups?.length ? [`"${t.groups.join(',')}"`] : [])].join(',');
    writeFileSync(join(this.dir, 'tokens.csv'), tokens.map(line).join('\n') + '\n', { mode: 0o600 });
  }

  /** A kubeconfig for another user (client cert), for RBAC tests. */
  userKubeconfig(user: string, groups: string[] = []): { path: string; connection: ClusterConfig } {
    const file = `user-${user.replace(/[^a-zA-Z0-9-]/g, '_')}`;
    const { cert, key } = clientCert(join(this.dir, 'pki'), file, user, groups);
    const connection = { ...this.connection, certData: cert, keyData: key };
    const path = join(this.dir, `${file}.kubeconfig`);
    writeFileSync(path, toKubeconfigYaml(connection, user), { mode: 0o600 });
    return { path, connection };
  }

  pids(): number[] {
    return [this.etcd, this.apiserver].flatMap((m) => (m?.child.pid ? [m.child.pid] : []));
  }

  async stop(): Promise<void> {
    await this.admin?.close().catch(() => {});
    this.admin = undefined;
    await this.procs.stopAll(this.opts.dataDir ? [this.dir] : []);
  }

  private async waitHttp(proc: Managed, url: string, tls: boolean): Promise<void> {
    const timeout = this.opts.startTimeoutMs ?? 90_000;
    const deadline = Date.now() + timeout;
    const probe = tls ? createClient(this.connection, { maxAttempts: 1, timeoutMs: 5000 }) : undefined;
    let exitCode: number | null | undefined;
    proc.exited.then((c) => {
      exitCode = c;
    });
    try {
      for (;;) {
        if (exitCode !== undefined) {
          throw new Error(
            `${proc.name} exited with code ${exitCode} during start-up. Last log lines (${proc.logPath}):\n${logTail(proc.logPath)}`,
          );
        }
        try {
          if (probe) {
            const res = await probe.transport.send('GET', new URL(url).pathname);
            await res.body.text();
            return;
          }
          const res = await request(url);
          await res.body.text();
          if (res.statusCode === 200) return;
        } catch {}
        if (Date.now() > deadline) {
          throw new Error(
            `${proc.name} did not become ready at ${url} within ${timeout} ms. Last log lines (${proc.logPath}):\n${logTail(proc.logPath)}`,
          );
        }
        await sleep(200);
      }
    } finally {
      await probe?.close();
    }
  }
}
