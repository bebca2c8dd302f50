/**
 * The rest of kubeconfig as kubectl honours it, against a real kube-apiserver: several files merged through
 * $KUBECONFIG with a context chosen by the CLI's --context, relative paths, a static token file (rewritten, then
 * reloaded by a restart), proxy-url through an HTTP CONNECT proxy, gzip unless disable-compression,
 * tls-server-name and impersonation.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ControlPlane, DATUM_CRDS } from '../../src/localenv/controlplane.ts';
import { createClient, type HttpClient } from '../../src/runtime/client/client.ts';
import { type ClusterConfig, clusterConfigFrom } from '../../src/runtime/client/config.ts';
import { TransportError, UnauthorizedError } from '../../src/runtime/client/errors.ts';
import { readKubeconfigs } from '../../src/runtime/client/kubeconfig.ts';
import type { KubeObject } from '../../src/runtime/client/types.ts';
import { CONFIGMAP, SELF_SUBJECT_REVIEW } from './fixtures/kinds.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const whoami = async (c: HttpClient) =>
  (await c.create<KubeObject>(SELF_SUBJECT_REVIEW, { metadata: {} })).status.userInfo as {
    username: string;
    groups: string[];
  };

/** An HTTP CONNECT proxy that counts tunnels and the bytes coming back from the server. */
async function connectProxy() {
  const seen = { tunnels: [] as string[], bytesDown: 0 };
  const sockets = new Set<Socket>();
  const server = createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req, client: Socket, head: Buffer) => {
    seen.tunnels.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    const upstream = connect(Number(port), host!, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('data', (d: Buffer) => {
      seen.bytesDown += d.length;
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('kubeconfig against a real API server', () => {
  const root = mkdtempSync(join(tmpdir(), 'kubeconfig-it-'));
  let cp: ControlPlane;
  const clients: HttpClient[] = [];
  const client = (cfg: ClusterConfig) => {
    const c = createClient(cfg, { maxAttempts: 1 });
    clients.push(c);
    return c;
  };
  let fileA: string;
  let fileB: string;

  before(async () => {
    cp = await ControlPlane.start({
      crdDirs: [DATUM_CRDS.compute],
      tokenAuthFile: [{ token: 'static-1', user: 'carol', groups: ['team'] }],
    });
    // File A: the current context, whose user's plugin fails, and the real cluster (CA relative to A).
    mkdirSync(join(root, 'a'));
    writeFileSync(join(root, 'a', 'ca.crt'), cp.connection.caData!);
    writeFileSync(
      join(root, 'a', 'broken.sh'),
      '#!/bin/sh\necho "error: not logged in; run datumctl login" >&2\nexit 1\n',
    );
    chmodSync(join(root, 'a', 'broken.sh'), 0o755);
    fileA = join(root, 'a', 'config');
    writeFileSync(
      fileA,
      JSON.stringify({
        'current-context': 'broken',
        clusters: [
          { name: 'testkit', cluster: { server: cp.connection.server, 'certificate-authority': 'ca.crt' } },
        ],
        users: [
          {
            name: 'broken',
            user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: './broken.sh' } },
          },
        ],
        contexts: [{ name: 'broken', context: { cluster: 'testkit', user: 'broken' } }],
      }),
    );
    // File B: its own current-context and a 'testkit' cluster lose to A's; its users' paths are relative to B.
    mkdirSync(join(root, 'b', 'certs'), { recursive: true });
    writeFileSync(join(root, 'b', 'token'), 'static-1\n');
    writeFileSync(join(root, 'b', 'certs', 'admin.crt'), cp.connection.certData!);
    writeFileSync(join(root, 'b', 'certs', 'admin.key'), cp.connection.keyData!);
    writeFileSync(
      join(root, 'b', 'plugin.sh'),
      `#!/bin/sh\nprintf '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"%s"}}' "$(cat "$(dirname "$0")/token")"\n`,
    );
    chmodSync(join(root, 'b', 'plugin.sh'), 0o755);
    fileB = join(root, 'b', 'config');
    writeFileSync(
      fileB,
      JSON.stringify({
        'current-context': 'token',
        clusters: [{ name: 'testkit', cluster: { server: 'https://127.0.0.1:1' } }],
        users: [
          { name: 'token', user: { tokenFile: 'token' } },
          {
            name: 'cert',
            user: { 'client-certificate': 'certs/admin.crt', 'client-key': 'certs/admin.key' },
          },
          {
            name: 'exec',
            user: { exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: './plugin.sh' } },
          },
        ],
        contexts: ['token', 'cert', 'exec'].map((n) => ({
          name: n,
          context: { cluster: 'testkit', user: n },
        })),
      }),
    );
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await cp?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const merged = (context?: string) =>
    clusterConfigFrom(readKubeconfigs(undefined, `${fileA}:${fileB}`), context);
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [MAIN, ...args], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, KUBECONFIG: `${fileA}:${fileB}`, KUBERNETES_SERVICE_HOST: '' },
    });

  it('merges $KUBECONFIG files and uses the context the CLI names', async () => {
    const current = cli('status');
    assert.equal(current.status, 1, current.stderr);
    assert.match(
      current.stderr,
      /^error: cannot authenticate to https:\/\/127\.0\.0\.1:\d+ \(from .*a\/config\): exec plugin '.*a\/broken\.sh' exited with code 1: error: not logged in; run datumctl login\n$/,
    );
    for (const ctx of ['exec', 'token', 'cert']) {
      const r = cli('status', '--context', ctx);
      assert.equal(r.status, 0, `${ctx}: ${r.stderr}`);
      assert.equal(r.stdout, 'No Instances.\n');
    }
    const unknown = cli('run', '--context', 'nope', '--backend', 'inmemory');
    assert.equal(unknown.status, 2);
    assert.match(
      unknown.stderr,
      /^error: kubeconfig .*: context 'nope' not found \(contexts: broken, token, cert, exec\)$/m,
    );
    assert.equal((await whoami(client(merged('exec')))).username, 'carol');
    assert.equal((await whoami(client(merged('token')))).username, 'carol');
    assert.equal((await whoami(client(merged('cert')))).username, 'admin');
  });

  it("runs the README's example: an exec plugin handing out a client certificate, merged with another file", () => {
    const example = fileURLToPath(new URL('../../examples/kubeconfig-exec/kubeconfig.yaml', import.meta.url));
    const r = spawnSync(process.execPath, [MAIN, 'status', '--context', 'local-exec'], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, KUBECONFIG: `${cp.kubeconfigPath}:${example}`, DATUM_DATA_DIR: cp.dir },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'No Instances.\n');
  });

  it('reloads a rewritten static token file after an API server restart', async () => {
    const token = (t: string) =>
      client({ server: cp.connection.server, caData: cp.connection.caData, token: t });
    assert.deepEqual((await whoami(token('static-1'))).groups, ['team', 'system:authenticated']);
    cp.writeTokenAuthFile([{ token: 'static-2', user: 'dave' }]);
    await cp.restartApiServer();
    await assert.rejects(whoami(token('static-1')), UnauthorizedError);
    assert.equal((await whoami(token('static-2'))).username, 'dave');
  });

  it('goes through proxy-url, and gzip shrinks a large list unless disable-compression', async (t) => {
    const admin = cp.client();
    const pad = 'datum '.repeat(400);
    for (let i = 0; i < 200; i++)
      await admin.create(CONFIGMAP, {
        metadata: { name: `big-${i}`, namespace: 'default' },
        data: { pad: pad + i },
      });
    const proxy = await connectProxy();
    try {
      const via = (disableCompression: boolean) => ({
        ...cp.connection,
        proxyUrl: proxy.url,
        disableCompression,
      });
      const bytesFor = async (cfg: ClusterConfig) => {
        const before = proxy.seen.bytesDown;
        const list = await client(cfg).list(CONFIGMAP, { namespace: 'default' });
        assert.ok(list.items.length >= 200);
        return proxy.seen.bytesDown - before;
      };
      const gzip = await bytesFor(via(false));
      const plain = await bytesFor(via(true));
      assert.deepEqual(new Set(proxy.seen.tunnels), new Set([`127.0.0.1:${cp.apiPort}`]));
      assert.ok(gzip * 5 < plain, `gzip ${gzip} bytes vs ${plain} bytes`);
      t.diagnostic(
        `list of 200 ConfigMaps through the proxy: ${gzip} bytes gzip, ${plain} bytes uncompressed`,
      );
    } finally {
      await proxy.close();
    }
  });

  it('checks the server certificate against tls-server-name; impersonates with as/as-groups', async () => {
    const ip = { ...cp.connection, server: `https://127.0.0.1:${cp.apiPort}` };
    assert.equal((await whoami(client({ ...ip, tlsServerName: 'localhost' }))).username, 'admin');
    await assert.rejects(
      whoami(client({ ...ip, tlsServerName: 'api.example.com' })),
      (e: unknown) => e instanceof TransportError && /api\.example\.com/.test(e.message),
    );
    const bob = await whoami(client({ ...ip, impersonate: { user: 'bob', groups: ['g1', 'g2'] } }));
    assert.equal(bob.username, 'bob');
    assert.deepEqual(bob.groups, ['g1', 'g2', 'system:authenticated']);
  });
});
