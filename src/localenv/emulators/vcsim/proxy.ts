/**
 * A fault proxy in front of vcsim (HTTPS with the same certificate, so clients verify it the same way): it
 * forwards every SOAP call and, when a planned rule matches the operation, answers instead with an HTTP error
 * (a vCenter under load answers 503) or a SOAP fault of a given type and message. It logs operations seen.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';

export type VimFaultPlan =
  | { kind: 'http'; status: number }
  | { kind: 'fault'; type: string; message: string };

export interface VimFaultRule {
  /** SOAP operation, e.g. `CloneVM_Task`. */
  op: string;
  fault: VimFaultPlan;
  times: number;
}

export interface VimProxy {
  endpoint: string;
  /** Operations in arrival order, with whether a fault answered them. */
  log: { op: string; faulted: boolean }[];
  plan(rule: VimFaultRule): void;
  reset(): void;
  close(): Promise<void>;
}

function escXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function soapFault(type: string, message: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"' +
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>' +
    `<faultcode>ServerFaultCode</faultcode><faultstring>${escXml(message)}</faultstring>` +
    `<detail><${type}Fault xmlns="urn:vim25" xsi:type="${type}"></${type}Fault></detail>` +
    '</soapenv:Fault></soapenv:Body></soapenv:Envelope>'
  );
}

export async function startVimProxy(target: string, cert: string, key: string): Promise<VimProxy> {
  const agent = new Agent({ connect: { ca: cert } });
  let rules: VimFaultRule[] = [];
  const log: VimProxy['log'] = [];
  const server: Server = createServer({ cert, key }, async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const op = /<(\w+) xmlns="urn:vim25"/.exec(body.toString('utf8'))?.[1] ?? '';
    const rule = rules.find((r) => r.op === op && r.times > 0);
    log.push({ op, faulted: !!rule });
    if (rule) {
      rule.times--;
      if (rule.fault.kind === 'http') {
        res.writeHead(rule.fault.status, { 'content-type': 'text/plain' }).end('Service Unavailable');
      } else {
        res
          .writeHead(500, { 'content-type': 'text/xml; charset=utf-8' })
          .end(soapFault(rule.fault.type, rule.fault.message));
      }
      return;
    }
    try {
      const headers: Record<string, string> = {};
      for (const h of ['content-type', 'soapaction', 'cookie'])
        if (typeof req.headers[h] === 'string') headers[h] = req.headers[h] as string;
      const up = await request(new URL(req.url ?? '/sdk', target).toString(), {
        method: (req.method ?? 'POST') as 'POST',
        headers,
        body,
        dispatcher: agent,
      });
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(up.headers))
        if (v !== undefined && !['connection', 'transfer-encoding', 'keep-alive'].includes(k)) out[k] = v;
      res.writeHead(up.statusCode, out).end(Buffer.from(await up.body.arrayBuffer()));
    } catch (err) {
      res.writeHead(502, { 'content-type': 'text/plain' }).end(String(err));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `https://127.0.0.1:${port}/sdk`,
    log,
    plan: (rule) => rules.push({ ...rule }),
    reset: () => {
      rules = [];
      log.length = 0;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await agent.close();
    },
  };
}
