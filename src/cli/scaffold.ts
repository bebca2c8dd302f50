/**
 * `datum-provider scaffold --name <platform> [--dir .]`: a new backend inside this repository that compiles
 * against the Backend interface, with a contract-suite test and a README for its author. Never overwrites a
 * file. (A separate provider project of your own: `datum-provider init`.)
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { backendSource, checkBackendName, contractTestSource, type Imports } from './init/templates.ts';

export function scaffoldFiles(name: string): Record<string, string> {
  const imports: Imports = {
    datum: '../../datum/backend.ts',
    rulesDoc: 'docs/backend-interface.md',
    testkit: '../../src/testkit/index.ts',
    backend: `../../src/backends/${name}/backend.ts`,
  };
  return {
    [`src/backends/${name}/backend.ts`]: backendSource(name, imports),
    [`test/backends/${name}-contract.test.ts`]: contractTestSource(name, {
      ...imports,
      datum: '../../src/datum/backend.ts',
    }),
    [`src/backends/${name}/README.md`]: `# The ${name} backend

1. Implement \`backend.ts\` (the TODOs), reading \`docs/backend-interface.md\` and \`src/backends/inmemory/backend.ts\`.
2. Register it with one entry in \`src/backends/registry.ts\`.
3. Run the contract suite: \`./node_modules/.bin/node --test test/backends/${name}-contract.test.ts\`, with
   \`${name.toUpperCase().replace(/-/g, '_')}_BACKEND_CONFIG\` (JSON) saying where the platform is.
4. \`make run ARGS="--backend ${name}"\`: the local environment runs your backend as configured.
`,
  };
}

/** Writes files under `dir`, refusing to overwrite any. Returns the paths written. */
export function writeNew(dir: string, files: Record<string, string>): string[] {
  const root = resolve(dir);
  const existing = Object.keys(files).filter((f) => existsSync(join(root, f)));
  if (existing.length) throw new Error(`refusing to overwrite: ${existing.join(', ')}`);
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(join(root, f, '..'), { recursive: true });
    writeFileSync(join(root, f), text, { mode: f.endsWith('.sh') || f.startsWith('.ci/') ? 0o755 : 0o644 });
  }
  return Object.keys(files);
}

export function scaffold(name: string, dir = '.'): string[] {
  checkBackendName(name);
  return writeNew(dir, scaffoldFiles(name));
}
