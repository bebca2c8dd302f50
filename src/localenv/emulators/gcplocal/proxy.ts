/**
 * Our realism and fault proxy in front of gcplocal (node:http, loopback only). It names the operation of every
 * request (`instances.insert`, `zoneOperations.wait`, …), applies the scripted fault plan, serves what gcplocal
 * lacks (operations that take time and `wait`, requestId idempotency, instance lifecycle, setLabels,
 * setMetadata, setTags, start/stop, aggregated lists, list filters, addresses, resource-in-use checks), and logs
 * every request: the log is the source of truth for invariants (e.g. "one insert reached the emulator").
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { allocateAddresses, inUseBy } from './checks.ts';
import {
  describeFault,
  faultReply,
  GceFaultPlan,
  type GceFaultRule,
  gceError,
  type JsonReply,
} from './faults.ts';
import { OperationStore, type OpTiming } from './operations.ts';
import {
  AddressPool,
  compileFilter,
  FilterError,
  fingerprintOf,
  InstanceOverlays,
  RequestIds,
} from './realism.ts';
import { actionOf, ok, opScope, parseRoute, type Route, scopePath } from './routes.ts';
import { SecretManagerEmulation } from './secretmanager.ts';

export interface GceProxyLogEntry {
  seq: number;
  action: string;
  method: string;
  path: string;
  requestId?: string;
  status: number;
  fault?: string;
  /** A repeat of a requestId, answered with the first request's operation. */
  replayed?: boolean;
  /** A mutation whose side effect was sent to gcplocal (inserts at once, deletes when their operation ends). */
  applied?: boolean;
  ms: number;
}

export interface GceProxyTimings {
  /** Instance inserts, starts (PROVISIONING/STAGING, then RUNNING). */
  instanceInsert: OpTiming;
  /** Instance deletes and stops (STOPPING). */
  instanceDelete: OpTiming;
  /** Networks, subnetworks, firewalls, labels. */
  other: OpTiming;
  /** Longest a `wait` call blocks (GCE: about 2 minutes). */
  waitCapMs: number;
}

export const DEFAULT_TIMINGS: GceProxyTimings = {
  instanceInsert: { pendingMs: 150, doneMs: 600 },
  instanceDelete: { pendingMs: 100, doneMs: 400 },
  other: { pendingMs: 50, doneMs: 200 },
  waitCapMs: 10_000,
};

export interface GceFaultProxy {
  endpoint: string;
  plan(...rules: GceFaultRule[]): void;
  clearPlan(): void;
  readonly log: GceProxyLogEntry[];
  timings: GceProxyTimings;
  reset(): void;
  close(): Promise<void>;
}

export async function startGceProxy(
  target: string,
  opts: { timings?: Partial<GceProxyTimings>; faults?: GceFaultRule[] } = {},
): Promise<GceFaultProxy> {
  const plan = new GceFaultPlan();
  if (opts.faults) plan.add(opts.faults);
  const initial = { ...DEFAULT_TIMINGS, ...opts.timings };
  const timings: GceProxyTimings = { ...initial };
  const ops = new OperationStore();
  const overlays = new InstanceOverlays();
  const requestIds = new RequestIds();
  const pool = new AddressPool();
  /** Insert bodies: gcplocal keeps only the fields it models (no description on networks, subnetworks, instances). */
  const kept = new Map<string, Record<string, unknown>>();
  const keptKey = (project: string, scope: string, collection: string, name: unknown) =>
    `${project}/${scope}/${collection}/${String(name)}`;
  const enrich = (project: string, scope: string, collection: string, item: Record<string, unknown>) => {
    const body = kept.get(keptKey(project, scope, collection, item.name));
    const merged = body ? { ...body, ...item } : item;
    return collection === 'instances' ? overlays.apply(project, merged) : merged;
  };
  const secretManager = new SecretManagerEmulation();
  const zones = new Set<string>();
  const regions = new Set<string>();
  const log: GceProxyLogEntry[] = [];
  const counters = new Map<string, number>();
  let seq = 0;
  let origin = '';

  const local = async (method: string, path: string, body?: unknown): Promise<JsonReply> => {
    const res = await fetch(`${target}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = (await res.text()).split(target).join(origin);
    return { status: res.status, headers: { 'content-type': 'application/json; charset=UTF-8' }, body: text };
  };
  const json = (r: JsonReply) => JSON.parse(r.body) as Record<string, unknown>;

  /** Every item of a collection in the scopes seen so far (gcplocal has no aggregated lists). */
  async function everywhere(
    project: string,
    collection: string,
  ): Promise<[string, Record<string, unknown>[]][]> {
    const scopes =
      collection === 'instances' || collection === 'disks'
        ? [...zones].map((z) => `zones/${z}`)
        : [...regions].map((r) => `regions/${r}`);
    const out: [string, Record<string, unknown>[]][] = [];
    for (const s of scopes) {
      const r = await local('GET', `/compute/v1/projects/${project}/${s}/${collection}`);
      if (r.status !== 200) continue;
      const items = ((json(r).items as Record<string, unknown>[] | undefined) ?? []).map((i) =>
        enrich(project, s, collection, i),
      );
      out.push([s, items]);
    }
    return out;
  }

  const deps = { local, everywhere, pool, overlays };
  const inUse = (r: Route) => inUseBy(deps, r);
  const allocate = (r: Route, body: Record<string, unknown>) => allocateAddresses(deps, r, body);

  /** A mutation: an operation, or an error answered at once (as GCE answers validation errors). */
  async function mutate(
    r: Route,
    method: string,
    raw: string,
    entry: GceProxyLogEntry,
  ): Promise<JsonReply | ReturnType<OperationStore['start']>> {
    const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
    const base = scopePath(r);
    const where = r.kind === 'global' ? 'global' : `${r.kind}/${r.scope}`;
    const isInstance = r.collection === 'instances';
    const timing = (kind: 'insert' | 'delete') =>
      isInstance ? (kind === 'insert' ? timings.instanceInsert : timings.instanceDelete) : timings.other;
    const start = (type: string, link: string, t: OpTiming, effect?: () => Promise<void>) =>
      ops.start({
        project: r.project,
        scope: opScope(r),
        operationType: type,
        targetLink: `${origin}${link}`,
        timing: t,
        effect,
      });

    if (!r.name) {
      const name = String(body.name ?? '');
      if (!/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name))
        return gceError(400, 'invalid', `Invalid value for field 'resource.name': '${name}'.`);
      const link = `${base}/${r.collection}/${name}`;
      if ((await local('GET', link)).status === 200)
        return gceError(409, 'alreadyExists', `The resource '${link.slice(12)}' already exists`);
      if (isInstance) {
        const bad = await allocate(r, body);
        if (bad) return bad;
      }
      const res = await local('POST', `${base}/${r.collection}`, body);
      if (res.status !== 200) return res;
      entry.applied = true;
      kept.set(keptKey(r.project, where, r.collection, name), body);
      const op = start('insert', link, timing('insert'));
      if (isInstance) {
        const key = overlays.key(r.project, r.scope!, name);
        overlays.get(key).phase = {
          status: () => ({ PENDING: 'PROVISIONING', RUNNING: 'STAGING', DONE: undefined })[ops.status(op)],
        };
      }
      return op;
    }
    const link = `${base}/${r.collection}/${r.name}`;
    const existing = await local('GET', link);
    if (existing.status !== 200) return existing;
    if (method === 'DELETE') {
      const user = await inUse(r);
      if (user)
        return gceError(
          400,
          'resourceInUseByAnotherResource',
          `The ${r.collection.replace(/s$/, '')} resource '${link.slice(12)}' is already being used by '${user}'`,
        );
      const key = overlays.key(r.project, r.scope ?? '', r.name);
      const op = start('delete', link, timing('delete'), async () => {
        await local('DELETE', link);
        entry.applied = true;
        kept.delete(keptKey(r.project, where, r.collection, r.name));
        if (isInstance) {
          pool.release(key);
          overlays.drop(key);
        }
      });
      if (isInstance)
        overlays.get(key).phase = { status: () => (ops.status(op) === 'DONE' ? undefined : 'STOPPING') };
      return op;
    }
    if (method === 'PATCH') {
      const res = await local('PATCH', link, body);
      if (res.status !== 200) return res;
      entry.applied = true;
      return start('patch', link, timings.other);
    }
    if (isInstance && r.verb === 'setLabels') {
      const labels = (body.labels as Record<string, string> | undefined) ?? {};
      const o = overlays.get(overlays.key(r.project, r.scope!, r.name));
      o.labels = labels;
      o.labelFingerprint = createHash('sha256').update(JSON.stringify(labels)).digest('base64').slice(0, 12);
      entry.applied = true;
      return start('setLabels', link, timings.other);
    }
    if (isInstance && (r.verb === 'setMetadata' || r.verb === 'setTags')) {
      const field = r.verb === 'setMetadata' ? 'metadata' : 'tags';
      const now = enrich(r.project, where, 'instances', json(existing))[field] as { fingerprint?: string };
      if (body.fingerprint !== now?.fingerprint)
        return gceError(
          412,
          'conditionNotMet',
          `Supplied fingerprint does not match current ${field} fingerprint.`,
        );
      const items = (body.items as unknown[] | undefined) ?? [];
      overlays.get(overlays.key(r.project, r.scope!, r.name))[field] = {
        items,
        fingerprint: fingerprintOf(items),
      };
      entry.applied = true;
      return start(r.verb, link, timings.other);
    }
    if (isInstance && (r.verb === 'stop' || r.verb === 'start')) {
      const o = overlays.get(overlays.key(r.project, r.scope!, r.name));
      const stopping = r.verb === 'stop';
      const op = start(r.verb, link, stopping ? timings.instanceDelete : timings.instanceInsert, async () => {
        o.phase = stopping ? { status: () => 'TERMINATED' } : undefined;
        if (stopping) o.lastStopTimestamp = new Date().toISOString();
      });
      o.phase = {
        status: () =>
          ops.status(op) === 'DONE'
            ? stopping
              ? 'TERMINATED'
              : undefined
            : stopping
              ? 'STOPPING'
              : 'STAGING',
      };
      entry.applied = true;
      return op;
    }
    return gceError(400, 'unsupportedByEmulator', `${r.collection}.${r.verb ?? method} is not emulated`);
  }

  async function serve(
    r: Route | undefined,
    req: IncomingMessage,
    url: URL,
    raw: string,
    entry: GceProxyLogEntry,
  ) {
    const method = req.method ?? 'GET';
    if (!r) return local(method, `${url.pathname}${url.search}`, raw ? JSON.parse(raw) : undefined);
    if (r.kind === 'zones') zones.add(r.scope!);
    if (r.kind === 'regions') regions.add(r.scope!);
    let filter: (i: Record<string, unknown>) => boolean;
    try {
      filter = compileFilter(url.searchParams.get('filter'));
    } catch (err) {
      if (err instanceof FilterError) return gceError(400, 'invalid', err.message);
      throw err;
    }
    if (r.collection === 'operations' && r.name) {
      const op = ops.get(r.project, opScope(r), r.name);
      if (!op) return gceError(404, 'notFound', `The resource 'operations/${r.name}' was not found`);
      if (r.verb === 'wait') await ops.wait(op, timings.waitCapMs);
      return ok(ops.toJson(op));
    }
    if (r.kind === 'aggregated') {
      const items: Record<string, unknown> = {};
      for (const [scope, list] of await everywhere(r.project, r.collection)) {
        const kept = list.filter(filter);
        if (kept.length) items[scope] = { [r.collection]: kept };
      }
      return ok({ kind: `compute#${r.collection}AggregatedList`, items });
    }
    if (method === 'GET') {
      const res = await local('GET', `${url.pathname}`);
      if (res.status !== 200) return res;
      const body = json(res);
      const scope = r.kind === 'global' ? 'global' : `${r.kind}/${r.scope}`;
      if (r.name) return ok(enrich(r.project, scope, r.collection, body));
      const items = ((body.items as Record<string, unknown>[] | undefined) ?? [])
        .map((i) => enrich(r.project, scope, r.collection, i))
        .filter(filter);
      return ok({ ...body, items });
    }
    const mutation = async () => {
      const out = await mutate(r, method, raw, entry);
      return 'status' in out && typeof out.status === 'number' ? (out as JsonReply) : out;
    };
    const requestId = url.searchParams.get('requestId');
    if (!requestId) {
      const out = await mutation();
      return 'name' in out ? ok(ops.toJson(out)) : out;
    }
    let failed: JsonReply | undefined;
    const { op, replayed } = await requestIds.once(requestId, async () => {
      const out = await mutation();
      if (!('name' in out)) {
        failed = out;
        return undefined;
      }
      return { project: r.project, scope: opScope(r), name: out.name, request: `${method} ${url.pathname}` };
    });
    if (replayed) entry.replayed = true;
    if (failed || !op) return failed ?? gceError(500, 'backendError', 'operation lost');
    if (op.request !== `${method} ${url.pathname}`)
      return gceError(400, 'invalid', `requestId ${requestId} was used for another request`);
    return ok(ops.toJson(ops.get(op.project, op.scope, op.name)!));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', origin);
    const route = parseRoute(url.pathname);
    const method = req.method ?? 'GET';
    const smAction = route ? undefined : secretManager.action(method, url.pathname);
    const action = smAction ?? actionOf(route, method, url.pathname);
    const occurrence = (counters.get(action) ?? 0) + 1;
    counters.set(action, occurrence);
    const entry: GceProxyLogEntry = { seq: ++seq, action, method, path: url.pathname, status: 0, ms: 0 };
    const requestId = url.searchParams.get('requestId');
    if (requestId) entry.requestId = requestId;
    log.push(entry);
    const send = (r: JsonReply) => {
      entry.status = r.status;
      entry.ms = Date.now() - started;
      res.writeHead(r.status, { ...r.headers, 'content-length': Buffer.byteLength(r.body) });
      res.end(r.body);
    };
    const { delayMs, fault } = route ? plan.take(action, occurrence) : { delayMs: 0 };
    if (fault) entry.fault = describeFault(fault);
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    const early = fault ? faultReply(fault) : undefined;
    if (early) return send(early);
    if (fault?.kind === 'operationError' && route && method !== 'GET') {
      const op = ops.start({
        project: route.project,
        scope: opScope(route),
        operationType: method === 'DELETE' ? 'delete' : 'insert',
        targetLink: `${origin}${url.pathname}`,
        timing: timings.other,
        error: {
          code: fault.code,
          message: fault.message ?? fault.code,
          httpStatus: fault.httpStatus ?? 403,
        },
      });
      return send(ok(ops.toJson(op)));
    }
    const reply = smAction
      ? secretManager.handle(method, url, raw)
      : await serve(route, req, url, raw, entry);
    if (fault?.kind === 'lostResponse') {
      if ((fault.mode ?? 'destroy') === '500') return send(faultReply({ kind: 'internalError' })!);
      entry.status = -1;
      entry.ms = Date.now() - started;
      req.socket.destroy();
      return;
    }
    send(reply);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        const r = gceError(502, 'proxyError', `gce proxy: ${(err as Error).message}`);
        res.writeHead(r.status, r.headers);
        res.end(r.body);
      }
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  ops.setOrigin(origin);
  return {
    endpoint: origin,
    plan: (...rules) => plan.add(rules),
    clearPlan: () => plan.clear(),
    log,
    timings,
    reset() {
      Object.assign(timings, initial);
      plan.clear();
      log.length = 0;
      counters.clear();
      ops.clear();
      overlays.clear();
      requestIds.clear();
      pool.clear();
      kept.clear();
      secretManager.clear();
      seq = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        ops.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
