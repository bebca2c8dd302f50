/**
 * Test fixtures for the Kubernetes backend: a fault proxy in front of the downstream API server (plain HTTP on
 * loopback; it authenticates upstream with the given client certificate), a kubeconfig pointing at it, and a
 * BackendContext. Faults: answer the next matching requests with a status (429 with Retry-After, 5xx, 403),
 * or refuse every connection for a while (downstream unreachable).
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import type { BackendContext } from '../../src/datum/backend.ts';
import type { ClusterConfig } from '../../src/runtime/client/config.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';

export interface FaultRule {
  method?: string;
  /** Matches the request path (query excluded). */
  path: RegExp;
  status: number;
  times: number;
  retryAfterSeconds?: number;
  message?: string;
  /** Forward the request first (it takes effect), then answer the fault: a lost response. */
  forwardFirst?: boolean;
}

export interface FaultProxy {
  url: string;
  /** Requests answered with a fault, by status. */
  injected: Map<number, number>;
  /** Requests forwarded, as `METHOD path`. */
  forwarded: string[];
  inject(rule: FaultRule): void;
  /** While true, every connection is destroyed at once (the API server is unreachable). */
  setDown(down: boolean): void;
  /** A kubeconfig (bearer token `token`, which the proxy ignores) pointing at the proxy. */
  kubeconfig(token?: string): string;
  close(): Promise<void>;
}

export async function startFaultProxy(upstream: ClusterConfig): Promise<FaultProxy> {
  const agent = new Agent({
    connect: { ca: upstream.caData, cert: upstream.certData, key: upstream.keyData },
    keepAliveTimeout: 10_000,
  });
  const rules: FaultRule[] = [];
  const injected = new Map<number, number>();
  const forwarded: string[] = [];
  let down = false;
  const forward = (method: string, url: string, reqHeaders: IncomingHttpHeaders, chunks: Buffer[]) => {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(reqHeaders))
      if (typeof v === 'string' && !['host', 'authorization', 'connection'].includes(k)) headers[k] = v;
    return request(`${upstream.server}${url}`, {
      method: method as 'GET',
      headers,
      body: chunks.length ? Buffer.concat(chunks) : undefined,
      dispatcher: agent,
    });
  };
  const server: Server = createServer(async (req, res) => {
    if (down) {
      req.socket.destroy();
      return;
    }
    const path = (req.url ?? '/').split('?')[0]!;
    const rule = rules.find(
      (r) => r.times > 0 && (!r.method || r.method === req.method) && r.path.test(path),
    );
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (rule?.forwardFirst) {
      const up = await forward(req.method ?? 'GET', req.url ?? '/', req.headers, chunks).catch(
        () => undefined,
      );
      await up?.body.text();
    }
    if (rule) {
      rule.times--;
      injected.set(rule.status, (injected.get(rule.status) ?? 0) + 1);
      const reason =
        rule.status === 429 ? 'TooManyRequests' : rule.status === 403 ? 'Forbidden' : 'InternalError';
      res.writeHead(rule.status, {
        'content-type': 'application/json',
        ...(rule.retryAfterSeconds !== undefined ? { 'retry-after': String(rule.retryAfterSeconds) } : {}),
      });
      res.end(
        JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          status: 'Failure',
          reason,
          code: rule.status,
          message: rule.message ?? `injected ${rule.status}`,
        }),
      );
      return;
    }
    forwarded.push(`${req.method} ${path}`);
    if (forwarded.length > 5000) forwarded.splice(0, 1000);
    try {
      const up = await forward(req.method ?? 'GET', req.url ?? '/', req.headers, chunks);
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(up.headers))
        if (typeof v === 'string' && !['connection', 'transfer-encoding', 'keep-alive'].includes(k))
          out[k] = v;
      res.writeHead(up.statusCode, out);
      for await (const c of up.body) res.write(c);
      res.end();
    } catch {
      req.socket.destroy();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    injected,
    forwarded,
    inject: (rule) => rules.push({ ...rule }),
    setDown(d) {
      down = d;
      if (d) server.closeAllConnections();
    },
    kubeconfig: (token = 'downstream-test-token') =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        'current-context': 'downstream',
        clusters: [{ name: 'downstream', cluster: { server: url } }],
        users: [{ name: 'downstream', user: { token } }],
        contexts: [{ name: 'downstream', context: { cluster: 'downstream', user: 'downstream' } }],
      }),
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await agent.close();
    },
  };
}

export function backendContext(
  kubeconfig: string,
  config: Record<string, string> = {},
  topology: Record<string, string> = {},
): BackendContext {
  return {
    credentials: { source: 'Secret', data: { kubeconfig } },
    config,
    location: { namespace: 'default', name: 'fixtures', topology },
    log: createLogger({ level: 'warn', sink: () => {} }),
    signal: new AbortController().signal,
  };
}
