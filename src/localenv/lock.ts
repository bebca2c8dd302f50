/** A cross-process lock file (O_EXCL create), so parallel test processes build or install a thing once. */
import { closeSync, openSync, statSync, unlinkSync } from 'node:fs';

/** Waits until the lock is ours; a lock older than `staleMs` belongs to a process that died and is broken. */
export async function acquireLock(
  path: string,
  opts: { staleMs: number; pollMs?: number },
): Promise<() => void> {
  for (;;) {
    try {
      closeSync(openSync(path, 'wx'));
      return () => {
        try {
          unlinkSync(path);
        } catch {}
      };
    } catch {
      try {
        if (Date.now() - statSync(path).mtimeMs > opts.staleMs) unlinkSync(path);
      } catch {}
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 1000));
    }
  }
}
