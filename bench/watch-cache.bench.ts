/**
 * Benchmark (not a test): events per second through watcher → informer cache → work queue, in process and
 * against a real kube-apiserver, and heap bytes per cached object with and without managedFields.
 *   ./node_modules/.bin/node --expose-gc bench/watch-cache.bench.ts [N]
 */

import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ControlPlane } from '../src/localenv/controlplane.ts';
import { Informer, stripManagedFields } from '../src/runtime/cache/informer.ts';
import type { Client, WatchEvent } from '../src/runtime/client/interface.ts';
import type { KubeObject, ResourceType } from '../src/runtime/client/types.ts';
import { WorkQueue } from '../src/runtime/queue/workqueue.ts';

const N = Number(process.argv[2] ?? 20_000);
const R: ResourceType = {
  group: 'compute.datumapis.com',
  version: 'v1alpha',
  kind: 'Instance',
  plural: 'instances',
  namespaced: true,
};

function instance(i: number): KubeObject {
  return {
    apiVersion: 'compute.datumapis.com/v1alpha',
    kind: 'Instance',
    metadata: {
      name: `web-dallas-dfw-${i}`,
      namespace: `project-${i % 50}`,
      uid: `6f1c${i.toString(16).padStart(8, '0')}-1111-2222-3333-444455556666`,
      resourceVersion: String(1000 + i),
      generation: 1,
      creationTimestamp: '2026-11-24T12:00:00Z',
      labels: {
        'compute.datumapis.com/workload-uid': 'a1b2c3d4-e5f6-7890-abcd-ef0123456789',
        'compute.datumapis.com/instance-index': String(i),
      },
      finalizers: ['infra.provider-ts.io/provider'],
      managedFields: [
        {
          manager: 'compute',
          operation: 'Update',
          apiVersion: 'compute.datumapis.com/v1alpha',
          time: '2026-11-24T12:00:00Z',
          fieldsType: 'FieldsV1',
          fieldsV1: {
            'f:metadata': {
              'f:labels': {
                '.': {},
                'f:compute.datumapis.com/instance-index': {},
                'f:compute.datumapis.com/workload-uid': {},
              },
            },
            'f:spec': {
              '.': {},
              'f:controller': { '.': {}, 'f:schedulingGates': {}, 'f:templateHash': {} },
              'f:location': { '.': {}, 'f:name': {}, 'f:namespace': {} },
              'f:networkInterfaces': {},
              'f:runtime': {
                '.': {},
                'f:resources': { '.': {}, 'f:instanceType': {} },
                'f:sandbox': { '.': {}, 'f:containers': {} },
              },
            },
          },
        },
        {
          manager: 'datum-provider',
          operation: 'Update',
          apiVersion: 'compute.datumapis.com/v1alpha',
          time: '2026-11-24T12:00:05Z',
          fieldsType: 'FieldsV1',
          subresource: 'status',
          fieldsV1: {
            'f:status': {
              'f:conditions': {
                'k:{"type":"Programmed"}': {
                  '.': {},
                  'f:lastTransitionTime': {},
                  'f:message': {},
                  'f:reason': {},
                  'f:status': {},
                  'f:type': {},
                },
                'k:{"type":"Running"}': {
                  '.': {},
                  'f:lastTransitionTime': {},
                  'f:message': {},
                  'f:reason': {},
                  'f:status': {},
                  'f:type': {},
                },
              },
              'f:controller': { '.': {}, 'f:observedTemplateHash': {} },
              'f:networkInterfaces': {},
            },
          },
        },
      ],
    },
    spec: {
      runtime: {
        resources: { instanceType: 'datumcloud/d1-standard-2' },
        sandbox: {
          containers: [{ name: 'nginx', image: 'nginx:1.27', ports: [{ name: 'http', port: 80 }] }],
        },
      },
      networkInterfaces: [
        {
          network: { name: 'default' },
          networkPolicy: {
            ingress: [{ ports: [{ port: 'http' }], from: [{ ipBlock: { cidr: '0.0.0.0/0' } }] }],
          },
        },
      ],
      location: { name: 'dfw-1', namespace: 'default' },
      controller: { templateHash: '5f8c2a1b9e' },
    },
    status: {
      conditions: ['Programmed', 'Running', 'Ready'].map((type) => ({
        type,
        status: 'True',
        reason: type === 'Programmed' ? 'Programmed' : 'Running',
        message: 'Instance is ready',
        lastTransitionTime: '2026-11-24T12:00:05Z',
        observedGeneration: 1,
      })),
      networkInterfaces: [
        {
          assignments: {
            networkIP: `10.128.${(i >> 8) & 255}.${i & 255}`,
            externalIP: `203.0.113.${i % 250}`,
          },
        },
      ],
      controller: { observedTemplateHash: '5f8c2a1b9e' },
    },
  };
}

/** A client that lists N objects and then streams N modifications, all from memory (JSON round-trip included). */
function fakeClient(n: number): Client {
  const json = Array.from({ length: n }, (_, i) => JSON.stringify(instance(i)));
  let listed = false;
  return {
    async request<T>() {
      listed = true;
      return { items: json.map((j) => JSON.parse(j)), metadata: { resourceVersion: '1' } } as T;
    },
    async *watch<T extends KubeObject>(): AsyncIterable<WatchEvent<T>> {
      if (!listed) return;
      for (let i = 0; i < n; i++)
        yield {
          type: 'MODIFIED',
          object: JSON.parse(json[i]!.replace('"resourceVersion":"', '"resourceVersion":"9')),
        };
      await new Promise(() => {}); // then idle, like a quiet watch
    },
  } as unknown as Client;
}

async function inProcess(n: number): Promise<{ listPerSec: number; watchPerSec: number }> {
  const inf = new Informer(fakeClient(n), R, { transform: stripManagedFields });
  const q = new WorkQueue<string>();
  let events = 0;
  inf.addEventHandler({
    onAdd: (o) => {
      q.add(`${o.metadata.namespace}/${o.metadata.name}`);
      events++;
    },
    onUpdate: (_o, o) => {
      q.add(`${o.metadata.namespace}/${o.metadata.name}`);
      events++;
    },
  });
  const ac = new AbortController();
  const t0 = performance.now();
  inf.start(ac.signal);
  await inf.waitForSync();
  const t1 = performance.now();
  while (events < 2 * n) await new Promise((r) => setImmediate(r));
  const t2 = performance.now();
  ac.abort();
  return { listPerSec: Math.round(n / ((t1 - t0) / 1000)), watchPerSec: Math.round(n / ((t2 - t1) / 1000)) };
}

function heapPerObject(n: number, strip: boolean): number {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) return Number.NaN;
  const objs = Array.from({ length: n }, (_, i) => JSON.stringify(instance(i)));
  g();
  const before = process.memoryUsage().heapUsed;
  const store = new Map<string, KubeObject>();
  for (const j of objs) {
    const o = JSON.parse(j) as KubeObject;
    store.set(`${o.metadata.namespace}/${o.metadata.name}`, strip ? stripManagedFields(o) : o);
  }
  g();
  const after = process.memoryUsage().heapUsed;
  if (store.size !== n) throw new Error('store size');
  return Math.round((after - before) / n);
}

async function realApiServer(
  n: number,
): Promise<{ createPerSec: number; syncMs: number; watchPerSec: number }> {
  const cp = await ControlPlane.start();
  const cm: ResourceType = {
    group: '',
    version: 'v1',
    kind: 'ConfigMap',
    plural: 'configmaps',
    namespaced: true,
  };
  const client = cp.client();
  try {
    const t0 = performance.now();
    const create = async (prefix: string) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < n) {
            const i = next++;
            await client.create(cm, {
              metadata: { name: `${prefix}-${i}`, namespace: 'default' },
              data: { i: String(i) },
            });
          }
        }),
      );
    };
    await create('pre');
    const createPerSec = Math.round(n / ((performance.now() - t0) / 1000));
    const inf = new Informer(client, cm, { namespace: 'default', transform: stripManagedFields });
    const ac = new AbortController();
    const t1 = performance.now();
    inf.start(ac.signal);
    await inf.waitForSync();
    const syncMs = Math.round(performance.now() - t1);
    const t2 = performance.now();
    await create('live');
    while (inf.size < 2 * n) await new Promise((r) => setTimeout(r, 5));
    const watchPerSec = Math.round(n / ((performance.now() - t2) / 1000));
    ac.abort();
    await inf.stop();
    return { createPerSec, syncMs, watchPerSec };
  } finally {
    await cp.stop();
  }
}

if (process.argv[3] === '--heap') console.log(heapPerObject(N, process.argv[4] === 'strip'));
else await main();

async function main(): Promise<void> {
  const ip = await inProcess(N);
  console.log(
    `in-process, ${N} objects: initial list ${ip.listPerSec} objects/s, watch → cache → queue ${ip.watchPerSec} events/s`,
  );
  const heap = (mode: string) =>
    execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), String(N), '--heap', mode])
      .toString()
      .trim();
  // Each heap figure from a fresh process, so one run's interned strings and hidden classes don't flatter the other.
  console.log(`heap per cached Instance: ${heap('full')} B with managedFields, ${heap('strip')} B stripped`);
  const real = await realApiServer(Math.min(N, 2000));
  console.log(
    `real kube-apiserver, ${Math.min(N, 2000)} ConfigMaps: creates ${real.createPerSec}/s (16 writers), informer sync ${real.syncMs} ms, watch → cache ${real.watchPerSec} events/s (bounded by the create rate)`,
  );
}
