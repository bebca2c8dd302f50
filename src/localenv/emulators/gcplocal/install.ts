/**
 * Installs `gcplocal` (PyPI) into a virtualenv in our cache (outside the repo), once per version, the way moto
 * is installed: a lock keeps parallel test files from installing twice, a marker tells a finished install from
 * one that died halfway.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheRoot } from '../../binaries.ts';
import { acquireLock } from '../../lock.ts';

export const GCPLOCAL_VERSION = '0.1.0';

export class GcplocalInstallError extends Error {
  override name = 'GcplocalInstallError';
}

export function gcplocalVenvDir(version = GCPLOCAL_VERSION): string {
  return join(cacheRoot(), `venv-gcplocal-${version}`);
}

/** `DATUM_GCPLOCAL` points at an existing `gcplocal` executable and skips the install. */
export function findGcplocal(version = GCPLOCAL_VERSION): string | undefined {
  const explicit = process.env.DATUM_GCPLOCAL;
  if (explicit) {
    if (!existsSync(explicit)) throw new GcplocalInstallError(`DATUM_GCPLOCAL=${explicit}: no such file`);
    return explicit;
  }
  const dir = gcplocalVenvDir(version);
  const bin = join(dir, 'bin', 'gcplocal');
  return existsSync(join(dir, '.complete')) && existsSync(bin) ? bin : undefined;
}

export async function ensureGcplocalInstalled(
  opts: { version?: string; log?: (m: string) => void } = {},
): Promise<{ gcplocal: string; installMs: number }> {
  const version = opts.version ?? GCPLOCAL_VERSION;
  const found = findGcplocal(version);
  if (found) return { gcplocal: found, installMs: 0 };
  mkdirSync(cacheRoot(), { recursive: true });
  const release = await acquireLock(join(cacheRoot(), `.venv-gcplocal-${version}.lock`), {
    staleMs: 20 * 60_000,
    pollMs: 500,
  });
  try {
    const again = findGcplocal(version);
    if (again) return { gcplocal: again, installMs: 0 };
    const started = Date.now();
    const dir = gcplocalVenvDir(version);
    opts.log?.(`installing gcplocal==${version} into ${dir} (once)`);
    rmSync(dir, { recursive: true, force: true });
    const hint =
      'Install Python >= 3.10 with the venv module and check that PyPI is reachable, or set DATUM_GCPLOCAL to an existing gcplocal.';
    await run('python3', ['-m', 'venv', dir], 'creating the virtualenv', hint);
    await run(
      join(dir, 'bin', 'python'),
      ['-m', 'pip', 'install', '--quiet', `gcplocal==${version}`],
      `pip install gcplocal==${version}`,
      hint,
    );
    const bin = join(dir, 'bin', 'gcplocal');
    if (!existsSync(bin)) throw new GcplocalInstallError(`pip finished but ${bin} is missing`);
    writeFileSync(join(dir, '.complete'), `${new Date().toISOString()}\n`);
    const installMs = Date.now() - started;
    opts.log?.(`gcplocal ${version} installed in ${(installMs / 1000).toFixed(1)}s`);
    return { gcplocal: bin, installMs };
  } finally {
    release();
  }
}

function run(cmd: string, args: string[], what: string, hint: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 32 * 1024 * 1024, timeout: 15 * 60_000 }, (err, stdout, stderr) => {
      if (!err) return resolve();
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        return reject(new GcplocalInstallError(`${what}: ${cmd} not found. ${hint}`));
      const tail = `${stdout}\n${stderr}`.trim().split('\n').slice(-12).join('\n');
      reject(new GcplocalInstallError(`${what} failed (${err.message.split('\n')[0]}).\n${tail}\n${hint}`));
    });
  });
}
