/**
 * Installs `sushy-tools` (OpenStack's Redfish emulator) into a virtualenv in our cache (outside the repo), once
 * per version, the way moto is installed: a lock keeps parallel test files from installing twice, a marker tells
 * a finished install from one that died halfway.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheRoot } from '../../binaries.ts';
import { acquireLock } from '../../lock.ts';

export const SUSHY_VERSION = '2.2.0';

export interface SushyInstall {
  /** The `sushy-emulator` executable. */
  emulator: string;
  /** The venv's python (used to hash BMC passwords with the emulator's own bcrypt). */
  python: string;
  installMs: number;
}

export function sushyVenvDir(version = SUSHY_VERSION): string {
  return join(cacheRoot(), `venv-sushy-${version}`);
}

function found(version: string): SushyInstall | undefined {
  const dir = sushyVenvDir(version);
  const emulator = join(dir, 'bin', 'sushy-emulator');
  const python = join(dir, 'bin', 'python');
  return existsSync(join(dir, '.complete')) && existsSync(emulator)
    ? { emulator, python, installMs: 0 }
    : undefined;
}

export async function ensureSushyInstalled(
  opts: { version?: string; log?: (m: string) => void } = {},
): Promise<SushyInstall> {
  const version = opts.version ?? SUSHY_VERSION;
  const ready = found(version);
  if (ready) return ready;
  mkdirSync(cacheRoot(), { recursive: true });
  const release = await acquireLock(join(cacheRoot(), `.venv-sushy-${version}.lock`), {
    staleMs: 20 * 60_000,
    pollMs: 500,
  });
  try {
    const again = found(version);
    if (again) return again;
    const started = Date.now();
    const dir = sushyVenvDir(version);
    opts.log?.(`installing sushy-tools==${version} into ${dir} (once)`);
    rmSync(dir, { recursive: true, force: true });
    await run('python3', ['-m', 'venv', dir], 'creating the virtualenv');
    await run(
      join(dir, 'bin', 'python'),
      ['-m', 'pip', 'install', '--quiet', `sushy-tools==${version}`],
      `pip install sushy-tools==${version}`,
    );
    if (!existsSync(join(dir, 'bin', 'sushy-emulator')))
      throw new Error(`pip finished but ${join(dir, 'bin', 'sushy-emulator')} is missing`);
    writeFileSync(join(dir, '.complete'), `${new Date().toISOString()}\n`);
    const result = found(version)!;
    return { ...result, installMs: Date.now() - started };
  } finally {
    release();
  }
}

function run(cmd: string, args: string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 32 * 1024 * 1024, timeout: 15 * 60_000 }, (err, stdout, stderr) => {
      if (!err) return resolve();
      const tail = `${stdout}\n${stderr}`.trim().split('\n').slice(-12).join('\n');
      reject(
        new Error(
          `${what} failed (${err.message.split('\n')[0]}).\n${tail}\nInstall Python >= 3.10 with venv and check that PyPI is reachable.`,
        ),
      );
    });
  });
}
