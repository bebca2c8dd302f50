/** /healthz (process alive) and /readyz (caches synced) for kubelet probes. */
import { createServer, type Server } from 'node:http';
import { splitAddr } from '../metrics/metrics.ts';

export async function serveProbes(
  addr: string,
  checks: { healthy: () => boolean; ready: () => boolean },
): Promise<{ server: Server; port: number }> {
  const [host, port] = splitAddr(addr);
  const server = createServer((req, res) => {
    const path = req.url?.split('?')[0];
    const ok =
      path === '/healthz' || path === '/livez'
        ? checks.healthy()
        : path === '/readyz'
          ? checks.ready()
          : undefined;
    if (ok === undefined) res.writeHead(404).end();
    else res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok' : 'not ready');
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  const a = server.address();
  return { server, port: typeof a === 'object' && a ? a.port : port };
}
