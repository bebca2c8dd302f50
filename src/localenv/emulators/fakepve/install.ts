/**
 * Installs fakepve (a test tool: AGPL-3.0, never a dependency of the product) into a virtualenv in our cache,
 * once per version, under a lock with a completion marker (like moto's install).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheRoot } from '../../binaries.ts';
import { acquireLock } from '../../lock.ts';

export const FAKEPVE_VERSION = '0.5.0';

export function fakepveVenvDir(version = FAKEPVE_VERSION): string {
  return join(cacheRoot(), `venv-fakepve-${version}`);
}

/** The venv's python (which imports fakepve); installs it first if needed. */
export async function ensureFakepveInstalled(log?: (m: string) => void): Promise<string> {
  const dir = fakepveVenvDir();
  const python = join(dir, 'bin', 'python');
  const done = () => existsSync(join(dir, '.complete')) && existsSync(python);
  if (done()) return python;
  mkdirSync(cacheRoot(), { recursive: true });
  const release = await acquireLock(join(cacheRoot(), `.venv-fakepve-${FAKEPVE_VERSION}.lock`), {
    staleMs: 20 * 60_000,
    pollMs: 500,
  });
  try {
    if (done()) return python;
    log?.(`installing fakepve[crypto]==${FAKEPVE_VERSION} into ${dir} (once)`);
    rmSync(dir, { recursive: true, force: true });
    await run('python3', ['-m', 'venv', dir], 'creating the virtualenv (needs python3-venv)');
    await run(
      python,
      ['-m', 'pip', 'install', '--quiet', `fakepve[crypto]==${FAKEPVE_VERSION}`],
      `pip install fakepve[crypto]==${FAKEPVE_VERSION}`,
    );
    writeFileSync(join(dir, '.complete'), `${new Date().toISOString()}\n`);
    return python;
  } finally {
    release();
  }
}

function run(cmd: string, args: string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 32 * 1024 * 1024, timeout: 15 * 60_000 }, (err, stdout, stderr) => {
      if (!err) return resolve();
      const tail = `${stdout}\n${stderr}`.trim().split('\n').slice(-12).join('\n');
      reject(new Error(`${what} failed (${err.message.split('\n')[0]}).\n${tail}`));
    });
  });
}
