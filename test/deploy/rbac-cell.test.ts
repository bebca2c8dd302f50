/**
 * deploy/rbac/cell.yaml (with home.yaml and the per-namespace binding) is exactly enough for the cell
 * generation: a provider bound to those rules only (leader election on), against an API server with the RBAC
 * authorizer and the cell CRDs, accepts its RuntimeClass, programs and deletes an Instance that reads a
 * companion Secret and ConfigMap, and the audit log shows no forbidden answer and no granted verb unused.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_CAPABILITIES } from '../../src/backends/inmemory/backend.ts';
import { INSTANCE, RUNTIME_CLASS, SECRET } from '../../src/datum/api/resources.ts';
import { runtimeClassFor } from '../../src/datum/cell-runtimeclass.ts';
import { PROVIDER_CONFIG } from '../../src/datum/providerconfig.ts';
import { defaultCellSettings } from '../../src/datum/settings.ts';
import type { KubeObject } from '../../src/runtime/client/types.ts';
import {
  CELL_INSTANCE_TYPE,
  createCellInstance,
  createCompanion,
  createInstanceType,
} from '../../src/testkit/contract/cell-fixtures.ts';
import { ensureNamespace } from '../../src/testkit/contract/fixtures.ts';
import { condOf, eventually, OUR_CRDS } from '../../src/testkit/contract/suite.ts';
import { ControlPlane, DATUM_CRDS } from '../../src/testkit/index.ts';
import { DEPLOY_TYPES } from './manifests.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const RBAC_DIR = new URL('../../deploy/rbac/', import.meta.url);
const SA_USER = 'system:serviceaccount:datum-provider-system:datum-provider';
const NS = 'ns-0d9c8b7a-6f5e-4d3c-8b2a-1f0e9d8c7b6a';

function objects(): KubeObject[] {
  const read = (f: string) =>
    parseAllDocuments(readFileSync(new URL(f, RBAC_DIR), 'utf8')).map((d) => d.toJS() as KubeObject);
  // home.yaml's roles (not its bindings: cell.yaml has them), cell.yaml, and the binding in the project namespace.
  return [
    ...read('home.yaml'),
    ...read('cell.yaml'),
    ...read('project-namespace.yaml').map((o) => ({ ...o, metadata: { ...o.metadata, namespace: NS } })),
  ];
}

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
const key = (e: AuditEvent) =>
  `${e.objectRef?.apiGroup || 'core'}/${e.objectRef?.resource}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''} ${e.verb}`;

function grants(objs: KubeObject[]): { scope: string; key: string }[] {
  const out: { scope: string; key: string }[] = [];
  for (const b of objs.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding')) {
    const scope = b.kind === 'ClusterRoleBinding' ? '*' : b.metadata.namespace!;
    const r = objs.find(
      (o) =>
        o.kind === b.roleRef.kind &&
        o.metadata.name === b.roleRef.name &&
        (o.kind === 'ClusterRole' || o.metadata.namespace === b.metadata.namespace),
    );
    assert.ok(r, `${b.kind} ${b.metadata.name} names an existing role`);
    for (const rule of r.rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[])
      for (const g of rule.apiGroups)
        for (const res of rule.resources)
          for (const v of rule.verbs) out.push({ scope, key: `${g || 'core'}/${res} ${v}` });
  }
  return out;
}

describe('deploy/rbac/cell.yaml', () => {
  let cp: ControlPlane;
  const dir = mkdtempSync(join(tmpdir(), 'rbac-cell-audit-'));
  const auditLog = join(dir, 'audit.log');
  const cell = defaultCellSettings();
  before(async () => {
    writeFileSync(
      join(dir, 'policy.yaml'),
      'apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n  - level: Metadata\n',
    );
    cp = await ControlPlane.start({
      rbac: true,
      crdDirs: [...DATUM_CRDS.cell, OUR_CRDS],
      extraApiServerArgs: [`--audit-policy-file=${join(dir, 'policy.yaml')}`, `--audit-log-path=${auditLog}`],
    });
    const c = cp.client();
    for (const ns of ['datum-provider-system', NS]) await ensureNamespace(c, ns);
    for (const o of objects()) await c.create(DEPLOY_TYPES[o.kind!]!, o);
    await c.create(SECRET, {
      metadata: { name: 'platform-credentials', namespace: 'datum-provider-system' },
      stringData: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'rbac-cell-credential' },
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
    await c.create(RUNTIME_CLASS, runtimeClassFor(cell, DEFAULT_CAPABILITIES, 'inmemory'));
    await createInstanceType(c, CELL_INSTANCE_TYPE);
    await createCompanion(c, 'Secret', NS, 'api-token', { token: 'rbac-cell-token' });
    await createCompanion(c, 'ConfigMap', NS, 'app-config', { MODE: 'fast' });
  });
  after(async () => {
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is enough for the cell generation, with no forbidden answer and no unused grant', async () => {
    const user = cp.userKubeconfig(SA_USER, ['system:serviceaccounts', 'system:authenticated']);
    const child = spawn(
      process.execPath,
      [
        MAIN,
        'run',
        '--kubeconfig',
        user.path,
        '--generation',
        'cell',
        '--backend',
        'inmemory',
        '--leader-elect',
      ],
      { env: { ...process.env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let log = '';
    child.stderr!.on('data', (d) => {
      log += d;
    });
    const c = cp.client();
    const forbidden = () =>
      readFileSync(auditLog, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as AuditEvent)
        .filter((e) => e.user.username === SA_USER && e.stage === 'ResponseComplete');
    try {
      await eventually(
        async () => condOf(await c.get(RUNTIME_CLASS, cell.runtimeClass), 'Accepted')?.status === 'True',
        'RuntimeClass Accepted',
        60_000,
      );
      await createCellInstance(c, {
        name: 'web-0',
        namespace: NS,
        runtimeClass: cell.runtimeClass,
        secretEnv: { secret: 'api-token', key: 'token' },
        envFromConfigMap: 'app-config',
      });
      await eventually(
        async () => {
          const i = await c.get(INSTANCE, 'web-0', NS);
          return condOf(i, 'Programmed')?.status === 'True' && condOf(i, 'Available')?.status === 'True';
        },
        'Instance Programmed and Available',
        60_000,
      ).catch((err) => {
        const denied = forbidden()
          .filter((e) => e.responseStatus?.code === 403)
          .map(key);
        throw new Error(`${err.message}; forbidden: ${denied.join('; ')}; log: ${log.slice(-3000)}`);
      });
      await c.delete(INSTANCE, 'web-0', NS);
      await eventually(
        async () => !(await c.get(INSTANCE, 'web-0', NS).catch(() => undefined)),
        'Instance deleted (finalizer removed)',
        60_000,
      );
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    const events = forbidden();
    assert.ok(events.length > 20, `the audit log saw the provider (${events.length} requests)`);
    assert.deepEqual(
      events.filter((e) => e.responseStatus?.code === 403).map(key),
      [],
      'no request of the provider was forbidden',
    );
    const ok = events.filter((e) => ![401, 403].includes(e.responseStatus?.code ?? 0));
    // A repeated Event bumps its count (patch): granted, not necessarily exercised.
    const optional = new Set(['core/events patch']);
    const unused = grants(objects()).filter(
      (g) =>
        !optional.has(g.key) &&
        !ok.some((e) => key(e) === g.key && (g.scope === '*' || e.objectRef?.namespace === g.scope)),
    );
    assert.deepEqual(
      unused,
      [],
      `every granted verb is used (used: ${[...new Set(ok.map(key))].sort().join(', ')})`,
    );
  });
});
