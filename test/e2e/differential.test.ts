/**
 * The differential test: one scenario list, run at the same time against Datum's real operators (compute
 * v0.6.0, network-services-operator v0.6.1) and against our standalone stand-ins, each with the garbage
 * collector and our provider on the in-memory backend. After every step both object graphs (names, labels,
 * owner references, finalizers, conditions with reasons) and both backends' resources must be equal: a
 * divergence fails the test and prints both sides.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CONFIGMAP,
  INSTANCE,
  LOCATION,
  NAMESPACE,
  NETWORK,
  NETWORK_BINDING,
  NETWORK_CONTEXT,
  SECRET,
  SUBNET,
  SUBNET_CLAIM,
  WORKLOAD,
  WORKLOAD_DEPLOYMENT,
} from '../../src/datum/api/resources.ts';
import type { Instance } from '../../src/datum/api/types.ts';
import { templateHashOf } from '../../src/datum/reconcilers/instance-desired.ts';
import { resolveBinary, upstreamBuildable } from '../../src/localenv/binaries.ts';
import { isNotFound } from '../../src/runtime/client/errors.ts';
import type { Condition, KubeObject, ResourceType } from '../../src/runtime/client/types.ts';
import { condOf, eventually } from '../../src/testkit/contract/suite.ts';
import { startUpstreamEnv, type UpstreamEnv } from './upstream-env.ts';

const NS = 'diff';
/** The two-Locations-in-one-city scenario has its own namespace, so where it lands changes nothing else. */
const PAIR_NS = 'pair';
const OURS = 'datum-provider-ts';
const KINDS: ResourceType[] = [
  WORKLOAD,
  WORKLOAD_DEPLOYMENT,
  INSTANCE,
  NETWORK,
  NETWORK_BINDING,
  NETWORK_CONTEXT,
  SUBNET_CLAIM,
  SUBNET,
];
const UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** compute picks any Location of a city (unordered cache): two of ours in DFW compare as one. */
const sameCity = (s: string) => s.replace(/(diff|pair)-dfw-[12]/g, 'X-dfw-N').replace(/dfw-[12]/g, 'dfw-N');

/** What we compare of one object: no uids, times, resource versions, messages or hashes. */
function shape(kind: string, o: KubeObject): string {
  const labels = Object.entries(o.metadata.labels ?? {})
    .map(([k, v]) => `${k}=${UID.test(v) ? '<uid>' : v}`)
    .sort();
  const owners = (o.metadata.ownerReferences ?? []).map(
    (r) => `${r.kind}/${r.name}${r.controller ? '(controller)' : ''}`,
  );
  const conditions = ((o.status?.conditions as Condition[] | undefined) ?? [])
    .map((c) => `${c.type}=${c.status}/${c.reason}`)
    .sort();
  const extra: Record<string, unknown> = {};
  if (kind === 'Instance') {
    const i = o as Instance;
    extra.location = i.spec?.location?.name ?? '<none>';
    extra.gates = (i.spec?.controller?.schedulingGates ?? []).map((g) => g.name);
    extra.image = i.spec?.runtime?.sandbox?.containers?.[0]?.image;
    extra.addresses = i.status?.networkInterfaces?.map((n) => Object.keys(n.assignments ?? {}).sort());
  }
  if (kind === 'Subnet') extra.startAddress = o.status?.startAddress ?? '<unset>';
  if (kind === 'WorkloadDeployment') extra.location = o.status?.location?.name ?? '<none>';
  return sameCity(
    JSON.stringify({
      name: `${kind}/${o.metadata.name}`,
      deleting: !!o.metadata.deletionTimestamp,
      labels,
      owners,
      finalizers: [...(o.metadata.finalizers ?? [])].sort(),
      conditions,
      ...extra,
    }),
  );
}

async function graph(env: UpstreamEnv): Promise<string[]> {
  const out: string[] = [];
  for (const r of KINDS)
    for (const namespace of [NS, PAIR_NS])
      for (const o of (await env.client.list(r, { namespace })).items)
        out.push(`${namespace} ${shape(r.kind, o)}`);
  for (const b of await env.backendResources()) out.push(sameCity(`backend ${b}`));
  return out.sort();
}

/** What one side has more of than the other (a multiset difference: duplicates count). */
function diff(a: string[], b: string[]): string {
  const count = (l: string[]) => l.reduce((m, x) => m.set(x, (m.get(x) ?? 0) + 1), new Map<string, number>());
  const [ca, cb] = [count(a), count(b)];
  const more = (x: Map<string, number>, y: Map<string, number>) =>
    [...x].filter(([k, n]) => n > (y.get(k) ?? 0)).map(([k, n]) => `${n}x ${k} (vs ${y.get(k) ?? 0})`);
  return `only with the real upstream:\n  ${more(ca, cb).join('\n  ')}\nonly with the standalone:\n  ${more(cb, ca).join('\n  ')}`;
}

const ready = (o: KubeObject | undefined) => condOf(o, 'Ready')?.status === 'True';

function sandboxWorkload(
  name: string,
  city: string,
  replicas: number,
  image = 'nginx:1.27',
  namespace = NS,
): KubeObject {
  return {
    metadata: { name, namespace },
    spec: {
      template: {
        metadata: { labels: { app: name } },
        spec: {
          runtime: {
            resources: { instanceType: 'datumcloud/d1-standard-2' },
            sandbox: { containers: [{ name: 'app', image, ports: [{ name: 'http', port: 80 }] }] },
          },
          networkInterfaces: [{ network: { name: 'default' } }],
        },
      },
      placements: [{ name: 'p', cityCodes: [city], scaleSettings: { minReplicas: replicas } }],
    },
  };
}

/** A sandbox in two cities (DFW, DLS) and London (another class's Location), with env and files from data. */
function richSandbox(): KubeObject {
  return {
    metadata: { name: 'app', namespace: NS },
    spec: {
      template: {
        metadata: { labels: { app: 'app' } },
        spec: {
          runtime: {
            resources: { instanceType: 'datumcloud/d1-standard-2' },
            sandbox: {
              containers: [
                {
                  name: 'app',
                  image: 'ghcr.io/example/app:1.0',
                  ports: [{ name: 'http', port: 8080 }],
                  env: [
                    { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'app-config', key: 'mode' } } },
                    { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'app-secret', key: 'token' } } },
                  ],
                  volumeAttachments: [
                    { name: 'config', mountPath: '/etc/app' },
                    { name: 'tls', mountPath: '/etc/tls' },
                  ],
                },
              ],
            },
          },
          volumes: [
            { name: 'config', configMap: { name: 'app-config' } },
            { name: 'tls', secret: { secretName: 'app-secret' } },
          ],
          networkInterfaces: [{ network: { name: 'default' } }],
        },
      },
      placements: [
        { name: 'us', cityCodes: ['DFW', 'DLS'], scaleSettings: { minReplicas: 1 } },
        { name: 'uk', cityCodes: ['LHR'], scaleSettings: { minReplicas: 1 } },
      ],
    },
  };
}

/** A VM with a boot disk from an image and ssh keys from the annotation compute copies to the Instance. */
function richVm(): KubeObject {
  return {
    metadata: { name: 'vm', namespace: NS },
    spec: {
      template: {
        metadata: {
          annotations: {
            'compute.datumapis.com/ssh-keys':
              'ubuntu:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDifferentialTestKeyOnly test@example',
          },
        },
        spec: {
          runtime: {
            resources: { instanceType: 'datumcloud/d1-standard-2' },
            virtualMachine: { volumeAttachments: [{ name: 'boot' }], ports: [{ name: 'ssh', port: 22 }] },
          },
          volumes: [
            {
              name: 'boot',
              disk: {
                template: {
                  spec: { type: 'pd-standard', populator: { image: { name: 'datumcloud/ubuntu-2204-lts' } } },
                },
              },
            },
          ],
          networkInterfaces: [
            {
              network: { name: 'default' },
              networkPolicy: {
                ingress: [{ ports: [{ port: 'ssh' }], from: [{ ipBlock: { cidr: '192.0.2.0/24' } }] }],
              },
            },
          ],
        },
      },
      placements: [{ name: 'dallas', cityCodes: ['DFW'], scaleSettings: { minReplicas: 1 } }],
    },
  };
}

function location(name: string, city: string, className = OURS, namespace = NS): KubeObject {
  return {
    metadata: { name, namespace },
    spec: { locationClassName: className, topology: { 'topology.datum.net/city-code': city }, provider: {} },
  };
}

const skip = upstreamBuildable()
  ? false
  : 'the real Datum operators need ../shared/upstream (their sources) and Go to build here';

describe('differential: real upstream vs standalone upstream', { skip, timeout: 900_000 }, () => {
  let real: UpstreamEnv;
  let standalone: UpstreamEnv;
  const both = () => [real, standalone];
  const instances = async (env: UpstreamEnv, prefix: string, namespace = NS) =>
    (await env.client.list<Instance>(INSTANCE, { namespace })).items.filter((i) =>
      i.metadata.name!.startsWith(prefix),
    );

  /** Runs the step on both, waits until `done` holds on both, then until both graphs are equal. */
  async function step(
    what: string,
    act: (env: UpstreamEnv) => Promise<unknown>,
    done: (env: UpstreamEnv) => Promise<boolean>,
    ms = 120_000,
  ): Promise<void> {
    await Promise.all(both().map(act));
    for (const env of both())
      await eventually(async () => done(env), `${what}: done with the ${env.upstream} upstream`, ms).catch(
        (err) => {
          throw new Error(`${err.message}\nprovider errors:\n${errors(env)}`);
        },
      );
    let last: [string[], string[]] = [[], []];
    try {
      await eventually(
        async () => {
          last = [await graph(real), await graph(standalone)];
          return JSON.stringify(last[0]) === JSON.stringify(last[1]);
        },
        `${what}: equal object graphs`,
        20_000,
      );
    } catch {
      const msg = `${what}: the upstreams diverge\n${diff(...last)}`;
      process.stderr.write(`${msg}\n`);
      assert.fail(msg);
    }
  }

  before(async () => {
    // Built once before any test file (scripts/test.ts); here only to fail with the build's own words.
    await resolveBinary('compute');
    await resolveBinary('nso');
    [real, standalone] = await Promise.all([startUpstreamEnv('real'), startUpstreamEnv('standalone')]);
    for (const env of both()) {
      await env.client.create(NAMESPACE, { metadata: { name: NS } });
      await env.client.create(LOCATION, location('dfw-1', 'DFW'));
      await env.client.create(LOCATION, location('xyz-1', 'XYZ'));
      await env.client.create(LOCATION, location('lhr-other', 'LHR', 'someone-elses-class'));
      await env.client.create(NETWORK, {
        metadata: { name: 'default', namespace: NS },
        spec: { ipam: { mode: 'Auto' } },
      });
    }
  });

  after(async () => {
    await Promise.all(both().map((e) => e?.stop()));
  });

  it('create: one sandbox replica in DFW becomes Ready', async () => {
    await step(
      'create',
      (env) => env.client.create(WORKLOAD, sandboxWorkload('web', 'DFW', 1)),
      async (env) => (await instances(env, 'web-')).filter(ready).length === 1,
    );
  });

  it('scale: a second replica follows', async () => {
    await step(
      'scale',
      (env) =>
        env.client.patch(WORKLOAD, 'web', NS, {
          type: 'json',
          patch: [{ op: 'replace', path: '/spec/placements/0/scaleSettings/minReplicas', value: 2 }],
        }),
      async (env) => (await instances(env, 'web-')).filter(ready).length === 2,
    );
  });

  // compute v0.6.0 updates the highest ordinal first, and its update drops spec.controller, so that Instance
  // "needs" the update again on every pass and the lower ordinals never get their turn: only web-p-dfw-1
  // gets the new image. The provider must still serve it, although compute also dropped its spec.location.
  it('template change: the replica compute updates runs the new image, although compute drops spec.location', async () => {
    await step(
      'template change',
      (env) =>
        env.client.patch(WORKLOAD, 'web', NS, {
          type: 'json',
          patch: [
            {
              op: 'replace',
              path: '/spec/template/spec/runtime/sandbox/containers/0/image',
              value: 'nginx:1.28',
            },
          ],
        }),
      async (env) => {
        const l = await instances(env, 'web-');
        const updated = l.find((i) => i.metadata.name === 'web-p-dfw-1');
        return (
          l.length === 2 &&
          !updated?.spec?.location &&
          updated?.spec?.runtime?.sandbox?.containers[0]?.image === 'nginx:1.28' &&
          condOf(updated, 'Programmed')?.status === 'True' &&
          updated.status?.controller?.observedTemplateHash === templateHashOf(updated)
        );
      },
    );
  });

  it('unknown city: the Subnet says no addresses were allocated, terminally', async () => {
    await step(
      'unknown city',
      (env) => env.client.create(WORKLOAD, sandboxWorkload('far', 'XYZ', 1)),
      async (env) => {
        const s = await env.client.get(SUBNET, 'default-diff-xyz-1-0', NS).catch(() => undefined);
        return condOf(s, 'Programmed')?.reason === 'AddressesNotAllocated';
      },
    );
  });

  it('a Location created after its Workload: used once the Workload is touched', async () => {
    await step(
      'location after workload',
      async (env) => {
        await env.client.create(WORKLOAD, sandboxWorkload('late', 'DLS', 1));
        await env.client.create(LOCATION, location('dls-1', 'DLS'));
        // compute watches no Locations: a change to the Workload is what makes it look again.
        await env.client.patch(WORKLOAD, 'late', NS, {
          type: 'merge',
          patch: { metadata: { annotations: { touched: 'yes' } } },
        });
      },
      async (env) => (await instances(env, 'late-')).filter(ready).length === 1,
    );
  });

  it('a provider restart mid-flow: converges with exactly one backend instance', async () => {
    await step(
      'provider restart',
      async (env) => {
        await env.client.create(WORKLOAD, sandboxWorkload('restart', 'DLS', 1));
        await env.restartProvider();
      },
      async (env) => (await instances(env, 'restart-')).filter(ready).length === 1,
    );
  });

  it('any valid classic manifests: several placements and cities, VM and sandbox, ConfigMap and Secret data, ssh keys, another class untouched', async () => {
    await step(
      'rich manifests',
      async (env) => {
        await env.client.create(CONFIGMAP, {
          metadata: { name: 'app-config', namespace: NS },
          data: { 'app.conf': 'mode=demo\n', mode: 'demo' },
        });
        await env.client.create(SECRET, {
          metadata: { name: 'app-secret', namespace: NS },
          stringData: { token: 'differential-token-value', 'tls.key': 'not-a-real-key' },
        });
        await env.client.create(WORKLOAD, richSandbox());
        await env.client.create(WORKLOAD, richVm());
      },
      async (env) => {
        const l = [...(await instances(env, 'app-')), ...(await instances(env, 'vm-'))];
        const ours = l.filter((i) => !i.metadata.name!.includes('-lhr-'));
        const other = l.filter((i) => i.metadata.name!.includes('-lhr-'));
        return (
          ours.length === 3 &&
          ours.every(ready) &&
          // The LHR placement lands on another class's Location: never ours to touch.
          other.length === 1 &&
          !other[0]!.metadata.finalizers?.some((f) => f.startsWith('infra.provider-ts.io/')) &&
          condOf(other[0], 'Programmed')?.reason !== 'Programmed'
        );
      },
    );
  });

  // After this step compute may schedule any new DFW placement to either Location (it lists Locations
  // cluster-wide, unordered), so it comes after every step that creates one.
  it('two Locations in one city: the Workload lands on one of them', async () => {
    await step(
      'two locations in one city',
      async (env) => {
        await env.client.create(NAMESPACE, { metadata: { name: PAIR_NS } });
        await env.client.create(NETWORK, {
          metadata: { name: 'default', namespace: PAIR_NS },
          spec: { ipam: { mode: 'Auto' } },
        });
        await env.client.create(LOCATION, location('dfw-2', 'DFW', OURS, PAIR_NS));
        await env.client.create(WORKLOAD, sandboxWorkload('pair', 'DFW', 1, 'nginx:1.27', PAIR_NS));
      },
      async (env) => (await instances(env, 'pair-', PAIR_NS)).filter(ready).length === 1,
    );
  });

  it('delete a Workload: its Instances, Deployments and bindings go, and so do its backend instances', async () => {
    await step(
      'delete workload',
      (env) => env.client.delete(WORKLOAD, 'web', NS),
      async (env) =>
        (await instances(env, 'web-')).length === 0 &&
        (await env.client.get(WORKLOAD, 'web', NS).catch((e) => (isNotFound(e) ? undefined : e))) ===
          undefined,
    );
  });

  it('delete the Network after its Workloads: nothing is left upstream or on the backend', async () => {
    await step(
      'delete workloads',
      async (env) => {
        for (const w of (await env.client.list(WORKLOAD)).items)
          await env.client.delete(WORKLOAD, w.metadata.name!, w.metadata.namespace);
      },
      async (env) => (await env.client.list(INSTANCE)).items.length === 0,
    );
    await step(
      'delete network',
      async (env) => {
        for (const namespace of [NS, PAIR_NS]) await env.client.delete(NETWORK, 'default', namespace);
      },
      async (env) => {
        for (const r of [NETWORK, NETWORK_CONTEXT, SUBNET_CLAIM, SUBNET])
          if ((await env.client.list(r)).items.length > 0) return false;
        return (await env.backendResources()).length === 0;
      },
      60_000,
    );
  });
});

function errors(env: UpstreamEnv): string {
  return env.logs
    .filter((l) => l.includes('"level":"error"') || l.includes('"level":"warn"'))
    .slice(-15)
    .join('\n');
}
