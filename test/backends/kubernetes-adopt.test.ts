/**
 * Adopt, observe and plan on the Kubernetes backend, against a simulated downstream cluster (kube-apiserver +
 * kwok + the KubeVirt stand-in) whose audit log records every request the backend makes:
 * - Retain → adopt: a released Pod (and VM) is taken over by another Instance with the same spec: same object
 *   (uid), relabelled for its NetworkPolicy, no second workload; idempotent; a second adopter gets
 *   AdoptionConflict and nothing is written; an image change converges in place, an env change is refused
 *   with the difference named and the Pod kept; deleting the adopter deletes it;
 * - another installation's Pod, a Pod under a controller, a missing one: refused, nothing written;
 * - observe and plan write nothing (plan's only write is a server-side dry run, which stores nothing); plan
 *   says create, none after convergence, and one line per difference, never a Secret value; its dry run
 *   surfaces an admission refusal (Pod Security) as InvalidConfiguration;
 * - a released Pod is not ended with the project's last network (its namespace stays).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  createKubernetesBackend,
  type KubernetesBackend,
  projectNamespace,
} from '../../src/backends/kubernetes/index.ts';
import {
  type BackendContext,
  BackendError,
  type InstanceDesired,
  type ResourceOwner,
} from '../../src/datum/backend.ts';
import { CITY_LABEL, type EdgeCluster, startEdgeCluster } from '../../src/localenv/edge.ts';
import type { HttpClient } from '../../src/runtime/client/client.ts';
import { toKubeconfigYaml } from '../../src/runtime/client/config.ts';
import { isNotFound } from '../../src/runtime/client/errors.ts';
import type { KubeObject, ResourceType } from '../../src/runtime/client/types.ts';
import { eventually } from '../../src/testkit/contract/suite.ts';
import { backendContext } from './kubernetes-fixtures.ts';

const USER = 'adopt-test-backend';
const core = (kind: string, plural: string): ResourceType => ({
  group: '',
  version: 'v1',
  kind,
  plural,
  namespaced: true,
});
const POD = core('Pod', 'pods');
const CONFIG_MAP = core('ConfigMap', 'configmaps');
const NAMESPACE = { ...core('Namespace', 'namespaces'), namespaced: false };
const VM: ResourceType = {
  group: 'kubevirt.io',
  version: 'v1',
  kind: 'VirtualMachine',
  plural: 'virtualmachines',
  namespaced: true,
};
const WRITES = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);
const SECRET_ENV = 'adopt-secret-env-value';

const owner = (kind: ResourceOwner['kind'], name: string): ResourceOwner => ({
  cluster: 'adopt-project',
  namespace: 'default',
  kind,
  name,
  uid: `${name}-uid`,
});

function sandbox(id: string, hash = 'h1', image = 'nginx:1.27', env = 'one'): InstanceDesired {
  return {
    id,
    owner: owner('Instance', id),
    instanceType: 'datumcloud/d1-standard-2',
    templateHash: hash,
    sshKeys: [],
    interfaces: [
      {
        networkId: 'net-1',
        subnetId: 'subnet-1',
        ingress: [{ ports: [{ protocol: 'TCP', port: 80 }], from: [{ cidr: '192.0.2.0/24' }] }],
      },
    ],
    runtime: {
      kind: 'sandbox',
      containers: [
        {
          name: 'app',
          image,
          env: [
            { name: 'MODE', value: env, sensitive: false },
            { name: 'TOKEN', value: SECRET_ENV, sensitive: true },
          ],
          ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
          files: [{ path: '/etc/app/a.conf', data: Buffer.from('a').toString('base64'), sensitive: false }],
        },
      ],
    },
  };
}

function vm(id: string): InstanceDesired {
  return {
    id,
    owner: owner('Instance', id),
    instanceType: 'datumcloud/d1-standard-2',
    templateHash: 'v1',
    sshKeys: [{ user: 'ubuntu', key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAItest test@example' }],
    interfaces: [{ networkId: 'net-1', subnetId: 'subnet-1', ingress: [] }],
    runtime: {
      kind: 'virtualMachine',
      image: 'datumcloud/ubuntu-2204-lts',
      diskSizeGiB: 20,
      ports: [],
      files: [],
    },
  };
}

interface AuditEvent {
  verb: string;
  requestURI: string;
  user: { username: string };
  objectRef?: { resource?: string; namespace?: string; name?: string };
}

describe('kubernetes backend: adopt, observe, plan', { timeout: 240_000 }, () => {
  let edge: EdgeCluster;
  let backend: KubernetesBackend;
  let ctx: BackendContext;
  let admin: HttpClient;
  let auditDir: string;
  let auditPath: string;

  const events = (): AuditEvent[] =>
    readFileSync(auditPath, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AuditEvent)
      .filter((e) => e.user.username === USER);
  /** The backend's stored writes (dry runs excluded) while `fn` runs, as `verb resource ns/name`. */
  const writesDuring = async (
    fn: () => Promise<unknown>,
  ): Promise<{ stored: string[]; dryRuns: string[] }> => {
    const from = events().length;
    await fn();
    const w = events()
      .slice(from)
      .filter((e) => WRITES.has(e.verb));
    const show = (e: AuditEvent) =>
      `${e.verb} ${e.objectRef?.resource} ${e.objectRef?.namespace ?? ''}/${e.objectRef?.name ?? ''}`;
    return {
      stored: w.filter((e) => !/[?&]dryRun=All/.test(e.requestURI)).map(show),
      dryRuns: w.filter((e) => /[?&]dryRun=All/.test(e.requestURI)).map(show),
    };
  };
  const running = (d: InstanceDesired) =>
    eventually(async () => {
      const o = await backend.ensureInstance(ctx, d);
      return o.upToDate && o.powerState === 'running' && o.addresses[0]?.networkIP ? o : undefined;
    }, `${d.id} running`);
  const rejects = async (p: Promise<unknown>, reason: string, re: RegExp) =>
    assert.rejects(p, (e: unknown) => {
      assert.ok(e instanceof BackendError, String(e));
      assert.equal(e.reason, reason, e.message);
      assert.match(e.message, re);
      return true;
    });
  const get = (r: ResourceType, ns: string, name: string) =>
    admin.get(r, name, ns).catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)));
  const split = (providerId: string) => providerId.split('/') as [string, string];

  before(async () => {
    auditDir = mkdtempSync(join(tmpdir(), 'k8s-adopt-audit-'));
    auditPath = join(auditDir, 'audit.log');
    edge = await startEdgeCluster({
      controlPlane: { auditLog: { path: auditPath, rules: [{ level: 'Metadata', users: [USER] }] } },
    });
    admin = edge.cp.client();
    backend = createKubernetesBackend({ backendConfig: { kubevirt: 'true', managedBy: 'adopt-test' } });
    const user = edge.cp.userKubeconfig(USER);
    ctx = backendContext(
      toKubeconfigYaml(user.connection, 'u'),
      { kubevirt: 'true' },
      { [CITY_LABEL]: 'DFW' },
    );
    await backend.ensureNetwork(ctx, {
      id: 'net-1',
      owner: owner('NetworkContext', 'net-1'),
      ipv4Cidr: '10.128.0.0/9',
      mtu: 1460,
    });
    await backend.ensureSubnet(ctx, {
      id: 'subnet-1',
      owner: owner('Subnet', 'subnet-1'),
      networkId: 'net-1',
      cidr: '10.128.0.0/20',
    });
    await admin.create(NAMESPACE, { metadata: { name: 'foreign' } });
  });

  after(async () => {
    await backend?.close();
    await edge?.stop();
    if (auditDir) rmSync(auditDir, { recursive: true, force: true });
  });

  it('Retain then adopt: the released Pod is taken over in place, once; a second adopter is refused', async () => {
    const kept = await running(sandbox('kept'));
    const [ns, name] = split(kept.providerId);
    const uid = (await get(POD, ns, name))!.metadata.uid;
    assert.ok((await backend.release(ctx, 'instance', 'kept')).released.includes(`Pod ${ns}/${name}`));

    const adopter = sandbox('adopter');
    const adopted = await writesDuring(async () => {
      assert.deepEqual(await backend.adoptInstance(ctx, kept.providerId, adopter), {
        providerId: kept.providerId,
      });
      assert.deepEqual(await backend.adoptInstance(ctx, kept.providerId, adopter), {
        providerId: kept.providerId,
      });
    });
    assert.deepEqual(adopted.stored, [`patch pods ${ns}/${name}`], 'one write for two adopt calls');
    const before = await backend.planInstance(ctx, adopter);
    assert.equal(before.action, 'update');
    assert.ok(
      before.changes.some((c) => /adopted; accepted as it is/.test(c)),
      before.changes.join('\n'),
    );

    const o = await running(adopter);
    assert.equal(o.providerId, kept.providerId, 'the adopted Pod, by its own name');
    const pod = (await get(POD, ns, name))!;
    assert.equal(pod.metadata.uid, uid, 'never replaced');
    assert.equal(pod.metadata.labels?.['datum.net/instance'], 'adopter', 'selected by the adopter policy');
    assert.equal(pod.metadata.annotations?.['datum.net/adopted'], 'true');
    const pods = await admin.list(POD, {
      labelSelector: 'datum.net/managed-by=adopt-test,datum.net/kind=instance',
    });
    assert.deepEqual(
      pods.items.map((p) => p.metadata.uid),
      [uid],
      'no second workload',
    );
    const managed = (await backend.listManaged(ctx)).filter((m) => m.kind === 'instance');
    assert.deepEqual(
      managed.map((m) => [m.id, m.providerId]),
      [['adopter', kept.providerId]],
    );
    assert.equal(
      (await get(CONFIG_MAP, ns, `${name}-files`))!.metadata.labels?.['datum.net/id'],
      'adopter',
      "its released data objects are the adopter's now",
    );
    assert.deepEqual(await backend.planInstance(ctx, adopter), { action: 'none', changes: [] });

    const rv = pod.metadata.resourceVersion;
    const second = await writesDuring(() =>
      rejects(
        backend.adoptInstance(ctx, kept.providerId, sandbox('adopter-2')),
        'AdoptionConflict',
        /managed by Instance default\/adopter/,
      ),
    );
    assert.deepEqual(second.stored, [], 'a refused adoption writes nothing');
    assert.equal((await get(POD, ns, name))!.metadata.resourceVersion, rv);

    // An image changes in place; an env change cannot: named, and the Pod is kept.
    const newImage = sandbox('adopter', 'h2', 'nginx:1.28');
    const plan2 = await backend.planInstance(ctx, newImage);
    assert.deepEqual(plan2.changes, ['container app image: nginx:1.27 → nginx:1.28 (in place)']);
    await running(newImage);
    const repatched = (await get(POD, ns, name))!;
    assert.equal(repatched.metadata.uid, uid);
    assert.equal((repatched.spec as { containers: { image: string }[] }).containers[0]!.image, 'nginx:1.28');
    const newEnv = sandbox('adopter', 'h3', 'nginx:1.28', 'two');
    const plan3 = await backend.planInstance(ctx, newEnv);
    assert.deepEqual(plan3.changes, [
      'container app: environment: cannot change in place, and an adopted Pod is never replaced',
    ]);
    await rejects(
      backend.ensureInstance(ctx, newEnv),
      'Unsupported',
      /container app: environment.*never replaced/,
    );
    assert.equal((await get(POD, ns, name))!.metadata.uid, uid, 'kept');
    assert.ok(!JSON.stringify(plan3).includes(SECRET_ENV));

    await eventually(async () => (await backend.deleteInstance(ctx, 'adopter')).gone, 'adopter deleted');
    assert.equal(await get(POD, ns, name), undefined, 'deleting the adopter deletes the Pod');
    assert.equal(await get(CONFIG_MAP, ns, `${name}-files`), undefined, 'its data objects too');
  });

  it('Retain then adopt a VirtualMachine: same VM, relabelled template, plan none', async () => {
    const kept = await running(vm('kept-vm'));
    const [ns, name] = split(kept.providerId);
    const uid = (await get(VM, ns, name))!.metadata.uid;
    await backend.release(ctx, 'instance', 'kept-vm');
    await backend.adoptInstance(ctx, kept.providerId, vm('adopter-vm'));
    const o = await running(vm('adopter-vm'));
    assert.equal(o.providerId, kept.providerId);
    const obj = (await get(VM, ns, name)) as KubeObject & {
      spec: { template: { metadata: { labels: Record<string, string> } } };
    };
    assert.equal(obj.metadata.uid, uid, 'never replaced');
    assert.equal(obj.spec.template.metadata.labels['datum.net/instance'], 'adopter-vm');
    assert.deepEqual(await backend.planInstance(ctx, vm('adopter-vm')), { action: 'none', changes: [] });
    await eventually(
      async () => (await backend.deleteInstance(ctx, 'adopter-vm')).gone,
      'adopter-vm deleted',
    );
    assert.equal(await get(VM, ns, name), undefined);
  });

  it("refuses another installation's Pod, a controlled Pod and a missing one, writing nothing; keeps a differing one", async () => {
    const plant = (name: string, meta: Partial<KubeObject['metadata']> = {}) =>
      admin.create(POD, {
        metadata: { name, namespace: 'foreign', ...meta },
        spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] },
      });
    await plant('theirs', { labels: { 'datum.net/managed-by': 'someone-else', 'datum.net/id': 'x' } });
    const cm = await admin.create(CONFIG_MAP, { metadata: { name: 'boss', namespace: 'foreign' } });
    await plant('controlled', {
      ownerReferences: [
        { apiVersion: 'v1', kind: 'ConfigMap', name: 'boss', uid: cm.metadata.uid!, controller: true },
      ],
    });
    const handmade = await plant('handmade');
    const refused = await writesDuring(async () => {
      await rejects(
        backend.adoptInstance(ctx, 'foreign/theirs', sandbox('steal-1')),
        'AdoptionConflict',
        /another installation \(someone-else\)/,
      );
      await rejects(
        backend.adoptInstance(ctx, 'foreign/controlled', sandbox('steal-2')),
        'AdoptionConflict',
        /controller ConfigMap boss/,
      );
      await rejects(backend.adoptInstance(ctx, 'foreign/missing', sandbox('steal-3')), 'NotFound', /no Pod/);
      await rejects(
        backend.adoptInstance(ctx, 'not-a-provider-id', sandbox('steal-4')),
        'InvalidConfiguration',
        /namespace\/name/,
      );
    });
    assert.deepEqual(refused.stored, []);

    await backend.adoptInstance(ctx, 'foreign/handmade', sandbox('hand'));
    await rejects(backend.ensureInstance(ctx, sandbox('hand')), 'Unsupported', /resources: .*never replaced/);
    const still = (await get(POD, 'foreign', 'handmade'))!;
    assert.equal(still.metadata.uid, handmade.metadata.uid, 'not deleted to be replaced');
    assert.ok(!still.metadata.deletionTimestamp);
    const plan = await backend.planInstance(ctx, sandbox('hand'));
    assert.equal(plan.action, 'update');
    assert.ok(
      plan.changes.some((c) => /^container app resources: .* cannot change in place/.test(c)),
      plan.changes.join('\n'),
    );
    assert.ok(!JSON.stringify(plan).includes(SECRET_ENV), 'no Secret value in a plan');
  });

  it('observe and plan store nothing (audit log); plan asks the API server with a dry run before create', async () => {
    const d = sandbox('watched');
    const planned = await writesDuring(async () => {
      assert.deepEqual(await backend.planInstance(ctx, d), { action: 'create', changes: [] });
    });
    assert.deepEqual(planned.stored, []);
    assert.equal(planned.dryRuns.length, 1, 'the create was asked in dry-run mode');
    assert.match(planned.dryRuns[0]!, /^create pods /);
    const o = await running(d);
    const observed = await writesDuring(async () => {
      const byId = await backend.observeInstance(ctx, { id: 'watched' });
      const byProviderId = await backend.observeInstance(ctx, { id: 'other', providerId: o.providerId });
      for (const x of [byId, byProviderId]) {
        assert.equal(x?.providerId, o.providerId);
        assert.equal(x?.powerState, 'running');
        assert.equal(x?.upToDate, false);
        assert.equal(x?.addresses[0]?.networkIP, o.addresses[0]?.networkIP);
      }
      assert.equal(await backend.observeInstance(ctx, { id: 'nothing' }), undefined);
      assert.equal(await backend.observeInstance(ctx, { id: 'x', providerId: 'foreign/none' }), undefined);
      assert.deepEqual(await backend.planInstance(ctx, d), { action: 'none', changes: [] });
      const changed = sandbox('watched', 'h2', 'nginx:1.28');
      changed.interfaces[0]!.ingress = [];
      const plan = await backend.planInstance(ctx, changed);
      assert.equal(plan.action, 'update');
      const [ns, name] = split(o.providerId);
      assert.deepEqual(plan.changes, [
        'container app image: nginx:1.27 → nginx:1.28',
        `Pod ${ns}/${name}: replaced (a Pod is immutable)`,
        `NetworkPolicy ${ns}/watched: ingress rules`,
      ]);
    });
    assert.deepEqual(
      observed,
      { stored: [], dryRuns: [] },
      'observe and plan of an existing Pod write nothing',
    );
    await eventually(async () => (await backend.deleteInstance(ctx, 'watched')).gone, 'watched deleted');
  });

  it("plan's dry run surfaces what the API server would refuse (Pod Security admission)", async () => {
    const d = sandbox('restricted');
    d.owner = { ...d.owner, cluster: 'pss-project' };
    const ns = projectNamespace('datum-', d.owner);
    await admin.create(NAMESPACE, {
      metadata: { name: ns, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
    });
    const planned = await writesDuring(() =>
      rejects(backend.planInstance(ctx, d), 'InvalidConfiguration', /violates PodSecurity/),
    );
    assert.deepEqual(planned.stored, []);
    assert.equal(planned.dryRuns.length, 1);
  });

  it('a released Pod keeps running when the project goes: its namespace stays', async () => {
    const left = await running(sandbox('left'));
    const [ns, name] = split(left.providerId);
    await backend.release(ctx, 'instance', 'left');
    await eventually(async () => (await backend.deleteSubnet(ctx, 'subnet-1')).gone, 'subnet deleted');
    await eventually(async () => (await backend.deleteNetwork(ctx, 'net-1')).gone, 'network deleted');
    const pod = await get(POD, ns, name);
    assert.ok(pod && !pod.metadata.deletionTimestamp, 'the released Pod runs on');
    const namespace = await admin.get(NAMESPACE, ns);
    assert.ok(!namespace.metadata.deletionTimestamp, 'its namespace is not deleted');
  });
});
