/**
 * The RBAC in deploy/rbac is exactly enough: a provider bound to those rules only (leader election on),
 * against an API server with the RBAC authorizer, programs and deletes an Instance that reads a Secret and
 * a ConfigMap, and the API server's audit log shows not one forbidden answer to it (also those the provider
 * only logs at debug level or swallows, such as Event writes) and no granted verb it never used. With one
 * rule taken away, the audit log shows the refusal. Secrets are never readable cluster-wide.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { CONFIGMAP, INSTANCE, NETWORK_CONTEXT, SECRET, SUBNET } from '../../src/datum/api/resources.ts';
import { PROVIDER_CONFIG } from '../../src/datum/providerconfig.ts';
import { createClient } from '../../src/runtime/client/client.ts';
import { ForbiddenError } from '../../src/runtime/client/errors.ts';
import type { KubeObject } from '../../src/runtime/client/types.ts';
import { LEASE } from '../../src/runtime/leaderelection/leaderelection.ts';
import {
  createInstance,
  createLocation,
  createNetwork,
  createNetworking,
  ensureNamespace,
  instanceObject,
} from '../../src/testkit/contract/fixtures.ts';
import { condOf, eventually, OUR_CRDS } from '../../src/testkit/contract/suite.ts';
import { ControlPlane, DATUM_CRDS } from '../../src/testkit/index.ts';
import { DEPLOY_TYPES } from './manifests.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const RBAC_DIR = new URL('../../deploy/rbac/', import.meta.url);
const SA_USER = 'system:serviceaccount:datum-provider-system:datum-provider';

function rbacObjects(files = ['upstream.yaml', 'home.yaml', 'bindings.yaml']): KubeObject[] {
  return files.flatMap((f) =>
    parseAllDocuments(readFileSync(new URL(f, RBAC_DIR), 'utf8')).map((d) => d.toJS() as KubeObject),
  );
}

/** Every request the API server answered, from its audit log (Metadata level: no bodies, no secrets). */
interface AuditEvent {
  stage: string;
  verb: string;
  requestURI: string;
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
const AUDIT_POLICY =
  'apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n  - level: Metadata\n';

function auditEvents(path: string, user: string): AuditEvent[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditEvent)
    .filter((e) => e.user.username === user && e.stage === 'ResponseComplete');
}
const describeEvent = (e: AuditEvent) =>
  `${e.verb} ${e.objectRef?.apiGroup || 'core'}/${e.objectRef?.resource}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''} ${e.objectRef?.namespace ?? '(cluster)'}/${e.objectRef?.name ?? ''} -> ${e.responseStatus?.code}`;

const used = (e: AuditEvent) =>
  `${e.objectRef?.apiGroup || 'core'}/${e.objectRef?.resource}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''} ${e.verb}`;

/** The per-namespace binding of Instance data, as an operator applies it in the namespace 'project'. */
const projectBinding = (): KubeObject[] =>
  rbacObjects(['project-namespace.yaml']).map((o) => ({
    ...o,
    metadata: { ...o.metadata, namespace: 'project' },
  }));

/** Every `group/resource[/sub] verb` the bindings grant, with where: a namespace, or '*' (cluster-wide). */
function grants(): { scope: string; key: string }[] {
  const objs = [...rbacObjects(), ...projectBinding()];
  const role = (kind: string, ns: string, name: string) =>
    objs.find(
      (o) =>
        o.kind === kind &&
        o.metadata.name === name &&
        (kind === 'ClusterRole' || o.metadata.namespace === ns),
    );
  const out: { scope: string; key: string }[] = [];
  for (const b of objs.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding')) {
    const scope = b.kind === 'ClusterRoleBinding' ? '*' : b.metadata.namespace!;
    const r = role(b.roleRef.kind, b.metadata.namespace ?? '', b.roleRef.name);
    assert.ok(r, `${b.kind} ${b.metadata.name} names an existing role`);
    for (const rule of r.rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[])
      for (const g of rule.apiGroups)
        for (const res of rule.resources)
          for (const v of rule.verbs) out.push({ scope, key: `${g || 'core'}/${res} ${v}` });
  }
  return out;
}

function runProvider(
  kubeconfig: string,
  leaderElect = !process.env.NO_LE,
): { child: ChildProcess; stderr: () => string } {
  const child = spawn(
    process.execPath,
    [
      MAIN,
      'run',
      '--kubeconfig',
      kubeconfig,
      '--location-class',
      'datum-provider-ts',
      ...(leaderElect ? ['--leader-elect'] : []),
    ],
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

describe('deploy/rbac', () => {
  let cp: ControlPlane;
  const dir = mkdtempSync(join(tmpdir(), 'rbac-audit-'));
  const auditLog = join(dir, 'audit.log');
  before(async () => {
    writeFileSync(join(dir, 'policy.yaml'), AUDIT_POLICY);
    cp = await ControlPlane.start({
      rbac: true,
      crdDirs: [DATUM_CRDS.compute, DATUM_CRDS.networkClassic, OUR_CRDS],
      extraApiServerArgs: [`--audit-policy-file=${join(dir, 'policy.yaml')}`, `--audit-log-path=${auditLog}`],
    });
    const c = cp.client();
    for (const ns of ['datum-provider-system', 'project', 'other']) await ensureNamespace(c, ns);
    for (const o of rbacObjects()) await c.create(DEPLOY_TYPES[o.kind!]!, o);
    // Instance data is readable in the project namespace only, through the per-namespace binding.
    for (const o of projectBinding()) await c.create(DEPLOY_TYPES[o.kind!]!, o);
    await c.create(SECRET, {
      metadata: { name: 'platform-credentials', namespace: 'datum-provider-system' },
      stringData: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'rbac-test-credential' },
    });
    await c.create(PROVIDER_CONFIG, {
      metadata: { name: 'default' },
      spec: {
        credentials: {
          source: 'Secret',
          secretRef: { namespace: 'datum-provider-system', name: 'platform-credentials' },
        },
      },
    });
    await createLocation(c, 'project', 'dfw', 'datum-provider-ts');
    await createNetwork(c, 'project');
  });
  after(async () => {
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lets the provider program and delete an Instance with its data, leader election on, with no forbidden answer and no unused grant', async () => {
    const user = cp.userKubeconfig(SA_USER, ['system:serviceaccounts', 'system:authenticated']);
    const p = runProvider(user.path);
    try {
      const c = cp.client();
      await c.create(SECRET, {
        metadata: { name: 'app-secret', namespace: 'project' },
        stringData: { token: 'rbac-test-token-value' },
      });
      await c.create(CONFIGMAP, {
        metadata: { name: 'app-config', namespace: 'project' },
        data: { mode: 'fast' },
      });
      await createNetworking(c, 'project', 'default', { name: 'dfw', namespace: 'project' });
      const inst = instanceObject({
        name: 'web-0',
        namespace: 'project',
        location: { name: 'dfw', namespace: 'project' },
      });
      inst.spec!.runtime.sandbox!.containers[0]!.env = [
        { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'app-secret', key: 'token' } } },
      ];
      inst.spec!.runtime.sandbox!.containers[0]!.volumeAttachments = [{ name: 'cfg', mountPath: '/etc/app' }];
      inst.spec!.volumes = [{ name: 'cfg', configMap: { name: 'app-config' } }];
      await c.create(INSTANCE, inst);
      for (const [r, name] of [
        [NETWORK_CONTEXT, 'default-project-dfw'],
        [SUBNET, 'default-project-dfw-0'],
        [INSTANCE, 'web-0'],
      ] as const) {
        await eventually(
          async () => condOf(await c.get(r, name, 'project'), 'Programmed')?.status === 'True',
          `${r.kind} ${name} Programmed`,
          60_000,
        ).catch((err) => {
          // Evaluated at failure time, so it shows what happened meanwhile.
          const forbidden = auditEvents(auditLog, SA_USER).filter((e) => e.responseStatus?.code === 403);
          throw new Error(
            `${err.message}; forbidden: ${forbidden.map(describeEvent).join('; ')}; provider log: ${p.stderr().slice(-3000)}`,
          );
        });
      }
      assert.equal(
        condOf(await c.get(PROVIDER_CONFIG, 'default'), 'Ready')?.status,
        'True',
        'ProviderConfig status written',
      );
      const lease = await c.get(LEASE, 'datum-provider-ts-leader', 'datum-provider-system');
      assert.ok(lease.spec?.holderIdentity, 'the provider holds the leader-election Lease');
      await c.delete(INSTANCE, 'web-0', 'project');
      await eventually(
        async () => !(await c.get(INSTANCE, 'web-0', 'project').catch(() => undefined)),
        'Instance deleted (finalizer removed)',
        60_000,
      );
    } finally {
      p.child.kill('SIGTERM');
      await new Promise((r) => p.child.once('exit', r));
    }
    // The API server's word, not the provider's log: Event writes that fail are logged at debug only.
    const events = auditEvents(auditLog, SA_USER);
    assert.ok(events.length > 20, `the audit log saw the provider (${events.length} requests)`);
    assert.deepEqual(
      events.filter((e) => e.responseStatus?.code === 403).map(describeEvent),
      [],
      'no request of the provider was forbidden',
    );
    // Authorized requests (a 404 on the first Lease read still needs `get`).
    const ok = events.filter((e) => ![401, 403].includes(e.responseStatus?.code ?? 0));
    // Granted but not necessarily exercised by this flow, each for a reason: a repeated Event bumps its count
    // (patch).
    const optional = new Set(['core/events patch']);
    const unused = grants().filter(
      (g) =>
        !optional.has(g.key) &&
        !ok.some((e) => used(e) === g.key && (g.scope === '*' || e.objectRef?.namespace === g.scope)),
    );
    assert.deepEqual(
      unused,
      [],
      `every granted verb is used where granted (used: ${[...new Set(ok.map(used))].sort().join(', ')})`,
    );
  });

  it('never lets the provider read Secrets cluster-wide', async () => {
    const c = cp.client();
    await c.create(SECRET, { metadata: { name: 'elsewhere', namespace: 'other' }, stringData: { k: 'v' } });
    const sa = createClient(cp.userKubeconfig(SA_USER, ['system:serviceaccounts']).connection, {
      maxAttempts: 1,
    });
    try {
      for (const [ns, name] of [
        ['other', 'elsewhere'],
        ['kube-system', 'anything'],
      ] as const)
        await assert.rejects(
          sa.get(SECRET, name, ns),
          ForbiddenError,
          `get secret ${ns}/${name} is forbidden`,
        );
      await assert.rejects(
        sa.list(SECRET, { namespace: 'datum-provider-system' }),
        ForbiddenError,
        'no list',
      );
    } finally {
      await sa.close();
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
    await c.create(DEPLOY_TYPES.ClusterRole!, weaker);
    await c.create(DEPLOY_TYPES.ClusterRoleBinding!, {
      metadata: { name: 'weaker' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'weaker-upstream' },
      subjects: [{ kind: 'User', name: 'weaker', apiGroup: 'rbac.authorization.k8s.io' }],
    });
    await c.create(DEPLOY_TYPES.ClusterRoleBinding!, {
      metadata: { name: 'weaker-home' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'datum-provider-home' },
      subjects: [{ kind: 'User', name: 'weaker', apiGroup: 'rbac.authorization.k8s.io' }],
    });
    const p = runProvider(cp.userKubeconfig('weaker').path, false);
    try {
      await createInstance(c, {
        name: 'web-1',
        namespace: 'project',
        location: { name: 'dfw', namespace: 'project' },
      });
      await eventually(
        async () =>
          auditEvents(auditLog, 'weaker').some(
            (e) =>
              e.responseStatus?.code === 403 &&
              e.objectRef?.resource === 'instances' &&
              e.objectRef.subresource === 'status',
          ),
        `the API server refuses the status write (log: ${p.stderr().slice(-800)})`,
        60_000,
      );
      await new Promise((r) => setTimeout(r, 3000));
      assert.notEqual(condOf(await c.get(INSTANCE, 'web-1', 'project'), 'Programmed')?.status, 'True');
    } finally {
      p.child.kill('SIGTERM');
    }
  });
});
