/**
 * The test entry point behind `npm test`: builds (or finds) the control-plane binaries once, before any test
 * file starts, so parallel test files never race to build them; then runs Node's test runner.
 *   node scripts/test.ts            all tests
 *   node scripts/test.ts --unit     only *.unit.test.ts (no control plane needed)
 *   node scripts/test.ts FILE...    only the named files
 */
import { spawn } from 'node:child_process';
import { globSync } from 'node:fs';
import { prepareTestBinaries } from '../src/localenv/binaries.ts';

const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const named = args.filter((a) => !a.startsWith('--'));

let files = named.length > 0 ? named : globSync('test/**/*.test.ts').sort();
if (unitOnly) files = files.filter((f) => f.endsWith('.unit.test.ts'));

if (!unitOnly) {
  const started = Date.now();
  const bins = await prepareTestBinaries({ log: (m) => process.stdout.write(`[testkit] ${m}\n`) });
  process.stdout.write(
    `[testkit] binaries ready in ${((Date.now() - started) / 1000).toFixed(1)}s: ${JSON.stringify(bins)}\n`,
  );
}

const concurrency = process.env.TEST_CONCURRENCY ?? '2';
const child = spawn(
  process.execPath,
  ['--test', '--test-force-exit', `--test-concurrency=${concurrency}`, '--test-timeout=900000', ...files],
  { stdio: 'inherit' },
);
child.on('exit', (code, sig) => process.exit(code ?? (sig ? 1 : 0)));
