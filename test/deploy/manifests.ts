/**
 * Renders the deployment manifests with the real tools (kustomize, helm; built once like the control-plane
 * binaries) and applies objects with a server-side dry run, so the API server itself judges them.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { resolveBinary } from '../../src/localenv/binaries.ts';
import type { HttpClient } from '../../src/runtime/client/client.ts';
import type { KubeObject, ResourceType } from '../../src/runtime/client/types.ts';

export const DEPLOY = fileURLToPath(new URL('../../deploy/', import.meta.url));
export const CHART = join(DEPLOY, 'helm/datum-provider');

const parse = (text: string) =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => !!o);

export async function renderKustomize(dir = join(DEPLOY, 'kustomize/base')): Promise<KubeObject[]> {
  return parse(execFileSync(await resolveBinary('kustomize'), ['build', dir], { encoding: 'utf8' }));
}

export async function helm(args: string[]): Promise<string> {
  return execFileSync(await resolveBinary('helm'), args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    // Helm keeps caches and config under HOME-relative paths by default: give it a throw-away home.
    env: {
      ...process.env,
      HELM_CACHE_HOME: join(tmpdir(), 'helm-cache'),
      HELM_CONFIG_HOME: join(tmpdir(), 'helm-config'),
    },
  });
}

/** `helm template` of the chart (CRDs included) with extra values. */
export async function renderChart(values: Record<string, unknown> = {}, namespace = 'datum-provider-system') {
  const dir = mkdtempSync(join(tmpdir(), 'chart-values-'));
  try {
    const file = join(dir, 'values.yaml');
    writeFileSync(file, stringify(values));
    return parse(
      await helm([
        'template',
        'datum-provider',
        CHART,
        '--namespace',
        namespace,
        '--include-crds',
        '-f',
        file,
      ]),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const core = (kind: string, plural: string, namespaced: boolean): ResourceType => ({
  group: '',
  version: 'v1',
  kind,
  plural,
  namespaced,
});
const rbac = (kind: string, plural: string, namespaced: boolean): ResourceType => ({
  group: 'rbac.authorization.k8s.io',
  version: 'v1',
  kind,
  plural,
  namespaced,
});

export const DEPLOY_TYPES: Record<string, ResourceType> = {
  Namespace: core('Namespace', 'namespaces', false),
  ConfigMap: core('ConfigMap', 'configmaps', true),
  Secret: core('Secret', 'secrets', true),
  Service: core('Service', 'services', true),
  ServiceAccount: core('ServiceAccount', 'serviceaccounts', true),
  ClusterRole: rbac('ClusterRole', 'clusterroles', false),
  ClusterRoleBinding: rbac('ClusterRoleBinding', 'clusterrolebindings', false),
  Role: rbac('Role', 'roles', true),
  RoleBinding: rbac('RoleBinding', 'rolebindings', true),
  Deployment: { group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', namespaced: true },
  CustomResourceDefinition: {
    group: 'apiextensions.k8s.io',
    version: 'v1',
    kind: 'CustomResourceDefinition',
    plural: 'customresourcedefinitions',
    namespaced: false,
  },
  ProviderConfig: {
    group: 'infra.provider-ts.io',
    version: 'v1alpha1',
    kind: 'ProviderConfig',
    plural: 'providerconfigs',
    namespaced: false,
  },
};

/** Server-side apply with dryRun=All: the API server validates (schema, defaulting, admission), stores nothing. */
export async function dryRunApply(c: HttpClient, objs: KubeObject[]): Promise<void> {
  for (const o of objs) {
    const r = DEPLOY_TYPES[o.kind!];
    if (!r) throw new Error(`no resource type for ${o.kind} (add it to DEPLOY_TYPES)`);
    await c.patch(
      r,
      o.metadata.name!,
      r.namespaced ? o.metadata.namespace : undefined,
      { type: 'apply', patch: o, fieldManager: 'dry-run-check', force: true },
      { dryRun: true },
    );
  }
}
