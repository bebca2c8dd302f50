/**
 * A provider author's path, end to end, outside this repository: the package is packed (`npm pack`), `init`
 * creates a new project in a temporary folder depending on that tarball, npm installs it, the project
 * typechecks against the published declarations, its skeleton backend (filled with the in-memory behaviour)
 * passes the contract suite on a real API server through the project's own `npm test`, and `create backend`
 * adds a second backend that typechecks.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sharedDir } from '../../src/localenv/shared.ts';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = join(REPO, 'src/cli/main.ts');

/** Our environment minus the test runner's own marker, which would make the project's runner report to us. */
function withoutTestContext(): NodeJS.ProcessEnv {
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  return env;
}

describe('init: a provider project of your own, from the packed package', () => {
  let tmp: string;
  let project: string;
  let tarball: string;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'init-'));
    const packed = await run('npm', ['pack', '--silent', '--pack-destination', tmp], {
      cwd: REPO,
      maxBuffer: 1 << 26,
    });
    tarball = join(tmp, packed.stdout.trim().split('\n').pop()!);
    assert.ok(existsSync(tarball), `npm pack wrote ${tarball}`);
    project = join(tmp, 'acme-provider');
    const out = await run(process.execPath, [
      MAIN,
      'init',
      project,
      '--backend',
      'acme',
      '--kit',
      `file:${tarball}`,
    ]);
    assert.match(out.stdout, /next: cd .* && make test/);
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], {
      cwd: project,
      maxBuffer: 1 << 26,
    });
  });
  after(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('creates the project an author expects, and refuses to init into a non-empty folder', async () => {
    for (const f of [
      'package.json',
      'src/main.ts',
      'src/backends/index.ts',
      'src/backends/acme/backend.ts',
      'test/acme-contract.test.ts',
      'README.md',
      'Makefile',
      '.ci/run',
      '.gitignore',
      'Dockerfile',
      'deploy/kustomize/base/kustomization.yaml',
      'deploy/helm/acme-provider/Chart.yaml',
      'deploy/helm/acme-provider/files/rbac/upstream.yaml',
      'deploy/crds/infra.provider-ts.io_providerconfigs.yaml',
    ])
      assert.ok(existsSync(join(project, f)), f);
    assert.match(
      readFileSync(join(project, 'deploy/helm/acme-provider/Chart.yaml'), 'utf8'),
      /^name: acme-provider$/m,
    );
    assert.match(
      readFileSync(join(project, 'deploy/kustomize/base/settings.yaml'), 'utf8'),
      /^backend: acme$/m,
    );
    await assert.rejects(run(process.execPath, [MAIN, 'init', project, '--backend', 'acme']), /not empty/);
  });

  it('typechecks against the published declarations, skeleton included', async () => {
    await run('npm', ['run', 'typecheck', '--silent'], { cwd: project });
  });

  it("the project's own tests pass: the contract suite on its backend filled with the in-memory behaviour", async () => {
    writeFileSync(
      join(project, 'src/backends/acme/backend.ts'),
      `import { InMemoryBackend } from 'datum-provider-ts/backends/inmemory';

/** The skeleton filled with the reference behaviour: state in a file the provider process shares. */
export class AcmeBackend extends InMemoryBackend {
  override readonly name = 'acme';
  constructor(config: Readonly<Record<string, string>> = {}) {
    super({ stateFile: config.stateFile, pendingMs: 300, stoppingMs: 300 });
  }
}
`,
    );
    const res = await run('npm', ['test', '--silent'], {
      cwd: project,
      maxBuffer: 1 << 26,
      env: {
        ...withoutTestContext(),
        DATUM_SHARED_DIR: sharedDir(),
        ACME_BACKEND_CONFIG: JSON.stringify({ stateFile: join(tmp, 'acme-state.json') }),
      },
    }).catch((err: { stdout?: string; message: string }) => {
      throw new Error(
        `npm test failed in the generated project:\n${String(err.stdout ?? err.message).slice(-4000)}`,
      );
    });
    assert.match(res.stdout, /ℹ pass [1-9]\d*/);
    assert.match(res.stdout, /ℹ fail 0/);
    assert.match(res.stdout, /✔ backend contract: acme/);
  });

  it('installs and typechecks on Node 22, the oldest supported, and every entry imports there', async () => {
    const n22 = join(tmp, 'node22');
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--prefix', n22, 'node@22'], {
      maxBuffer: 1 << 26,
    });
    const node22 = join(n22, 'node_modules/.bin/node');
    assert.match((await run(node22, ['--version'])).stdout, /^v22\./);
    const entries = Object.keys(
      JSON.parse(readFileSync(join(project, 'node_modules/datum-provider-ts/package.json'), 'utf8')).exports,
    ).filter((e) => e !== './package.json');
    const probe = `for (const e of ${JSON.stringify(entries)}) { const m = await import('datum-provider-ts' + e.slice(1)); if (!Object.keys(m).length) throw new Error(e + ' exports nothing'); } console.log('imported', ${entries.length});`;
    const out = await run(node22, ['--input-type=module', '-e', probe], { cwd: project });
    assert.match(out.stdout, new RegExp(`imported ${entries.length}`));
    await run(node22, [join(project, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', 'tsconfig.json'], {
      cwd: project,
    });
  });

  it('create backend adds a second backend, registered, and the project still typechecks', async () => {
    const out = await run(process.execPath, [MAIN, 'create', 'backend', 'edge-sites', '--dir', project]);
    assert.match(out.stdout, /created src\/backends\/edge-sites\/backend.ts/);
    assert.match(
      readFileSync(join(project, 'src/backends/index.ts'), 'utf8'),
      /'edge-sites': \(settings\) => new EdgeSitesBackend/,
    );
    await run('npm', ['run', 'typecheck', '--silent'], { cwd: project });
    await assert.rejects(
      run(process.execPath, [MAIN, 'create', 'backend', 'edge-sites', '--dir', project]),
      /refusing to overwrite/,
    );
  });
});
