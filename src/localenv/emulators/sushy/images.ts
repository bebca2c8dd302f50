/**
 * The launcher's image server: what a BMC downloads when virtual media is inserted. Serves a small stand-in
 * ISO for every `/images/<name>.iso` on loopback, and records each download so tests can see that an insert
 * really fetched the image.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ImageServer {
  /** `http://127.0.0.1:<port>/images/` */
  baseUrl: string;
  downloads: string[];
  close(): Promise<void>;
}

export async function startImageServer(): Promise<ImageServer> {
  const downloads: string[] = [];
  // 64 KiB: big enough to be streamed in chunks, small enough to cost nothing.
  const body = Buffer.alloc(64 * 1024);
  body.write('DATUM-PROVIDER-TS STAND-IN BOOT IMAGE\n');
  const server: Server = createServer((req, res) => {
    const m = /^\/images\/([A-Za-z0-9._-]+\.iso)$/.exec(req.url ?? '');
    if (!m || (req.method !== 'GET' && req.method !== 'HEAD')) return res.writeHead(404).end();
    downloads.push(m[1]!);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}/images/`,
    downloads,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
