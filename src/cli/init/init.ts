/**
 * `datum-provider init <dir>`: a new provider project of your own, separate from this repository, depending on
 * the published package: a backend skeleton, its contract-suite test, a main that registers it, the README's
 * two commands, CI, and deploy manifests (kustomize base and Helm chart) renamed for the project.
 * `datum-provider create backend <name>` adds another backend to such a project.
 */
import { cpSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeNew } from '../scaffold.ts';
import { backendSource, checkBackendName, contractTestSource, type Imports, pascal } from './templates.ts';

const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PKG = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  devDependencies: Record<string, string>;
};
const MARK_IMPORTS = '// datum-provider: backend imports (create backend adds lines above)';
const MARK_ENTRIES = '  // datum-provider: backends (create backend adds lines above)';

const projectImports = (name: string): Imports => ({
  datum: `${PKG.name}/datum`,
  testkit: `${PKG.name}/testkit`,
  backend: `../src/backends/${name}/backend.ts`,
  main: '../src/main.ts',
  rulesDoc: `${PKG.name}'s docs/backend-interface.md`,
});

function backendFiles(name: string): Record<string, string> {
  return {
    [`src/backends/${name}/backend.ts`]: backendSource(name, projectImports(name)),
    [`test/${name}-contract.test.ts`]: contractTestSource(name, projectImports(name)),
  };
}

export interface InitOptions {
  /** The project's npm name (default: the folder's name). */
  name?: string;
  /** The first backend's name. */
  backend: string;
  /** How package.json names this kit: a version range (default `^<our version>`) or a `file:` tarball. */
  kit?: string;
}

export function initProject(dir: string, opts: InitOptions): string[] {
  const root = resolve(dir);
  const name = opts.name ?? basename(root);
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(name)) throw new Error(`project name '${name}' is not a valid npm name`);
  checkBackendName(opts.backend);
  if (existsSync(root) && readdirSync(root).length > 0)
    throw new Error(`refusing to init into ${root}: not empty`);
  const cls = `${pascal(opts.backend)}Backend`;
  const written = writeNew(root, {
    'package.json': `${JSON.stringify(
      {
        name,
        version: '0.1.0',
        private: true,
        type: 'module',
        engines: { node: '>=24' },
        scripts: {
          start: 'node src/main.ts run',
          test: 'node --test "test/**/*.test.ts"',
          typecheck: 'tsc --noEmit -p tsconfig.json',
        },
        dependencies: { [PKG.name]: opts.kit ?? `^${PKG.version}` },
        devDependencies: {
          '@types/node': PKG.devDependencies['@types/node'],
          // Runs every npm script on Node 24 where the machine's own Node is older.
          node: PKG.devDependencies.node,
          typescript: PKG.devDependencies.typescript,
        },
      },
      null,
      2,
    )}\n`,
    'tsconfig.json': `${JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2024',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2024'],
          types: ['node'],
          strict: true,
          erasableSyntaxOnly: true,
          verbatimModuleSyntax: true,
          allowImportingTsExtensions: true,
          skipLibCheck: true,
          noEmit: true,
        },
        include: ['src', 'test'],
      },
      null,
      2,
    )}\n`,
    'src/main.ts': `#!/usr/bin/env node
/** ${name}: the ${PKG.name} command line with this project's backends (run, status, manifests). */
import { runCliAndExit } from '${PKG.name}/cli';
import { backends } from './backends/index.ts';

runCliAndExit(process.argv.slice(2), { backends });
`,
    'src/backends/index.ts': `/** This project's backends by name: \`run --backend NAME\` or \`backend: NAME\` in the settings file. */
import type { BackendFactory } from '${PKG.name}/cli';
import { ${cls} } from './${opts.backend}/backend.ts';
${MARK_IMPORTS}

export const backends: Record<string, BackendFactory> = {
  '${opts.backend}': (settings) => new ${cls}(settings.backendConfig),
${MARK_ENTRIES}
};
`,
    ...backendFiles(opts.backend),
    Makefile: `# The two commands: \`make run\` and \`make test\`.
.PHONY: run test deps
node_modules/.installed: package.json
\tnpm install --no-audit --no-fund
\t@touch $@
deps: node_modules/.installed
run: deps
\tnpm start -- $(ARGS)
test: deps
\tnpm run typecheck
\tnpm test
`,
    '.ci/run':
      '#!/usr/bin/env bash\n# CI: the README\'s test command on a clean clone.\nset -euo pipefail\ncd "$(dirname "$0")/.."\nmake test\n',
    '.gitignore': 'node_modules/\n.datum-local/\n*.log\n',
    'README.md': `# ${name}

A Datum Cloud infrastructure provider built on [${PKG.name}](https://www.npmjs.com/package/${PKG.name}).

\`\`\`sh
make run ARGS="--backend ${opts.backend}"   # a local Datum control plane with this provider and your backend
make test                                 # typecheck + the backend contract suite against a real API server
\`\`\`

The test kit needs Go (it builds etcd and kube-apiserver once into \`~/.cache/datum-provider-ts\`) and Datum's
CRDs: set \`DATUM_SHARED_DIR\` to a folder holding \`datum-crds/\`. Say where your platform is with
\`${opts.backend.toUpperCase().replace(/-/g, '_')}_BACKEND_CONFIG\` (JSON) for the tests, and \`backendConfig\` in the settings file.

## Write the backend
1. Implement \`src/backends/${opts.backend}/backend.ts\` (each TODO; the rules are in ${PKG.name}'s
   docs/backend-interface.md).
2. \`make test\` until the contract suite passes.
3. Another backend: \`npx datum-provider create backend NAME\`.

## Deploy
\`helm install ${name} deploy/helm/${name} -n ${name}-system --create-namespace\` or
\`kubectl apply -k deploy/kustomize/base\`, after building the image (\`Dockerfile\`).
`,
    Dockerfile: `FROM node:24-slim
WORKDIR /app
COPY package.json package-lock.json* ./
RUN npm install --omit=dev --no-audit --no-fund
COPY src ./src
USER 65532:65532
ENTRYPOINT ["node", "src/main.ts"]
CMD ["run", "--settings", "/config/settings.yaml"]
`,
  });
  return [...written, ...copyDeploy(root, name, opts.backend)];
}

/** The package's kustomize base, CRDs, RBAC and chart (links resolved), renamed for the project. */
function copyDeploy(root: string, name: string, backend: string): string[] {
  const out: string[] = [];
  const rename = (text: string) =>
    text
      .replaceAll('ghcr.io/example/datum-provider-ts', `ghcr.io/example/${name}`)
      .replace(/^backend: aws$/m, `backend: ${backend}`)
      .replace(/^(\s+)backend: aws$/m, `$1backend: ${backend}`)
      .replace(/^name: datum-provider$/m, `name: ${name}`);
  for (const [from, to] of [
    ['deploy/crds', 'deploy/crds'],
    ['deploy/rbac', 'deploy/rbac'],
    ['deploy/kustomize', 'deploy/kustomize'],
    ['deploy/observability', 'deploy/observability'],
    ['deploy/helm/datum-provider', `deploy/helm/${name}`],
  ] as const) {
    cpSync(join(PACKAGE_ROOT, from), join(root, to), { recursive: true, dereference: true });
  }
  for (const f of walk(join(root, 'deploy'))) {
    if (/\.(ya?ml)$/.test(f)) writeFileSync(f, rename(readFileSync(f, 'utf8')));
    out.push(relative(root, f));
  }
  return out;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

/** `create backend NAME` in a project made by `init`: the files, and its entry in src/backends/index.ts. */
export function createBackendInProject(dir: string, name: string): string[] {
  checkBackendName(name);
  const root = resolve(dir);
  const index = join(root, 'src/backends/index.ts');
  if (!existsSync(index))
    throw new Error(`${root} is not a provider project made by init (no src/backends/index.ts)`);
  const text = readFileSync(index, 'utf8');
  if (!text.includes(MARK_IMPORTS) || !text.includes(MARK_ENTRIES))
    throw new Error(
      `src/backends/index.ts lost its 'datum-provider:' marker comments; register ${name} by hand`,
    );
  const written = writeNew(root, backendFiles(name));
  const cls = `${pascal(name)}Backend`;
  writeFileSync(
    index,
    text
      .replace(MARK_IMPORTS, `import { ${cls} } from './${name}/backend.ts';\n${MARK_IMPORTS}`)
      .replace(
        MARK_ENTRIES,
        `  '${name}': (settings) => new ${cls}(settings.backendConfig),\n${MARK_ENTRIES}`,
      ),
  );
  return [...written, 'src/backends/index.ts (registered)'];
}
