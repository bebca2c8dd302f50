/**
 * Finds or builds the binaries tests run: env overrides first (envtest's conventions, so Go tooling and this
 * kit share binaries), then our cache, else a one-time build with the Go toolchain.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { acquireLock } from './lock.ts';
import { sharedDir } from './shared.ts';

export const VERSIONS = {
  'kube-apiserver': 'v1.34.4',
  'kube-controller-manager': 'v1.34.4',
  etcd: 'v3.6.16',
  kwok: 'v0.7.0',
  compute: 'v0.6.0',
  nso: 'v0.6.1',
  // Deployment tooling: the chart and the kustomize base are rendered by the real tools in tests.
  helm: 'v4.3.2',
  kustomize: 'v5.8.1',
  // vSphere simulator (govmomi), the vSphere backend's emulator.
  vcsim: 'v0.46.0',
} as const;

export type BinaryName = keyof typeof VERSIONS;

const BUILD_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'build-binary.sh');

export function cacheRoot(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'datum-provider-ts');
}

export class BinaryError extends Error {
  override name = 'BinaryError';
}

function envName(name: string): string {
  return `TEST_ASSET_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** Where the binary is without building anything, or undefined. Throws for a bad explicit override. */
export function findBinary(name: BinaryName): string | undefined {
  const explicit = process.env[envName(name)];
  if (explicit) {
    if (!existsSync(explicit)) throw new BinaryError(`${envName(name)}=${explicit}: no such file`);
    return explicit;
  }
  const assets = process.env.KUBEBUILDER_ASSETS;
  if (assets && existsSync(join(assets, name))) return join(assets, name);
  const cached = join(cacheRoot(), 'bin', `${name}-${VERSIONS[name]}`, name);
  return existsSync(cached) ? cached : undefined;
}

/** Finds the binary or builds it once (a lock file keeps parallel test processes from building twice). */
export async function resolveBinary(
  name: BinaryName,
  opts: { log?: (m: string) => void } = {},
): Promise<string> {
  const found = findBinary(name);
  if (found) return found;
  const binDir = join(cacheRoot(), 'bin');
  mkdirSync(binDir, { recursive: true });
  const lock = join(binDir, `.${name}.lock`);
  const release = await acquireLock(lock, { staleMs: 40 * 60_000, pollMs: 1000 });
  try {
    const again = findBinary(name);
    if (again) return again;
    opts.log?.(`building ${name} ${VERSIONS[name]} with Go (once; cached in ${binDir})`);
    try {
      return await build(name, binDir);
    } catch (err) {
      if (!(name in UPSTREAM_SOURCE_NAMES) || !existsSync(sharedUpstreamScript())) throw err;
      // The Go module proxy here refuses go.datum.net; ../shared/upstream holds the same tagged sources.
      opts.log?.(`the Go module proxy refused ${name}; building it from ${dirname(sharedUpstreamScript())}`);
      return await buildFromSharedSources(name as UpstreamName, binDir);
    }
  } finally {
    release();
  }
}

function build(name: BinaryName, binDir: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      [BUILD_SCRIPT, name, VERSIONS[name], binDir],
      { maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout.trim().split('\n').pop()!);
        const tail = `${stderr}`.trim().split('\n').slice(-12).join('\n');
        let hint =
          'Check the Go toolchain and the Go module proxy, or point KUBEBUILDER_ASSETS / ' +
          `${envName(name)} at a prebuilt binary.`;
        if ((err as { code?: number }).code === 3)
          hint = 'Install Go >= 1.24, or set KUBEBUILDER_ASSETS to a folder with etcd and kube-apiserver.';
        if (/not permitted|403 Forbidden/.test(tail))
          hint = `The Go module proxy does not serve this module here. Provide a prebuilt binary through ${envName(name)}.`;
        reject(new BinaryError(`building ${name} ${VERSIONS[name]} failed.\n${tail}\n${hint}`));
      },
    );
  });
}

type UpstreamName = 'compute' | 'nso';
/** What ../shared/upstream/build.sh names each operator binary. */
const UPSTREAM_SOURCE_NAMES: Record<UpstreamName, string> = {
  compute: 'compute',
  nso: 'network-services-operator',
};

function sharedUpstreamScript(): string {
  return join(sharedDir(), 'upstream', 'build.sh');
}

/** Whether the real upstream operators can be had here without a prebuilt binary (sources and Go present). */
export function upstreamBuildable(): boolean {
  return existsSync(sharedUpstreamScript());
}

/**
 * Builds both operators from the shared source archives (one script builds both, so both land in the cache);
 * the pinned versions are the archives' tags, the same as VERSIONS.
 */
function buildFromSharedSources(name: UpstreamName, binDir: string): Promise<string> {
  const out = mkdtempSync(join(binDir, '.upstream-'));
  return new Promise<string>((resolve, reject) => {
    execFile(
      'bash',
      [sharedUpstreamScript(), out],
      { maxBuffer: 64 * 1024 * 1024 },
      (err, _stdout, stderr) => {
        if (err) {
          rmSync(out, { recursive: true, force: true });
          const tail = `${stderr}`.trim().split('\n').slice(-12).join('\n');
          return reject(new BinaryError(`building ${name} from ${sharedUpstreamScript()} failed.\n${tail}`));
        }
        for (const n of Object.keys(UPSTREAM_SOURCE_NAMES) as UpstreamName[]) {
          const dir = join(binDir, `${n}-${VERSIONS[n]}`);
          mkdirSync(dir, { recursive: true });
          if (!existsSync(join(dir, n))) renameSync(join(out, UPSTREAM_SOURCE_NAMES[n]), join(dir, n));
        }
        rmSync(out, { recursive: true, force: true });
        resolve(join(binDir, `${name}-${VERSIONS[name]}`, name));
      },
    );
  });
}

/** Everything the test suite needs, resolved before test files start (so they never race to build). */
export async function prepareTestBinaries(
  opts: { log?: (m: string) => void } = {},
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of [
    'etcd',
    'kube-apiserver',
    'kwok',
    'kube-controller-manager',
    'helm',
    'kustomize',
    'vcsim',
  ] as const)
    out[name] = await resolveBinary(name, opts);
  // Datum's own operators: the real-upstream tests need them wherever they can be had (always, with ../shared).
  if (upstreamBuildable() || findBinary('compute')) {
    for (const name of ['compute', 'nso'] as const) out[name] = await resolveBinary(name, opts);
  }
  return out;
}
