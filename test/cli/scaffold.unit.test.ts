import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { scaffold } from '../../src/cli/scaffold.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

describe('scaffold', () => {
  it('creates a backend package that compiles against the real interface, and never overwrites', () => {
    // A throw-away tree that sees the real sources through symlinks.
    const dir = mkdtempSync(join(tmpdir(), 'scaffold-'));
    try {
      mkdirSync(join(dir, 'src'));
      for (const d of ['datum', 'runtime', 'testkit', 'localenv', 'cli'])
        symlinkSync(join(REPO, 'src', d), join(dir, 'src', d));
      mkdirSync(join(dir, 'src', 'backends'));
      for (const b of readdirSync(join(REPO, 'src', 'backends')))
        symlinkSync(join(REPO, 'src', 'backends', b), join(dir, 'src', 'backends', b));
      symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
      for (const f of ['tsconfig.json', 'package.json']) copyFileSync(join(REPO, f), join(dir, f));
      const files = scaffold('edge-pods', dir);
      assert.deepEqual(files.sort(), [
        'src/backends/edge-pods/README.md',
        'src/backends/edge-pods/backend.ts',
        'test/backends/edge-pods-contract.test.ts',
      ]);
      execFileSync(join(REPO, 'node_modules/.bin/tsc'), ['--noEmit', '-p', join(dir, 'tsconfig.json')], {
        stdio: 'pipe',
      });
      assert.throws(() => scaffold('edge-pods', dir), /refusing to overwrite/);
      assert.throws(() => scaffold('Bad Name', dir), /must be lower-case/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
