/**
 * A small HTTP proxy in front of the Redfish emulator that injects planned faults (an HTTP status, a delay, a
 * dropped connection) into matching requests, so tests can make a BMC fail, stall or vanish on cue.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type RedfishFault =
  | { kind: 'status'; status: number; message?: string }
  | { kind: 'delay'; ms: number }
  | { kind: 'drop' };

export interface RedfishFaultRule {
  /** Method to match (any when unset). */
  method?: string;
  /** Substring of the request path to match (any when unset). */
  path?: string;
  fault: RedfishFault;
  /** How many matching requests get the fault (default: every one until `clear()`). */
  times?: number;
}

export interface RedfishFaultProxy {
  endpoint: string;
  plan(rule: RedfishFaultRule): void;
  clear(): void;
  /** Every request seen, `METHOD path`, oldest first. */
  requests: string[];
  close(): Promise<void>;
}

export async function startRedfishProxy(upstream: string): Promise<RedfishFaultProxy> {
  const rules: (RedfishFaultRule & { left: number })[] = [];
  const requests: string[] = [];
  const take = (req: IncomingMessage): RedfishFault | undefined => {
    const i = rules.findIndex(
      (r) => r.left > 0 && (!r.method || r.method === req.method) && (!r.path || req.url?.includes(r.path)),
    );
    if (i < 0) return undefined;
    const rule = rules[i]!;
    rule.left--;
    if (rule.left === 0) rules.splice(i, 1);
    return rule.fault;
  };
  const server: Server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    requests.push(`${req.method} ${req.url}`);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const fault = take(req);
    if (fault?.kind === 'drop') return req.socket.destroy();
    if (fault?.kind === 'status') {
      res.writeHead(fault.status, { 'content-type': 'application/json' });
      return res.end(
        JSON.stringify({
          error: { code: 'Base.1.0.GeneralError', message: fault.message ?? 'injected fault' },
        }),
      );
    }
    if (fault?.kind === 'delay') await new Promise((r) => setTimeout(r, fault.ms));
    try {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers))
        if (typeof v === 'string' && k !== 'host' && k !== 'connection') headers[k] = v;
      const up = await fetch(`${upstream}${req.url}`, {
        method: req.method,
        headers,
        body: chunks.length ? Buffer.concat(chunks) : undefined,
      });
      const body = Buffer.from(await up.arrayBuffer());
      const out: Record<string, string> = {};
      up.headers.forEach((v, k) => {
        if (!['content-length', 'transfer-encoding', 'connection', 'content-encoding'].includes(k))
          out[k] = v;
      });
      res.writeHead(up.status, out);
      res.end(body);
    } catch {
      res.writeHead(502).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    plan: (rule) => rules.push({ ...rule, left: rule.times ?? Number.POSITIVE_INFINITY }),
    clear: () => {
      rules.length = 0;
    },
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
