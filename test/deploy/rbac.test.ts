/**
 * The RBAC in deploy/rbac is complete and least-privilege: a provider bound to exactly those rules, against an
 * API server with the RBAC authorizer, programs an Instance without a single forbidden request; with one rule
 * taken away, it cannot.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { INSTANCE, NETWORK_CONTEXT, SUBNET } from '../../src/datum/api/resources.ts';
import {
  createInstance,
  createLocation,
  createNetwork,
  createNetworking,
  ensureNamespace,
} from '../../src/datum/contract/fixtures.ts';
import { condOf, eventually, OUR_CRDS } from '../../src/datum/contract/suite.ts';
import { PROVIDER_CONFIG } from '../../src/datum/providerconfig.ts';
import type { KubeObject, ResourceType } from '../../src/runtime/client/types.ts';
import { ControlPlane, DATUM_CRDS } from '../../src/testkit/index.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const RBAC_DIR = new URL('../../deploy/rbac/', import.meta.url);
const SA_USER = 'system:serviceaccount:datum-provider-system:datum-provider';
const rbac = (kind: string, plural: string, namespaced: boolean): ResourceType => ({
  group: kind === 'ServiceAccount' ? '' : 'rbac.authorization.k8s.io',
  version: 'v1',
  kind,
  plural,
  namespaced,
});
const TYPES: Record<string, ResourceType> = {
  ClusterRole: rbac('ClusterRole', 'clusterroles', false),
  ClusterRoleBinding: rbac('ClusterRoleBinding', 'clusterrolebindings', false),
  Role: rbac('Role', 'roles', true),
  RoleBinding: rbac('RoleBinding', 'rolebindings', true),
  ServiceAccount: rbac('ServiceAccount', 'serviceaccounts', true),
};

function rbacObjects(): KubeObject[] {
  return ['upstream.yaml', 'home.yaml', 'bindings.yaml'].flatMap((f) =>
    parseAllDocuments(readFileSync(new URL(f, RBAC_DIR), 'utf8')).map((d) => d.toJS() as KubeObject),
  );
}

function runProvider(kubeconfig: string): { child: ChildProcess; stderr: () => string } {
  const child = spawn(
    process.execPath,
    [MAIN, 'run', '--kubeconfig', kubeconfig, '--location-class', 'datum-provider-ts'],
    {
      env: { ...process.env, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  return { child, stderr: () => err };
}

function hasKubectl(): boolean {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('deploy/rbac', () => {
  let cp: ControlPlane;
  before(async () => {
    cp = await ControlPlane.start({
      rbac: true,
      crdDirs: [DATUM_CRDS.compute, DATUM_CRDS.networkClassic, OUR_CRDS],
    });
    const c = cp.client();
    for (const ns of ['datum-provider-system', 'project']) await ensureNamespace(c, ns);
    for (const o of rbacObjects()) await c.create(TYPES[o.kind!]!, o);
    await c.create(PROVIDER_CONFIG, {
      metadata: { name: 'default' },
      spec: { credentials: { source: 'InjectedIdentity' } },
    });
    await createLocation(c, 'project', 'dfw', 'datum-provider-ts');
    await createNetwork(c, 'project');
  });
  after(async () => {
    await cp?.stop();
  });

  it('lets the provider program Instances and networks with no forbidden request', async () => {
    const user = cp.userKubeconfig(SA_USER, ['system:serviceaccounts', 'system:authenticated']);
    const p = runProvider(user.path);
    try {
      const c = cp.client();
      await createNetworking(c, 'project', 'default', { name: 'dfw', namespace: 'project' });
      await createInstance(c, {
        name: 'web-0',
        namespace: 'project',
        location: { name: 'dfw', namespace: 'project' },
      });
      for (const [r, name] of [
        [NETWORK_CONTEXT, 'default-project-dfw'],
        [SUBNET, 'default-project-dfw-0'],
        [INSTANCE, 'web-0'],
      ] as const) {
        await eventually(
          async () => condOf(await c.get(r, name, 'project'), 'Programmed')?.status === 'True',
          `${r.kind} ${name} Programmed (provider log: ${p.stderr().slice(-1500)})`,
          60_000,
        );
      }
      assert.equal(
        condOf(await c.get(PROVIDER_CONFIG, 'default'), 'Ready')?.status,
        'True',
        'ProviderConfig status written',
      );
      await c.delete(INSTANCE, 'web-0', 'project');
      await eventually(
        async () => !(await c.get(INSTANCE, 'web-0', 'project').catch(() => undefined)),
        'Instance deleted (finalizer removed)',
        60_000,
      );
      assert.doesNotMatch(p.stderr(), /forbidden/i, 'no forbidden request in the provider log');
    } finally {
      p.child.kill('SIGTERM');
    }
  });

  it('fails visibly without instances/status (the check above can fail)', async () => {
    const c = cp.client();
    const weaker = rbacObjects().find(
      (o) => o.kind === 'ClusterRole' && o.metadata.name === 'datum-provider-upstream',
    )!;
    weaker.metadata = { name: 'weaker-upstream' };
    weaker.rules = weaker.rules.filter(
      (r: { resources: string[] }) => !r.resources.includes('instances/status'),
    );
    await c.create(TYPES.ClusterRole!, weaker);
    await c.create(TYPES.ClusterRoleBinding!, {
      metadata: { name: 'weaker' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'weaker-upstream' },
      subjects: [{ kind: 'User', name: 'weaker', apiGroup: 'rbac.authorization.k8s.io' }],
    });
    await c.create(TYPES.ClusterRoleBinding!, {
      metadata: { name: 'weaker-home' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'datum-provider-home' },
      subjects: [{ kind: 'User', name: 'weaker', apiGroup: 'rbac.authorization.k8s.io' }],
    });
    const p = runProvider(cp.userKubeconfig('weaker').path);
    try {
      await createInstance(c, {
        name: 'web-1',
        namespace: 'project',
        location: { name: 'dfw', namespace: 'project' },
      });
      await eventually(
        async () =>
          /instances\/status.*forbidden|forbidden.*instances\/status|cannot patch resource \\"instances\/status\\"|cannot patch resource "instances\/status"/i.test(
            p.stderr(),
          ),
        `the status write is refused and logged (log: ${p.stderr().slice(-800)})`,
        60_000,
      );
      await new Promise((r) => setTimeout(r, 3000));
      assert.notEqual(condOf(await c.get(INSTANCE, 'web-1', 'project'), 'Programmed')?.status, 'True');
    } finally {
      p.child.kill('SIGTERM');
    }
  });

  it('renders the kustomize base, and the API server accepts every object (server-side dry run)', {
    skip: !hasKubectl() && 'kubectl is not installed',
  }, async () => {
    const rendered = execFileSync('kubectl', [
      'kustomize',
      fileURLToPath(new URL('../../deploy/kustomize/base', import.meta.url)),
    ]).toString();
    const objs = parseAllDocuments(rendered).map((d) => d.toJS() as KubeObject);
    const types: Record<string, ResourceType> = {
      ...TYPES,
      Namespace: { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false },
      ConfigMap: { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true },
      Service: { group: '', version: 'v1', kind: 'Service', plural: 'services', namespaced: true },
      Deployment: {
        group: 'apps',
        version: 'v1',
        kind: 'Deployment',
        plural: 'deployments',
        namespaced: true,
      },
      CustomResourceDefinition: {
        group: 'apiextensions.k8s.io',
        version: 'v1',
        kind: 'CustomResourceDefinition',
        plural: 'customresourcedefinitions',
        namespaced: false,
      },
    };
    assert.ok(objs.length >= 13, `rendered ${objs.length} objects`);
    for (const o of objs) {
      const r = types[o.kind!];
      assert.ok(r, `no type for ${o.kind}`);
      await cp
        .client()
        .patch(
          r,
          o.metadata.name!,
          o.metadata.namespace,
          { type: 'apply', patch: o, fieldManager: 'dry-run-check', force: true },
          { dryRun: true },
        );
    }
  });
});
