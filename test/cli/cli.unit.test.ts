import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const run = (...args: string[]) =>
  spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 20_000 });

describe('CLI input errors', () => {
  it('prints help, and refuses unknown commands and flags with exit code 2', () => {
    assert.equal(run('--help').status, 0);
    assert.match(run('--help').stdout, /Usage: datum-provider/);
    const unknown = run('frobnicate');
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown command 'frobnicate'/);
    const flag = run('run', '--no-such-flag');
    assert.equal(flag.status, 2);
    assert.match(flag.stderr, /no-such-flag/);
  });

  const dir = mkdtempSync(join(tmpdir(), 'settings-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('names the problem in a bad settings file', () => {
    const file = join(dir, 'settings.yaml');
    writeFileSync(
      file,
      'apiVersion: infra.provider-ts.io/v1alpha1\nkind: ProviderSettings\nlocationClasName: typo\n',
    );
    const typo = run('run', '--settings', file);
    assert.equal(typo.status, 2);
    assert.match(typo.stderr, /unknown field 'locationClasName'/);
    writeFileSync(
      file,
      'apiVersion: infra.provider-ts.io/v1alpha1\nkind: ProviderSettings\ndiscovery: {mode: cluster}\n',
    );
    assert.match(run('run', '--settings', file).stderr, /discovery.mode must be 'single' or 'milo'/);
    assert.match(run('run', '--settings', join(dir, 'absent.yaml')).stderr, /cannot read settings file/);
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        'current-context': 'x',
        clusters: [{ name: 'x', cluster: { server: 'https://127.0.0.1:1' } }],
        users: [{ name: 'x', user: {} }],
        contexts: [{ name: 'x', context: { cluster: 'x', user: 'x' } }],
      }),
    );
    const backend = run('run', '--backend', 'nope', '--kubeconfig', kubeconfig);
    assert.equal(backend.status, 2);
    assert.match(
      backend.stderr,
      /^error: unknown backend 'nope'; available: (\w+, )*aws, (\w+, )*inmemory(, \w+)*$/m,
    );
    assert.match(run('run', '--kubeconfig', join(dir, 'missing')).stderr, /^error: kubeconfig not found/m);
  });
});
