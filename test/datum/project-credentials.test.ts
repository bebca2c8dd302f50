/**
 * Per-project credentials in Milo mode, against real kube-apiservers: two projects discovered through Milo's
 * endpoint (the milo-proxy fixture), each served by its own ProviderConfig with its own Secret; every backend
 * call (seen with the credentials in its context) for one project's objects carries only that project's
 * credentials. An object of project B that would be served by A's ProviderConfig (by city code, then by a
 * label B puts on its own Project) is refused with ProviderConfigNotPermitted and never reaches the backend;
 * and when A's ProviderConfig stops listing A, A's recorded placement is refused too: its deletion waits,
 * finalizer held, until the ProviderConfig lists A again.
 *
 * Economy: project A's control plane is also the discovery and home cluster (ProviderConfigs, Secrets);
 * project B has its own. The provider reaches both projects only through the proxy.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InMemoryBackend } from '../../src/backends/inmemory/backend.ts';
import { INSTANCE, NETWORK_CONTEXT, SUBNET } from '../../src/datum/api/resources.ts';
import type { BackendContext } from '../../src/datum/backend.ts';
import { networkContextName, subnetName } from '../../src/datum/classic.ts';
import { PROJECT_PROVIDER_CONFIG_LABEL } from '../../src/datum/project-providerconfig.ts';
import { type Provider, registerProvider } from '../../src/datum/provider.ts';
import { PROVIDER_CONFIG } from '../../src/datum/providerconfig.ts';
import { PLACEMENT_CONDITION } from '../../src/datum/reconcilers/placement.ts';
import { defaultSettings } from '../../src/datum/settings.ts';
import type { HttpClient } from '../../src/runtime/client/client.ts';
import { isNotFound } from '../../src/runtime/client/errors.ts';
import type { KubeObject } from '../../src/runtime/client/types.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';
import { Manager } from '../../src/runtime/manager/manager.ts';
import { MiloDiscovery, PROJECT } from '../../src/runtime/multicluster/providers.ts';
import { createInstance, seedProject } from '../../src/testkit/contract/fixtures.ts';
import { condOf, eventually } from '../../src/testkit/contract/suite.ts';
import type { ControlPlane } from '../../src/testkit/index.ts';
import type { MiloProxy } from '../runtime/fixtures/milo-proxy.ts';
import { createProject, startTwoTenants, type TwoTenants } from './two-tenants.ts';

const TOKEN = { a: 'token-of-project-a-7f3c', b: 'token-of-project-b-91d2' };
const CLASS = defaultSettings().locationClassName;

interface Call {
  op: string;
  token: string;
  id?: string;
  at: number;
}

/** The in-memory backend, recording each call's operation, resource id and the token in its credentials. */
function recording(inner: InMemoryBackend): { backend: InMemoryBackend; calls: Call[] } {
  const calls: Call[] = [];
  const backend = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        const ctx = args[0] as BackendContext | undefined;
        if (ctx && typeof ctx === 'object' && 'credentials' in ctx) {
          const what = args[1] as string | { id?: string } | undefined;
          calls.push({
            op: String(prop),
            token: ctx.credentials.source === 'Secret' ? (ctx.credentials.data.token ?? '') : '(injected)',
            id: typeof what === 'string' ? what : what?.id,
            at: Date.now(),
          });
        }
        return v.apply(target, args);
      };
    },
  });
  return { backend, calls };
}

/** The Instance, NetworkContext and Subnet of a seeded namespace (see seedProject). */
async function objectsOf(c: HttpClient, ns: string, loc: string, instance: string): Promise<KubeObject[]> {
  const ctx = networkContextName('default', { name: loc, namespace: ns });
  return Promise.all([
    c.get(INSTANCE, instance, ns),
    c.get(NETWORK_CONTEXT, ctx, ns),
    c.get(SUBNET, subnetName(ctx), ns),
  ]);
}

const programmed = (o: KubeObject) => condOf(o, 'Programmed')?.status === 'True';
const uidOf = (id: string | undefined) => id?.replace(/^(inst|net|subnet)-/, '');

describe('per-project credentials (Milo mode)', () => {
  let tenants: TwoTenants | undefined;
  let home: ControlPlane; // discovery + home + project A
  let cpB: ControlPlane;
  let milo: MiloProxy;
  let mgr: Manager;
  let provider: Provider;
  const logs: string[] = [];
  const inner = new InMemoryBackend({ latencyMs: 2 });
  const { backend, calls } = recording(inner);

  before(async () => {
    tenants = await startTwoTenants(TOKEN);
    ({ home, cpB, milo } = tenants);
    const h = home.client();
    mgr = new Manager({ log: createLogger({ level: 'debug', sink: (l) => logs.push(l) }) });
    // A is mapped in the settings; B is unmapped (served by the default, which is B's own ProviderConfig).
    provider = registerProvider(mgr, {
      backend,
      settings: {
        ...defaultSettings(),
        defaultProviderConfig: 'tenant-b',
        projectProviderConfigs: { 'proj-a': 'tenant-a' },
        sweepIntervalSeconds: 3600,
      },
      home: h,
    });
    mgr.add(new MiloDiscovery(mgr, { discovery: { server: milo.server } }));
    await mgr.start();
    for (const name of ['proj-a', 'proj-b']) await createProject(h, name);
  });

  after(async () => {
    await mgr?.stop();
    await tenants?.stop();
  });

  it("serves each project with its own credentials, and refuses another project's ProviderConfig", async () => {
    const a = home.client();
    const b = cpB.client();
    await seedProject(a, 'work', { name: 'dfw', className: CLASS, city: 'DFW' });
    await createInstance(a, { name: 'web', namespace: 'work', location: { name: 'dfw', namespace: 'work' } });
    await seedProject(b, 'work', { name: 'lhr', className: CLASS, city: 'LHR' });
    await createInstance(b, { name: 'web', namespace: 'work', location: { name: 'lhr', namespace: 'work' } });
    // B in DFW: the city code selects tenant-a, which does not serve proj-b.
    await seedProject(b, 'edge', { name: 'dfw', className: CLASS, city: 'DFW' });
    await createInstance(b, { name: 'web', namespace: 'edge', location: { name: 'dfw', namespace: 'edge' } });

    for (const [c, ns, loc] of [
      [a, 'work', 'dfw'],
      [b, 'work', 'lhr'],
    ] as const)
      await eventually(
        async () => (await objectsOf(c, ns, loc, 'web')).every(programmed),
        `${ns}/${loc}: Instance, NetworkContext and Subnet programmed`,
      );
    const refused = async (c: HttpClient, r: typeof INSTANCE, name: string, ns: string, by: RegExp) => {
      const o = await eventually(async () => {
        const x = await c.get(r, name, ns);
        return by.test(condOf(x, 'Programmed')?.message ?? '') ? x : undefined;
      }, `${r.kind} ${ns}/${name} refused`);
      const cond = condOf(o, 'Programmed')!;
      assert.equal(cond.status, 'False');
      assert.equal(cond.reason, 'ProviderConfigNotPermitted');
      assert.match(cond.message, /ProviderConfig tenant-a .*does not serve project proj-b/);
      assert.equal(condOf(o, PLACEMENT_CONDITION), undefined, 'no placement recorded for a refused object');
      return o;
    };
    const edgeCtx = networkContextName('default', { name: 'dfw', namespace: 'edge' });
    await refused(b, INSTANCE, 'web', 'edge', /city code DFW/);
    await refused(b, NETWORK_CONTEXT, edgeCtx, 'edge', /city code DFW/);
    // (Its Subnet waits for the context; it is in the no-call set below as well.)
    const refusedB = await objectsOf(b, 'edge', 'dfw', 'web');

    const objsA = await objectsOf(a, 'work', 'dfw', 'web');
    const objsB = await objectsOf(b, 'work', 'lhr', 'web');
    for (const [objs, pc] of [
      [objsA, 'tenant-a'],
      [objsB, 'tenant-b'],
    ] as const)
      for (const o of objs)
        assert.equal(JSON.parse(condOf(o, PLACEMENT_CONDITION)!.message).providerConfig, pc, o.kind);
    const uids = (objs: KubeObject[]) => new Set(objs.map((o) => o.metadata.uid!));
    const [uidsA, uidsB, uidsRefused] = [uids(objsA), uids(objsB), uids(refusedB)];
    const forA = calls.filter((c) => uidsA.has(uidOf(c.id)!));
    const forB = calls.filter((c) => uidsB.has(uidOf(c.id)!));
    assert.deepEqual(
      new Set(forA.map((c) => c.op)),
      new Set(['ensureNetwork', 'ensureSubnet', 'ensureInstance']),
    );
    assert.deepEqual(
      new Set(forB.map((c) => c.op)),
      new Set(['ensureNetwork', 'ensureSubnet', 'ensureInstance']),
    );
    assert.deepEqual(
      new Set(forA.map((c) => c.token)),
      new Set([TOKEN.a]),
      "A's objects: A's credentials only",
    );
    assert.deepEqual(
      new Set(forB.map((c) => c.token)),
      new Set([TOKEN.b]),
      "B's objects: B's credentials only",
    );
    assert.deepEqual(
      calls.filter((c) => uidsRefused.has(uidOf(c.id)!)),
      [],
      'no backend call at all for the refused objects',
    );

    // B labels its own Project with A's ProviderConfig: the label selects it, spec.projects still refuses it.
    await a.patch(PROJECT, 'proj-b', undefined, {
      type: 'merge',
      patch: { metadata: { labels: { [PROJECT_PROVIDER_CONFIG_LABEL]: 'tenant-a' } } },
    });
    await eventually(
      async () => mgr.getCluster('proj-b')?.metadata.labels[PROJECT_PROVIDER_CONFIG_LABEL] === 'tenant-a',
      "the Project's label reaches the engaged cluster",
    );
    await createInstance(b, {
      name: 'web-2',
      namespace: 'work',
      location: { name: 'lhr', namespace: 'work' },
    });
    const web2 = await refused(b, INSTANCE, 'web-2', 'work', /label infra\.provider-ts\.io\/provider-config/);
    // B's objects placed before the label keep their recorded place (tenant-b).
    const webB = await b.get(INSTANCE, 'web', 'work');
    assert.ok(programmed(webB));
    assert.equal(
      calls.filter((c) => uidOf(c.id) === web2.metadata.uid).length,
      0,
      'web-2 never reached the backend',
    );
    assert.ok(!calls.some((c) => c.token === TOKEN.a && !uidsA.has(uidOf(c.id)!)), "A's token only for A");
    for (const l of logs)
      assert.ok(!l.includes(TOKEN.a) && !l.includes(TOKEN.b), `no credential in logs: ${l}`);
  });

  it('refuses a recorded placement whose ProviderConfig no longer lists the project: deletion waits', async () => {
    const a = home.client();
    const setProjects = async (projects: string[]) => {
      await a.patch(PROVIDER_CONFIG, 'tenant-a', undefined, { type: 'merge', patch: { spec: { projects } } });
      const want = projects.includes('proj-a');
      await eventually(
        async () => (await provider.context.resolver.permits('tenant-a', 'proj-a')) === want,
        `the resolver sees tenant-a ${want ? 'serving' : 'not serving'} proj-a`,
      );
    };
    const inst = await a.get(INSTANCE, 'web', 'work');
    const id = `inst-${inst.metadata.uid}`;
    await setProjects(['proj-z']);
    await a.delete(INSTANCE, 'web', 'work');
    const held = await eventually(async () => {
      const o = await a.get(INSTANCE, 'web', 'work');
      return condOf(o, 'Programmed')?.reason === 'ProviderConfigNotPermitted' ? o : undefined;
    }, 'the deletion refused');
    assert.match(
      condOf(held, 'Programmed')!.message,
      /tenant-a, with which this resource was created, no longer serves project proj-a.*deletion waits/,
    );
    assert.ok(held.metadata.finalizers?.length, 'finalizer held');
    const live = await backend.listManaged({} as BackendContext); // no credentials: not recorded
    assert.ok(
      live.some((r) => r.id === id),
      'the platform instance is still there',
    );

    const restoredAt = Date.now();
    await setProjects(['proj-a']);
    // The hold is re-checked every 30 s; a touch brings the next reconcile forward.
    await a.patch(INSTANCE, 'web', 'work', {
      type: 'merge',
      patch: { metadata: { labels: { touched: 'yes' } } },
    });
    await eventually(
      async () =>
        (await a.get(INSTANCE, 'web', 'work').then(
          () => false,
          (e) => isNotFound(e),
        )) || undefined,
      'the Instance deleted once tenant-a serves proj-a again',
    );
    const deletes = calls.filter((c) => c.op === 'deleteInstance' && c.id === id);
    assert.ok(deletes.length > 0);
    assert.ok(
      deletes.every((c) => c.at >= restoredAt && c.token === TOKEN.a),
      'no delete while refused',
    );
  });

  it("the orphan sweep deletes a project's orphan with that project's credentials only", async () => {
    // A backend network of proj-b whose NetworkContext never existed; listed in every place (one in-memory
    // platform), deleted only where its project may be served.
    const ghost = {
      id: 'net-ghost',
      owner: {
        cluster: 'proj-b',
        kind: 'NetworkContext' as const,
        namespace: 'work',
        name: 'ghost',
        uid: 'ghost',
      },
      ipv4Cidr: '10.200.0.0/16',
      mtu: 1460,
    };
    await inner.ensureNetwork({} as BackendContext, ghost);
    const deleted = await provider.sweeper.sweep();
    assert.deepEqual(deleted, ['net-ghost'], 'only the orphan');
    const sweeps = calls.filter((c) => c.id === 'net-ghost');
    assert.deepEqual(
      sweeps.map((c) => `${c.op} ${c.token}`),
      [`deleteNetwork ${TOKEN.b}`],
      "deleted once, with B's credentials (never through A's ProviderConfig)",
    );
  });
});
