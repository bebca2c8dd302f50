/**
 * The chaos suite's quick mode (`npm run chaos -- --quick`) inside `make test`: provider kills, API server
 * and platform faults, bad input and the secret scan, on both backends. Its summary line must show no
 * duplicates, orphans, leaked secrets or crashes, and the run must pass its other checks.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../scripts/chaos.ts', import.meta.url));
const SUMMARY =
  /^chaos: kills=(\d+) duplicates=(\d+) orphans=(\d+) leaked_secrets=(\d+) invalid=(\d+) crashed=(\d+)$/;

test('chaos quick mode: no duplicates, orphans, leaked secrets or crashes', {
  timeout: 900_000,
}, async (t) => {
  const child = spawn(process.execPath, [SCRIPT, '--quick'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    err += d;
  });
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  const lines = out.trim().split('\n');
  const last = lines.at(-1) ?? '';
  for (const l of err.split('\n').filter((l) => /FAIL|note:/.test(l))) t.diagnostic(l);
  t.diagnostic(last);
  const m = SUMMARY.exec(last);
  assert.ok(m, `no summary line; stdout: ${out.slice(-500)}; stderr:\n${err.slice(-4000)}`);
  assert.equal(lines.length, 1, 'stdout is the summary line alone');
  const [kills, duplicates, orphans, leaked, invalid, crashed] = m.slice(1).map(Number) as number[];
  assert.equal(duplicates, 0, 'duplicates');
  assert.equal(orphans, 0, 'orphans');
  assert.equal(leaked, 0, 'leaked secrets');
  assert.equal(crashed, 0, 'crashes');
  assert.ok(kills! >= 10, `at least 10 provider kills (got ${kills})`);
  assert.ok(invalid! >= 100, `at least 100 invalid inputs handled (got ${invalid})`);
  assert.equal(
    code,
    0,
    `the run failed checks:\n${err
      .split('\n')
      .filter((l) => l.includes('FAIL'))
      .join('\n')}`,
  );
});
