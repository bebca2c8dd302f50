/**
 * Runs the benchmarks in bench/ one after another (`npm run bench`), each in its own process so that one's
 * heap and control plane do not disturb the next. The suite (suite.bench.ts) writes its results under
 * bench/results/; the others print theirs (bench/RESULTS.md is written by hand from a full run).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const DIR = fileURLToPath(new URL('.', import.meta.url));
const ALL = readdirSync(DIR)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.slice(0, -'.bench.ts'.length))
  .sort();
// Sizes for --quick: enough to exercise every phase in seconds; the figures mean nothing at this size.
const QUICK_N: Record<string, string> = { 'watch-cache': '200', provider: '10' };
// The suite takes flags rather than one size: --quick is its own small configuration.
const FLAG_STYLE = new Set(['suite']);

const HELP = `Usage: npm run bench -- [--quick] [--n N] [name ...]

Runs each benchmark (default: all) in turn: ${ALL.join(', ')}.
  --quick   small sizes, to check that the benchmarks still run (seconds instead of minutes)
  --n N     the size passed to every benchmark (default: each one's own, see bench/RESULTS.md)
`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { quick: { type: 'boolean' }, n: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
});
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const names = positionals.length ? positionals : ALL;
const unknown = names.filter((n) => !ALL.includes(n));
if (unknown.length) {
  process.stderr.write(`unknown benchmark ${unknown.join(', ')}; available: ${ALL.join(', ')}\n`);
  process.exit(2);
}
const failed: string[] = [];
for (const name of names) {
  const n = values.n ?? (values.quick ? QUICK_N[name] : undefined);
  process.stdout.write(`== ${name}${n ? ` (N=${n})` : ''}\n`);
  const sizeArgs = FLAG_STYLE.has(name)
    ? [...(values.quick ? ['--quick'] : []), ...(values.n ? ['--storm', values.n] : [])]
    : n
      ? [n]
      : [];
  // --expose-gc: watch-cache measures heap per object and needs it; harmless for the others.
  const args = ['--expose-gc', join(DIR, `${name}.bench.ts`), ...sizeArgs];
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  if (r.status !== 0) failed.push(`${name} (${r.signal ?? `exit ${r.status}`})`);
}
if (failed.length) process.stderr.write(`failed: ${failed.join(', ')}\n`);
process.exit(failed.length ? 1 : 0);
