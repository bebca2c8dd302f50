/**
 * Runs `gcplocal start` on 127.0.0.1 (always `--host`: its default is 0.0.0.0) on a free port, in its own
 * process group under a `ProcessGroup` whose reaper kills it if the test process dies.
 */
import { logTail, type Managed, ProcessGroup, sleep } from '../../process.ts';
import { freePort } from '../moto/server.ts';
import { ensureGcplocalInstalled } from './install.ts';

export interface GcplocalServer {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  /** Wipes all emulated state (`POST /reset`). */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export async function startGcplocal(
  opts: { log?: (m: string) => void; readyTimeoutMs?: number } = {},
): Promise<GcplocalServer> {
  const { gcplocal } = await ensureGcplocalInstalled({ log: opts.log });
  const group = new ProcessGroup();
  const logDir = group.tempDir('datum-gcplocal-');
  let lastError = '';
  // A free port can be taken between our probe and the bind: retry with another one.
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const proc = group.start(
      'gcplocal',
      gcplocal,
      ['start', '--host', '127.0.0.1', '--port', String(port)],
      logDir,
      { ...process.env, PYTHONUNBUFFERED: '1' },
    );
    const endpoint = `http://127.0.0.1:${port}`;
    if ((await waitReady(endpoint, proc, opts.readyTimeoutMs ?? 30_000)) === 'ready')
      return {
        endpoint,
        port,
        async reset() {
          const res = await fetch(`${endpoint}/reset`, { method: 'POST' });
          await res.arrayBuffer();
          if (!res.ok) throw new Error(`gcplocal reset failed: HTTP ${res.status}`);
        },
        stop: () => group.stopAll(),
      };
    lastError = logTail(proc.logPath);
    await group.stopOne(proc);
  }
  await group.stopAll();
  throw new Error(`gcplocal did not start:\n${lastError}`);
}

async function waitReady(endpoint: string, proc: Managed, timeoutMs: number): Promise<'ready' | 'failed'> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  proc.exited.then(() => {
    exited = true;
  });
  while (Date.now() < deadline && !exited) {
    try {
      const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.ok) return 'ready';
    } catch {}
    await sleep(100);
  }
  return 'failed';
}
