/**
 * deploy/kubernetes/downstream-rbac.yaml is exactly enough: against a downstream API server with the RBAC
 * authorizer, the backend authenticated as that service account creates, converges, replaces, releases and
 * deletes networks, subnets, sandbox and VM Instances, adopts a released Pod, plans and observes, and the API
 * server's audit log shows not one forbidden answer to it and no granted verb it never used. A user without
 * the binding gets CredentialsInvalid.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { createKubernetesBackend, type KubernetesBackend } from '../../src/backends/kubernetes/index.ts';
import { BackendError, type InstanceDesired, type ResourceOwner } from '../../src/datum/backend.ts';
import { CITY_LABEL, type EdgeCluster, startEdgeCluster } from '../../src/localenv/edge.ts';
import { toKubeconfigYaml } from '../../src/runtime/client/config.ts';
import { isAlreadyExists } from '../../src/runtime/client/errors.ts';
import type { KubeObject, ResourceType } from '../../src/runtime/client/types.ts';
import { eventually } from '../../src/testkit/contract/suite.ts';
import { backendContext } from './kubernetes-fixtures.ts';

const RBAC = fileURLToPath(new URL('../../deploy/kubernetes/downstream-rbac.yaml', import.meta.url));
const SA_USER = 'system:serviceaccount:datum-provider-system:datum-provider';

const type = (group: string, kind: string, plural: string, namespaced: boolean): ResourceType => ({
  group,
  version: 'v1',
  kind,
  plural,
  namespaced,
});
const TYPES: Record<string, ResourceType> = {
  Namespace: type('', 'Namespace', 'namespaces', false),
  ServiceAccount: type('', 'ServiceAccount', 'serviceaccounts', true),
  ClusterRole: type('rbac.authorization.k8s.io', 'ClusterRole', 'clusterroles', false),
  ClusterRoleBinding: type('rbac.authorization.k8s.io', 'ClusterRoleBinding', 'clusterrolebindings', false),
};

interface AuditEvent {
  stage: string;
  verb: string;
  user: { username: string };
  objectRef?: {
    apiGroup?: string;
    resource?: string;
    subresource?: string;
    namespace?: string;
    name?: string;
  };
  responseStatus?: { code?: number };
}

const owner = (kind: ResourceOwner['kind'], name: string): ResourceOwner => ({
  cluster: 'rbac-project',
  namespace: 'default',
  kind,
  name,
  uid: `${name}-uid`,
});

function sandbox(id: string, hash: string, content: string, cidr: string): InstanceDesired {
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
        ingress: [{ ports: [{ protocol: 'TCP', port: 80 }], from: [{ cidr }] }],
      },
    ],
    runtime: {
      kind: 'sandbox',
      containers: [
        {
          name: 'app',
          image: 'nginx:1.27',
          env: [{ name: 'TOKEN', value: 'rbac-secret-env', sensitive: true }],
          ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
          files: [
            { path: '/etc/app/config.yaml', data: Buffer.from(content).toString('base64'), sensitive: false },
            { path: '/etc/app/key', data: Buffer.from(`key-${content}`).toString('base64'), sensitive: true },
          ],
        },
      ],
    },
  };
}

function vm(id: string, hash: string): InstanceDesired {
  return {
    id,
    owner: owner('Instance', id),
    instanceType: 'datumcloud/d1-standard-2',
    templateHash: hash,
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

describe('kubernetes backend under deploy/kubernetes/downstream-rbac.yaml', { timeout: 240_000 }, () => {
  let edge: EdgeCluster;
  let backend: KubernetesBackend;
  let auditPath: string;
  let auditDir: string;
  const rbacObjects = parseAllDocuments(readFileSync(RBAC, 'utf8')).map((d) => d.toJS() as KubeObject);

  before(async () => {
    auditDir = mkdtempSync(join(tmpdir(), 'k8s-rbac-audit-'));
    auditPath = join(auditDir, 'audit.log');
    edge = await startEdgeCluster({
      controlPlane: {
        rbac: true,
        auditLog: { path: auditPath, rules: [{ level: 'Metadata', users: [SA_USER] }] },
      },
    });
    const admin = edge.cp.client();
    for (const o of rbacObjects) {
      const t = TYPES[o.kind!];
      assert.ok(t, `a type for ${o.kind}`);
      await admin.create(t, o).catch((e) => (isAlreadyExists(e) ? undefined : Promise.reject(e)));
    }
    backend = createKubernetesBackend({ backendConfig: { kubevirt: 'true', managedBy: 'rbac-test' } });
  });

  after(async () => {
    await backend?.close();
    await edge?.stop();
    if (auditDir) rmSync(auditDir, { recursive: true, force: true });
  });

  it('runs every operation without a forbidden answer, and uses every verb it is granted', async () => {
    const sa = edge.cp.userKubeconfig(SA_USER);
    const ctx = backendContext(
      toKubeconfigYaml(sa.connection, 'sa'),
      { kubevirt: 'true' },
      { [CITY_LABEL]: 'DFW' },
    );
    await backend.ensureNetwork(ctx, {
      id: 'net-1',
      owner: owner('NetworkContext', 'net-1'),
      ipv4Cidr: '10.128.0.0/9',
      mtu: 1460,
    });
    const subnet = {
      id: 'subnet-1',
      owner: owner('Subnet', 'subnet-1'),
      networkId: 'net-1',
      cidr: '10.128.0.0/20',
    };
    await backend.ensureSubnet(ctx, subnet);
    await backend.ensureSubnet(ctx, { ...subnet, cidr: '10.128.16.0/20' }); // converges the record (patch)

    const running = (d: InstanceDesired) =>
      eventually(async () => {
        const o = await backend.ensureInstance(ctx, d);
        return o.upToDate && o.powerState === 'running' && o.addresses[0]?.networkIP ? o : undefined;
      }, `${d.id} running`);
    // A: converged in place (files, Secret files, policy), then released.
    await running(sandbox('inst-a', 'h1', 'one', '192.0.2.0/24'));
    const a = await running(sandbox('inst-a', 'h1', 'two', '198.51.100.0/24'));
    assert.ok((await backend.release(ctx, 'instance', 'inst-a')).released.length >= 4);
    // E: the released A adopted by another Instance, planned (a dry-run create for F) and observed.
    const e = sandbox('inst-e', 'h1', 'two', '198.51.100.0/24');
    await backend.adoptInstance(ctx, a.providerId, e);
    assert.equal((await running(e)).providerId, a.providerId);
    assert.deepEqual(await backend.planInstance(ctx, e), { action: 'none', changes: [] });
    assert.equal(
      (await backend.planInstance(ctx, sandbox('inst-f', 'h1', 'x', '192.0.2.0/24'))).action,
      'create',
    );
    const seen = await backend.observeInstance(ctx, { id: 'inst-e', providerId: a.providerId });
    assert.equal(seen?.powerState, 'running');
    // B: a VM replaced for a new template, then deleted.
    await running(vm('inst-b', 'h1'));
    await running(vm('inst-b', 'h2'));
    // D: a VM released.
    const d = await running(vm('inst-d', 'h1'));
    assert.ok(
      (await backend.release(ctx, 'instance', 'inst-d')).released.some((r) =>
        r.startsWith('VirtualMachine '),
      ),
    );
    // C: a sandbox deleted with its data objects.
    await running(sandbox('inst-c', 'h1', 'three', '192.0.2.0/24'));
    const managed = await backend.listManaged(ctx);
    assert.deepEqual(
      managed
        .filter((m) => m.kind === 'instance')
        .map((m) => m.id)
        .sort(),
      ['inst-b', 'inst-c', 'inst-e'],
      'released objects are not listed',
    );
    for (const id of ['inst-b', 'inst-c', 'inst-e'])
      await eventually(async () => (await backend.deleteInstance(ctx, id)).gone, `${id} deleted`);
    // The released VM would keep the project namespace (it runs on): its operator removes it.
    const [dns, dname] = d.providerId.split('/') as [string, string];
    const VM = type('kubevirt.io', 'VirtualMachine', 'virtualmachines', true);
    await edge.cp.client().delete(VM, dname, dns);
    await eventually(
      () =>
        edge.cp
          .client()
          .get(VM, dname, dns)
          .then(
            () => false,
            () => true,
          ),
      'released VM removed by its operator',
    );
    await eventually(async () => (await backend.deleteSubnet(ctx, 'subnet-1')).gone, 'subnet deleted');
    await eventually(async () => (await backend.deleteNetwork(ctx, 'net-1')).gone, 'network deleted');
    assert.deepEqual(await backend.listManaged(ctx), []);

    const events = readFileSync(auditPath, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AuditEvent)
      .filter((e) => e.user.username === SA_USER && e.stage === 'ResponseComplete' && e.objectRef?.resource);
    const forbidden = events.filter((e) => e.responseStatus?.code === 403);
    assert.deepEqual(
      forbidden.map(
        (e) =>
          `${e.verb} ${e.objectRef?.resource} ${e.objectRef?.namespace ?? ''}/${e.objectRef?.name ?? ''}`,
      ),
      [],
      'no forbidden answer',
    );
    const used = new Set(
      events.map((e) => `${e.objectRef?.apiGroup || 'core'}/${e.objectRef?.resource} ${e.verb}`),
    );
    const role = rbacObjects.find((o) => o.kind === 'ClusterRole')!;
    const granted = (role.rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[]).flatMap(
      (r) =>
        r.apiGroups.flatMap((g) =>
          r.resources.flatMap((res) => r.verbs.map((v) => `${g || 'core'}/${res} ${v}`)),
        ),
    );
    assert.deepEqual(
      granted.filter((g) => !used.has(g)),
      [],
      `every granted verb is used (used: ${[...used].sort().join(', ')})`,
    );
  });

  it('reports CredentialsInvalid for a user without the binding', async () => {
    const other = edge.cp.userKubeconfig('someone-else');
    const ctx = backendContext(toKubeconfigYaml(other.connection, 'other'), {}, {});
    await assert.rejects(
      backend.ensureNetwork(ctx, {
        id: 'net-x',
        owner: owner('NetworkContext', 'net-x'),
        ipv4Cidr: '10.128.0.0/9',
        mtu: 1460,
      }),
      (err: unknown) =>
        err instanceof BackendError && err.reason === 'CredentialsInvalid' && /403/.test(err.message),
    );
  });
});
