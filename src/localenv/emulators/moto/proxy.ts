/**
 * A fault-injecting HTTP proxy in front of moto (node:http, loopback only). It parses the operation of every
 * request, applies the scripted fault plan, emulates ClientToken idempotency, transitional instance states and
 * DeleteVpc's refusal while security groups remain, and logs every request: the log is the source of truth for invariants (e.g. "one RunInstances created").
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  describeFault,
  type ErrorReply,
  errorReply,
  FaultPlan,
  type FaultRule,
  faultReply,
} from './faults.ts';
import {
  type CachedReply,
  ClientTokenCache,
  filterStates,
  instanceIdsInRunResponse,
  StateRealism,
  securityGroupsIn,
} from './realism.ts';

export interface ProxyLogEntry {
  seq: number;
  /** AWS service from the SigV4 credential scope (`ec2`, `ssm`, `iam`), or `moto-api`. */
  service: string;
  action: string;
  clientToken?: string;
  status: number;
  /** The injected fault, if any. */
  fault?: string;
  /** Query-protocol parameters (EC2/IAM only: JSON bodies such as SSM values are never kept). */
  params?: Record<string, string>;
  /** RunInstances that reached moto and launched: the new instance ids. */
  launched?: string[];
  /** Answered from the ClientToken cache without reaching moto. */
  replayed?: boolean;
  userAgent?: string;
  ms: number;
}

export interface FaultProxyOptions {
  /** Emulate ClientToken idempotency for RunInstances (default true). */
  clientTokens?: boolean;
  /** Describes that show `pending` after a launch (default 0). */
  pendingDescribes?: number;
  /** Describes that show `shutting-down` after a terminate (default 0). */
  shuttingDownDescribes?: number;
  faults?: FaultRule[];
}

export interface FaultProxy {
  /** `http://127.0.0.1:<port>`: point the SDK here. */
  endpoint: string;
  /** Adds fault rules (kept until `clearPlan`/`reset`). */
  plan(...rules: FaultRule[]): void;
  clearPlan(): void;
  /** Live request log. */
  readonly log: ProxyLogEntry[];
  settings: { clientTokens: boolean; pendingDescribes: number; shuttingDownDescribes: number };
  /** Clears plan, log, counters, token cache and state tracking. */
  reset(): void;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string, opts: FaultProxyOptions = {}): Promise<FaultProxy> {
  const plan = new FaultPlan();
  if (opts.faults) plan.add(opts.faults);
  const tokens = new ClientTokenCache();
  const realism = new StateRealism(opts.pendingDescribes ?? 0, opts.shuttingDownDescribes ?? 0);
  const initial = {
    clientTokens: opts.clientTokens ?? true,
    pendingDescribes: opts.pendingDescribes ?? 0,
    shuttingDownDescribes: opts.shuttingDownDescribes ?? 0,
  };
  const settings = { ...initial };
  Object.defineProperties(settings, {
    pendingDescribes: {
      get: () => realism.pendingDescribes,
      set: (v: number) => {
        realism.pendingDescribes = v;
      },
      enumerable: true,
    },
    shuttingDownDescribes: {
      get: () => realism.shuttingDownDescribes,
      set: (v: number) => {
        realism.shuttingDownDescribes = v;
      },
      enumerable: true,
    },
  });
  const log: ProxyLogEntry[] = [];
  const counters = new Map<string, number>();
  let seq = 0;

  async function forward(req: IncomingMessage, body: Buffer): Promise<CachedReply> {
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined || k === 'host' || k === 'connection' || k === 'content-length') continue;
      headers.set(k, Array.isArray(v) ? v.join(', ') : v);
    }
    const res = await fetch(`${target}${req.url ?? '/'}`, {
      method: req.method,
      headers,
      body: req.method === 'GET' || req.method === 'HEAD' ? undefined : new Uint8Array(body),
    });
    const out: Record<string, string> = {};
    res.headers.forEach((v, k) => {
      if (
        k !== 'content-length' &&
        k !== 'transfer-encoding' &&
        k !== 'connection' &&
        k !== 'content-encoding'
      )
        out[k] = v;
    });
    return { status: res.status, headers: out, body: await res.text() };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const amzTarget = String(req.headers['x-amz-target'] ?? '');
    const json = amzTarget !== '';
    const service = (req.url ?? '').startsWith('/moto-api')
      ? 'moto-api'
      : (/Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1] ??
        'unknown');
    const params = json ? undefined : new URLSearchParams(body.toString('utf8'));
    const action = json ? amzTarget.split('.').pop()! : (params?.get('Action') ?? `${req.method} ${req.url}`);
    const occurrence = (counters.get(action) ?? 0) + 1;
    counters.set(action, occurrence);
    const entry: ProxyLogEntry = { seq: ++seq, service, action, status: 0, ms: 0 };
    if (params && service !== 'moto-api') entry.params = Object.fromEntries(params.entries());
    const token = params?.get('ClientToken') ?? undefined;
    if (token) entry.clientToken = token;
    if (req.headers['user-agent']) entry.userAgent = String(req.headers['user-agent']);
    log.push(entry);

    const send = (r: CachedReply | ErrorReply) => {
      entry.status = r.status;
      entry.ms = Date.now() - started;
      res.writeHead(r.status, { ...r.headers, 'content-length': Buffer.byteLength(r.body) });
      res.end(r.body);
    };

    const { delayMs, fault } = service === 'moto-api' ? { delayMs: 0 } : plan.take(action, occurrence);
    if (fault) entry.fault = describeFault(fault);
    else if (delayMs > 0) entry.fault = describeFault({ kind: 'latency', ms: delayMs });
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    const early = fault ? faultReply(fault, json) : undefined;
    if (early) return send(early);

    let reply: CachedReply | ErrorReply;
    if (action === 'RunInstances' && token && settings.clientTokens && params) {
      const out = await tokens.run(
        token,
        params,
        (id) => realism.terminated.has(id),
        () => forward(req, body),
      );
      reply = out.reply;
      if (out.replayed) entry.replayed = true;
    } else if (action === 'DescribeInstances' && params) {
      const wanted = realism.widenStateFilter(params);
      reply = await forward(req, wanted ? Buffer.from(params.toString()) : body);
      if (reply.status === 200) reply.body = realism.rewriteDescribe(reply.body);
      if (wanted && reply.status === 200) reply.body = filterStates(reply.body, wanted);
    } else if (action === 'DeleteVpc' && params && (await vpcHasGroups(req, params.get('VpcId') ?? ''))) {
      // Real EC2 refuses while a non-default security group is in the VPC; moto would orphan it.
      reply = errorReply(
        400,
        'DependencyViolation',
        `The vpc '${params.get('VpcId')}' has dependencies and cannot be deleted.`,
        false,
      );
    } else {
      reply = await forward(req, body);
    }
    observe(action, params, reply, entry);
    if (fault?.kind === 'staleRead' && reply.status === 200)
      reply = {
        ...reply,
        body: reply.body.replace(/<reservationSet>[\s\S]*<\/reservationSet>/, '<reservationSet/>'),
      };
    if (fault?.kind === 'lostResponse') {
      // The side effect happened in moto; the client never learns of it.
      if ((fault.mode ?? 'destroy') === '500') return send(faultReply({ kind: 'internalError' }, json)!);
      entry.status = -1;
      entry.ms = Date.now() - started;
      req.socket.destroy();
      return;
    }
    send(reply);
  }

  /** Whether moto holds a security group other than `default` in `vpcId` (asked with the caller's headers). */
  async function vpcHasGroups(req: IncomingMessage, vpcId: string): Promise<boolean> {
    const ask = async (extra: Record<string, string>) => {
      const q = new URLSearchParams({
        Action: 'DescribeSecurityGroups',
        Version: '2016-11-15',
        'Filter.1.Name': 'vpc-id',
        'Filter.1.Value.1': vpcId,
        ...extra,
      });
      const r = await forward(req, Buffer.from(q.toString()));
      return r.status === 200 ? securityGroupsIn(r.body) : 0;
    };
    const all = await ask({});
    return all > 0 && all > (await ask({ 'Filter.2.Name': 'group-name', 'Filter.2.Value.1': 'default' }));
  }

  function observe(
    action: string,
    params: URLSearchParams | undefined,
    reply: CachedReply | ErrorReply,
    entry: ProxyLogEntry,
  ): void {
    if (reply.status !== 200) return;
    if (action === 'RunInstances' && !entry.replayed) {
      entry.launched = instanceIdsInRunResponse(reply.body);
      realism.launched(entry.launched);
    } else if (action === 'TerminateInstances' && params) {
      realism.terminating(
        [...params.entries()].filter(([k]) => k.startsWith('InstanceId.')).map(([, v]) => v),
      );
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`fault proxy: ${(err as Error).message}`);
      }
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    plan: (...rules) => plan.add(rules),
    clearPlan: () => plan.clear(),
    log,
    settings,
    reset() {
      Object.assign(settings, initial);
      plan.clear();
      log.length = 0;
      counters.clear();
      tokens.clear();
      realism.clear();
      seq = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
