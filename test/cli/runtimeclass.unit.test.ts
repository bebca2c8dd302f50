import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

describe('datum-provider runtimeclass', () => {
  it('prints the RuntimeClass the configured backend can honour', () => {
    const out = spawnSync(process.execPath, [MAIN, 'runtimeclass', '--runtime-class', 'edge'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(out.status, 0, out.stderr);
    const rc = parse(out.stdout);
    assert.equal(rc.kind, 'RuntimeClass');
    assert.equal(rc.metadata.name, 'edge');
    assert.equal(rc.spec.controllerName, 'infra.provider-ts.io/datum-provider-ts');
    assert.ok(rc.spec.capabilities.features.includes('sandboxRuntime'));
    assert.deepEqual(rc.spec.lifecycle.operations, ['Suspend', 'Resume']);
  });
});
