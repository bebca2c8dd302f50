/** `npm run bench` has a runner to call, which finds every bench/*.bench.ts (without running them here). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const runner = (...args: string[]) =>
  spawnSync(process.execPath, ['bench/run.ts', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });

describe('bench runner', () => {
  it('is the file the npm script names, and lists every benchmark', () => {
    const script = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')).scripts.bench as string;
    const file = /^node (\S+)$/.exec(script)?.[1];
    assert.ok(file && existsSync(`${ROOT}/${file}`), `npm run bench runs '${script}': missing file`);
    const r = runner('--help');
    assert.equal(r.status, 0, r.stderr);
    const names = readdirSync(`${ROOT}/bench`).filter((f) => f.endsWith('.bench.ts'));
    assert.ok(names.length >= 2);
    for (const f of names) assert.match(r.stdout, new RegExp(f.replace('.bench.ts', '')));
  });

  it('refuses an unknown benchmark name before running anything', () => {
    const r = runner('no-such-bench');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown benchmark no-such-bench; available: .*watch-cache/);
  });
});
