/**
 * Runs `moto_server` on 127.0.0.1 (never 0.0.0.0) on a free port. The process lives in its own process group
 * under a `ProcessGroup`, whose detached reaper kills it if the test process dies, even by SIGKILL.
 */
import { createServer } from 'node:net';
import { logTail, type Managed, ProcessGroup, sleep } from '../../process.ts';
import { ensureMotoInstalled } from './install.ts';

export interface MotoServer {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  pid: number;
  logPath: string;
  /** Wipes all emulated state (`POST /moto-api/reset`). */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export interface StartMotoOptions {
  log?: (m: string) => void;
  /** Extra environment, e.g. `MOTO_ENABLE_AMI_VALIDATION`. */
  env?: Record<string, string>;
  readyTimeoutMs?: number;
}

export async function startMoto(opts: StartMotoOptions = {}): Promise<MotoServer> {
  const { motoServer } = await ensureMotoInstalled({ log: opts.log });
  const group = new ProcessGroup();
  const logDir = group.tempDir('datum-moto-');
  let lastError = '';
  // A free port can be taken between our probe and moto's bind: retry with another one.
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const proc = group.start('moto', motoServer, ['-H', '127.0.0.1', '-p', String(port)], logDir, {
      ...process.env,
      ...opts.env,
    });
    const endpoint = `http://127.0.0.1:${port}`;
    const ready = await waitReady(endpoint, proc, opts.readyTimeoutMs ?? 30_000);
    if (ready === 'ready') {
      return {
        endpoint,
        port,
        pid: proc.child.pid!,
        logPath: proc.logPath,
        reset: () => resetMoto(endpoint),
        stop: () => group.stopAll(),
      };
    }
    lastError = logTail(proc.logPath);
    await group.stopOne(proc);
  }
  await group.stopAll();
  throw new Error(`moto_server did not start:\n${lastError}`);
}

export async function resetMoto(endpoint: string): Promise<void> {
  const res = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`moto reset failed: HTTP ${res.status}`);
}

async function waitReady(endpoint: string, proc: Managed, timeoutMs: number): Promise<'ready' | 'failed'> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  proc.exited.then(() => {
    exited = true;
  });
  while (Date.now() < deadline && !exited) {
    try {
      const res = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status < 500) return 'ready';
    } catch {}
    await sleep(100);
  }
  return 'failed';
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
