/**
 * Builds the package: JavaScript and type declarations for every entry into dist/ (relative `.ts` imports
 * rewritten to `.js`), plus the non-TypeScript files the code reads next to itself. Run by `npm pack`.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, globSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
rmSync(join(root, 'dist'), { recursive: true, force: true });
execFileSync(join(root, 'node_modules/.bin/tsc'), ['-p', join(root, 'tsconfig.build.json')], {
  stdio: 'inherit',
});
for (const f of globSync('src/**/*', { cwd: root, withFileTypes: false }))
  if (/\.(sh|py|json)$/.test(f)) cpSync(join(root, f), join(root, 'dist', f.slice('src/'.length)));
process.stdout.write('built dist/\n');
