/** `status` when there is no control plane: one line that says what is down and how to start it, exit 1. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const status = (...args: string[]) =>
  spawnSync(process.execPath, [MAIN, 'status', ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '' },
  });

/** A loopback port nobody listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

const noStackTrace = (text: string) => assert.doesNotMatch(text, /^\s+at /m, text);

describe('status without a control plane', () => {
  const dir = mkdtempSync(join(tmpdir(), 'status-errors-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('says the API server is not answering, and how to start one', async () => {
    const port = await closedPort();
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        'current-context': 'x',
        clusters: [{ name: 'x', cluster: { server: `https://127.0.0.1:${port}` } }],
        users: [{ name: 'x', user: { token: 't' } }],
        contexts: [{ name: 'x', context: { cluster: 'x', user: 'x' } }],
      }),
    );
    const r = status('--kubeconfig', kubeconfig);
    assert.equal(r.status, 1, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(
      lines[0]!,
      new RegExp(
        `^error: the API server at https://127\\.0\\.0\\.1:${port} \\(from ${kubeconfig}\\) is not answering \\(ECONNREFUSED\\).*\`make run\` starts the local environment`,
      ),
    );
    noStackTrace(r.stderr);
    assert.equal(r.stdout, '');
  });

  it('says the kubeconfig file is missing, and how to get one', () => {
    const missing = join(dir, 'absent', 'kubeconfig');
    const r = status('--kubeconfig', missing);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^error: kubeconfig not found at ${missing}; \`make run\` starts`));
    assert.equal(r.stderr.trim().split('\n').length, 1);
    noStackTrace(r.stderr);
  });
});
