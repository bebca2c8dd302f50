/**
 * The floor: the least any controller must send per Instance, as fast as the API server takes it. One plain
 * HTTP watch on Instances (no cache, no informer, no client library), then per Instance a finalizer PATCH, a
 * status PATCH (Programmed+Running) and one Event POST; on delete, the finalizer PATCH that lets it go.
 *   node bench/harness/floor.ts --kubeconfig FILE [--workers 16]
 */
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { loadKubeconfig } from '../../src/runtime/client/config.ts';

const FINALIZER = 'compute.datumapis.com/bench-floor';
const { values } = parseArgs({ options: { kubeconfig: { type: 'string' }, workers: { type: 'string' } } });
const cfg = loadKubeconfig(values.kubeconfig!);
const workers = Number(values.workers ?? 16);
const dispatcher = new Agent({
  connect: { ca: cfg.caData, rejectUnauthorized: true },
  connections: workers + 2,
});
const headers = { authorization: `Bearer ${cfg.token}`, 'user-agent': 'bench-floor' };
const BASE = `${cfg.server}/apis/compute.datumapis.com/v1alpha`;

interface Inst {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation: number;
    resourceVersion: string;
    finalizers?: string[];
    deletionTimestamp?: string;
  };
  status?: { conditions?: { type: string; status: string; observedGeneration?: number }[] };
}

async function call(
  method: 'PATCH' | 'POST',
  path: string,
  body: unknown,
  type = 'application/merge-patch+json',
) {
  for (;;) {
    const r = await request(`${cfg.server}${path}`, {
      dispatcher,
      method,
      headers: { ...headers, 'content-type': type },
      body: JSON.stringify(body),
    });
    await r.body.dump();
    if (r.statusCode < 300 || r.statusCode === 404) return;
    if (r.statusCode !== 409 && r.statusCode !== 429 && r.statusCode < 500)
      throw new Error(`${method} ${path}: ${r.statusCode}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

const latest = new Map<string, Inst>();
/** What this process already wrote, by key: the watch echoes our own writes, which need nothing more. */
const doneGeneration = new Map<string, number>();
const queue: string[] = [];
const queued = new Set<string>();
const busy = new Set<string>();
let wake: (() => void) | undefined;
function enqueue(o: Inst): void {
  const key = `${o.metadata.namespace}/${o.metadata.name}`;
  latest.set(key, o);
  if (!queued.has(key)) {
    queued.add(key);
    queue.push(key);
    wake?.();
  }
}

async function handle(o: Inst): Promise<void> {
  const m = o.metadata;
  const path = `/apis/compute.datumapis.com/v1alpha/namespaces/${m.namespace}/instances/${m.name}`;
  const fins = m.finalizers ?? [];
  if (m.deletionTimestamp) {
    if (fins.includes(FINALIZER))
      await call('PATCH', path, { metadata: { finalizers: fins.filter((f) => f !== FINALIZER) } });
    return;
  }
  const key = `${m.namespace}/${m.name}`;
  if (doneGeneration.get(key) === m.generation) return;
  const first = !fins.includes(FINALIZER);
  if (first) await call('PATCH', path, { metadata: { finalizers: [...fins, FINALIZER] } });
  const current = (t: string) =>
    o.status?.conditions?.some(
      (c) => c.type === t && c.status === 'True' && c.observedGeneration === m.generation,
    );
  if (current('Programmed') && current('Running')) {
    doneGeneration.set(key, m.generation);
    return;
  }
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const cond = (type: string) => ({
    type,
    status: 'True',
    reason: type,
    message: '',
    observedGeneration: m.generation,
    lastTransitionTime: now,
  });
  await call('PATCH', `${path}/status`, { status: { conditions: [cond('Programmed'), cond('Running')] } });
  if (first)
    await call(
      'POST',
      `/api/v1/namespaces/${m.namespace}/events`,
      {
        metadata: { name: `${m.name}.${Date.now().toString(16)}`, namespace: m.namespace },
        involvedObject: { apiVersion: 'compute.datumapis.com/v1alpha', kind: 'Instance', ...pick(m) },
        reason: 'Programmed',
        message: 'instance programmed',
        type: 'Normal',
        source: { component: 'bench-floor' },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
      'application/json',
    );
  doneGeneration.set(key, m.generation);
}
const pick = (m: Inst['metadata']) => ({
  name: m.name,
  namespace: m.namespace,
  uid: m.uid,
  resourceVersion: m.resourceVersion,
});

async function worker(): Promise<void> {
  for (;;) {
    const i = queue.findIndex((k) => !busy.has(k));
    if (i < 0) {
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 100);
      });
      continue;
    }
    const key = queue.splice(i, 1)[0]!;
    queued.delete(key);
    busy.add(key);
    try {
      await handle(latest.get(key)!);
    } catch (err) {
      process.stderr.write(`${key}: ${err}\n`);
      enqueue(latest.get(key)!);
    } finally {
      busy.delete(key);
    }
  }
}

async function watch(): Promise<void> {
  let rv = '';
  for (;;) {
    const r = await request(`${BASE}/instances?watch=1${rv ? `&resourceVersion=${rv}` : ''}`, {
      dispatcher,
      headers,
    });
    let buf = '';
    for await (const chunk of r.body) {
      buf += chunk.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const ev = JSON.parse(buf.slice(0, nl)) as { type: string; object: Inst };
        buf = buf.slice(nl + 1);
        if (ev.type === 'ERROR') {
          rv = '';
          continue;
        }
        rv = ev.object.metadata.resourceVersion;
        if (ev.type === 'DELETED')
          latest.delete(`${ev.object.metadata.namespace}/${ev.object.metadata.name}`);
        else enqueue(ev.object);
      }
    }
  }
}

for (let i = 0; i < workers; i++) void worker();
process.stdout.write('started\n');
await watch();
