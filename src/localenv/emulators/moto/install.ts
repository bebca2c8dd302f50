/**
 * Installs `moto[server]` into a virtualenv in our cache (outside the repo), once per version. A lock file keeps
 * parallel test files from installing twice; a marker file tells a finished install from one that died halfway
 * (venvs are not relocatable, so we install in place and wipe an unfinished one).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheRoot } from '../../binaries.ts';
import { acquireLock } from '../../lock.ts';

export const MOTO_VERSION = '5.2.5';

export class MotoInstallError extends Error {
  override name = 'MotoInstallError';
}

export interface MotoInstall {
  /** Path of the `moto_server` executable. */
  motoServer: string;
  /** Milliseconds spent installing; 0 when it was already there. */
  installMs: number;
}

export function motoVenvDir(version = MOTO_VERSION): string {
  return join(cacheRoot(), `venv-moto-${version}`);
}

/** `DATUM_MOTO_SERVER` points at an existing moto_server and skips the install. */
export function findMotoServer(version = MOTO_VERSION): string | undefined {
  const explicit = process.env.DATUM_MOTO_SERVER;
  if (explicit) {
    if (!existsSync(explicit)) throw new MotoInstallError(`DATUM_MOTO_SERVER=${explicit}: no such file`);
    return explicit;
  }
  const dir = motoVenvDir(version);
  const bin = join(dir, 'bin', 'moto_server');
  return existsSync(join(dir, '.complete')) && existsSync(bin) ? bin : undefined;
}

export async function ensureMotoInstalled(
  opts: { version?: string; log?: (m: string) => void } = {},
): Promise<MotoInstall> {
  const version = opts.version ?? MOTO_VERSION;
  const found = findMotoServer(version);
  if (found) return { motoServer: found, installMs: 0 };
  mkdirSync(cacheRoot(), { recursive: true });
  const lock = join(cacheRoot(), `.venv-moto-${version}.lock`);
  const release = await acquireLock(lock, { staleMs: 20 * 60_000, pollMs: 500 });
  try {
    const again = findMotoServer(version);
    if (again) return { motoServer: again, installMs: 0 };
    const started = Date.now();
    const dir = motoVenvDir(version);
    opts.log?.(`installing moto[server]==${version} into ${dir} (once)`);
    rmSync(dir, { recursive: true, force: true });
    await run('python3', ['-m', 'venv', dir], 'creating the virtualenv', {
      hint: 'Install Python >= 3.10 with the venv module (Debian: apt-get install python3-venv), or set DATUM_MOTO_SERVER to an existing moto_server.',
    });
    await run(
      join(dir, 'bin', 'python'),
      ['-m', 'pip', 'install', '--quiet', `moto[server]==${version}`],
      `pip install moto[server]==${version}`,
      {
        hint: 'Check that PyPI is reachable (pip config list), or set DATUM_MOTO_SERVER to an existing moto_server.',
      },
    );
    const bin = join(dir, 'bin', 'moto_server');
    if (!existsSync(bin)) throw new MotoInstallError(`pip finished but ${bin} is missing`);
    writeFileSync(join(dir, '.complete'), `${new Date().toISOString()}\n`);
    const installMs = Date.now() - started;
    opts.log?.(`moto ${version} installed in ${(installMs / 1000).toFixed(1)}s`);
    return { motoServer: bin, installMs };
  } finally {
    release();
  }
}

function run(cmd: string, args: string[], what: string, o: { hint: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 32 * 1024 * 1024, timeout: 15 * 60_000 }, (err, stdout, stderr) => {
      if (!err) return resolve();
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return reject(new MotoInstallError(`${what}: ${cmd} not found. ${o.hint}`));
      const tail = `${stdout}\n${stderr}`.trim().split('\n').slice(-12).join('\n');
      reject(new MotoInstallError(`${what} failed (${err.message.split('\n')[0]}).\n${tail}\n${o.hint}`));
    });
  });
}
