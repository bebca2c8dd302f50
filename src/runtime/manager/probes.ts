/**
 * Probes for the kubelet and for operators:
 *   /healthz, /livez   the process is alive
 *   /readyz            every engaged cluster's caches have synced (controller-runtime's meaning; a follower
 *                      replica is ready too, so rolling updates are not blocked by leader election)
 *   /readyz/leader     caches synced AND this replica runs the leader-only work (or leader election is off)
 */
import { createServer, type Server } from 'node:http';
import { splitAddr } from '../metrics/metrics.ts';

export interface ProbeChecks {
  healthy: () => boolean;
  ready: () => boolean;
  leading: () => boolean;
}

export async function serveProbes(
  addr: string,
  checks: ProbeChecks,
): Promise<{ server: Server; port: number }> {
  const [host, port] = splitAddr(addr);
  const routes: Record<string, () => boolean> = {
    '/healthz': checks.healthy,
    '/livez': checks.healthy,
    '/readyz': checks.ready,
    '/readyz/leader': () => checks.ready() && checks.leading(),
  };
  const server = createServer((req, res) => {
    const check = routes[req.url?.split('?')[0] ?? ''];
    if (!check) {
      res.writeHead(404).end();
      return;
    }
    const ok = check();
    res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok' : 'not ready');
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  const a = server.address();
  return { server, port: typeof a === 'object' && a ? a.port : port };
}
