/**
 * Benchmark (not a test): a create storm through the whole provider — N Instances created at once on a real
 * kube-apiserver, realized by the in-memory backend — then a mass delete.
 *   ./node_modules/.bin/node bench/provider.bench.ts [N]
 * Reports time to all Programmed+Running, API requests per Instance by verb, and the provider's memory.
 */
import { InMemoryBackend } from '../src/backends/inmemory/backend.ts';
import { INSTANCE } from '../src/datum/api/resources.ts';
import { registerProvider } from '../src/datum/provider.ts';
import { defaultSettings } from '../src/datum/settings.ts';
import { createLogger, Manager } from '../src/runtime/index.ts';
import {
  createInstance,
  createLocation,
  createNetwork,
  createNetworking,
  ensureNamespace,
} from '../src/testkit/contract/fixtures.ts';
import { condOf, OUR_CRDS } from '../src/testkit/contract/suite.ts';
import { ControlPlane, DATUM_CRDS } from '../src/testkit/index.ts';

const N = Number(process.argv[2] ?? 500);
const cp = await ControlPlane.start({ crdDirs: [DATUM_CRDS.compute, DATUM_CRDS.networkClassic, OUR_CRDS] });
try {
  const c = cp.client();
  const ns = 'bench';
  await ensureNamespace(c, ns);
  await createLocation(c, ns, 'dfw', 'datum-provider-ts');
  await createNetwork(c, ns);
  await createNetworking(c, ns, 'default', { name: 'dfw', namespace: ns });
  const mgr = new Manager({ log: createLogger({ level: 'error', sink: () => {} }) });
  await mgr.engage('bench', cp.connection);
  const backend = new InMemoryBackend();
  registerProvider(mgr, {
    backend,
    settings: { ...defaultSettings(), maxConcurrentReconciles: 8 },
    home: cp.client(),
  });
  await mgr.start();
  const counts = async () => {
    const m = await mgr.metrics.registry.getSingleMetricAsString('rest_client_requests_total');
    const out: Record<string, number> = {};
    for (const line of m.split('\n')) {
      const r = /method="(\w+)".*\} (\d+)/.exec(line);
      if (r) out[r[1]!] = (out[r[1]!] ?? 0) + Number(r[2]);
    }
    return out;
  };
  await new Promise((r) => setTimeout(r, 1000));
  const before = await counts();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < N) {
        const i = next++;
        await createInstance(c, { name: `i-${i}`, namespace: ns, location: { name: 'dfw', namespace: ns } });
      }
    }),
  );
  const created = performance.now();
  let rssPeak = 0;
  for (;;) {
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    const l = (await c.list(INSTANCE, { namespace: ns })).items;
    if (
      l.filter((i) => condOf(i, 'Programmed')?.status === 'True' && condOf(i, 'Running')?.status === 'True')
        .length === N
    )
      break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const converged = performance.now();
  const after = await counts();
  const per = (v: string) => (((after[v] ?? 0) - (before[v] ?? 0)) / N).toFixed(2);
  console.log(
    `N=${N}: created in ${((created - t0) / 1000).toFixed(1)} s; all Programmed+Running ${((converged - t0) / 1000).toFixed(1)} s after the first create (${(N / ((converged - t0) / 1000)).toFixed(0)} Instances/s)`,
  );
  console.log(
    `provider API requests per Instance: PATCH ${per('PATCH')}, GET ${per('GET')}, POST ${per('POST')} (events), PUT ${per('PUT')}`,
  );
  console.log(
    `backend ensureInstance calls: ${backend.calls.filter((x) => x.op === 'ensureInstance').length} for ${N} Instances; backend instances: ${backend.snapshot().instances.length}`,
  );
  const d0 = performance.now();
  await Promise.all(Array.from({ length: N }, (_, i) => c.delete(INSTANCE, `i-${i}`, ns)));
  while ((await c.list(INSTANCE, { namespace: ns })).items.length > 0)
    await new Promise((r) => setTimeout(r, 200));
  console.log(
    `mass delete: all ${N} gone (backend first) in ${((performance.now() - d0) / 1000).toFixed(1)} s; backend instances left: ${backend.snapshot().instances.length}`,
  );
  console.log(
    `process RSS peak ${(rssPeak / 2 ** 20).toFixed(0)} MiB (test driver + provider in one process)`,
  );
  await mgr.stop();
} finally {
  await cp.stop();
}
