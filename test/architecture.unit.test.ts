/**
 * The layers stay as docs/architecture.md draws them, checked on every static import of src/:
 * the runtime knows no Datum, the contract knows no backend, backends know no test kit or local environment,
 * and nothing the production image ships imports the test kit or the local environment statically.
 */
import assert from 'node:assert/strict';
import { globSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** Every static relative import of every file under src/, as src-relative paths. */
function imports(): { from: string; to: string }[] {
  const out: { from: string; to: string }[] = [];
  for (const f of globSync('**/*.ts', { cwd: SRC })) {
    const text = readFileSync(join(SRC, f), 'utf8');
    for (const m of text.matchAll(/^(?:import|export)\s[^;]*?from\s+'(\.{1,2}\/[^']+)'/gms))
      out.push({ from: f, to: relative(SRC, resolve(dirname(join(SRC, f)), m[1]!)) });
  }
  return out;
}

const layer = (p: string) => p.split('/')[0]!;

describe('architecture', () => {
  const all = imports();

  it('finds the imports it checks', () => {
    assert.ok(all.length > 300, `${all.length} imports`);
  });

  it('the runtime imports only the runtime', () => {
    const bad = all.filter((i) => layer(i.from) === 'runtime' && layer(i.to) !== 'runtime');
    assert.deepEqual(bad, []);
  });

  it('the Datum contract imports only itself and the runtime (no backend, test kit or local environment)', () => {
    const bad = all.filter((i) => layer(i.from) === 'datum' && !['datum', 'runtime'].includes(layer(i.to)));
    assert.deepEqual(bad, []);
  });

  it('a backend imports the backend interface, its settings type, the runtime, shared helpers and its own folder only', () => {
    const allowed = (from: string, to: string) =>
      to.startsWith(`${from.split('/').slice(0, 2).join('/')}/`) ||
      to.startsWith('backends/common/') ||
      ['datum/backend.ts', 'datum/settings.ts'].includes(to) ||
      layer(to) === 'runtime';
    const bad = all.filter(
      (i) => i.from.startsWith('backends/') && i.from !== 'backends/registry.ts' && !allowed(i.from, i.to),
    );
    assert.deepEqual(bad, []);
  });

  it('nothing the production image ships imports the test kit or the local environment statically', () => {
    const shipped = (f: string) => !['testkit', 'localenv'].includes(layer(f));
    const bad = all.filter((i) => shipped(i.from) && ['testkit', 'localenv'].includes(layer(i.to)));
    assert.deepEqual(bad, []);
  });
});
