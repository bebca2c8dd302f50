/**
 * The Helm chart and the kustomize base deploy the same provider: rendered by the real helm and kustomize,
 * compared object by object, linted, and accepted by a real API server (server-side dry run). The chart's
 * optional objects (credentials, ProviderConfig, PrometheusRule, dashboard) render from the same files.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { CHART_COPIES } from '../../scripts/sync-chart.ts';
import { manifests } from '../../src/cli/manifests.ts';
import { NAMESPACE } from '../../src/datum/api/resources.ts';
import type { KubeObject } from '../../src/runtime/client/types.ts';
import { OUR_CRDS } from '../../src/testkit/contract/suite.ts';
import { ControlPlane } from '../../src/testkit/index.ts';
import { CHART, DEPLOY, dryRunApply, helm, renderChart, renderKustomize } from './manifests.ts';

const key = (o: KubeObject) =>
  `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name?.replace(/^(datum-provider-settings)-[a-z0-9]{10}$/, '$1')}`;
const byKey = (objs: KubeObject[]) => new Map(objs.map((o) => [key(o), o]));
const settingsOf = (objs: KubeObject[]) =>
  parse(
    (objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name?.startsWith('datum-provider-settings')) as
      | { data: Record<string, string> }
      | undefined)!.data['settings.yaml']!,
  );

describe('deployment manifests: Helm chart and kustomize base', () => {
  let cp: ControlPlane;
  let chart: KubeObject[];
  let base: KubeObject[];

  before(async () => {
    cp = await ControlPlane.start({ crdDirs: [OUR_CRDS] });
    [chart, base] = await Promise.all([renderChart(), renderKustomize()]);
  });
  after(async () => {
    await cp?.stop();
  });

  it('the chart holds exact copies of the CRDs, RBAC and observability files (scripts/sync-chart.ts)', () => {
    for (const [from, to] of CHART_COPIES)
      assert.equal(
        readFileSync(join(DEPLOY, to), 'utf8'),
        readFileSync(join(DEPLOY, from), 'utf8'),
        `deploy/${to} differs from deploy/${from}: run node scripts/sync-chart.ts`,
      );
    const crds = readdirSync(join(DEPLOY, 'crds')).filter((f) => f !== 'kustomization.yaml');
    assert.deepEqual(readdirSync(join(CHART, 'crds')).sort(), crds.sort(), 'every CRD is in the chart');
  });

  it('helm lint passes, with defaults and with every option on', async () => {
    const out = await helm(['lint', CHART, '--strict']);
    assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    await helm([
      'lint',
      CHART,
      '--strict',
      '--set',
      'credentials.create=true,credentials.data.token=x,providerConfig.create=true,metrics.serviceMonitor.enabled=true,metrics.prometheusRule.enabled=true,metrics.grafanaDashboard.enabled=true',
    ]);
  });

  it('renders the same objects as the kustomize base (the chart leaves the namespace to --create-namespace)', () => {
    const c = byKey(chart);
    const k = byKey(base);
    const baseKeys = [...k.keys()].filter((x) => !x.startsWith('Namespace/')).sort();
    assert.deepEqual([...c.keys()].sort(), baseKeys);
    // RBAC rules, subjects and role refs are the very same (the chart reads deploy/rbac itself).
    for (const [name, o] of k) {
      if (!/^(Cluster)?Role(Binding)?\//.test(name)) continue;
      const h = c.get(name)!;
      assert.deepEqual(h.rules ?? h.subjects, o.rules ?? o.subjects, name);
      assert.deepEqual(h.roleRef, o.roleRef, name);
    }
    // The CRD is the same file.
    const crd = (objs: KubeObject[]) => objs.find((o) => o.kind === 'CustomResourceDefinition');
    assert.deepEqual(crd(chart)?.spec, crd(base)?.spec);
    // The Deployment runs the same container the same way (the chart adds a settings checksum and env).
    const container = (objs: KubeObject[]) => {
      const d = objs.find((o) => o.kind === 'Deployment') as KubeObject & {
        spec: {
          replicas: number;
          template: { spec: Record<string, unknown> & { containers: Record<string, unknown>[] } };
        };
      };
      const { env: _env, imagePullPolicy: _pull, ...rest } = d.spec.template.spec.containers[0]!;
      const { containers: _c, ...pod } = d.spec.template.spec;
      // kustomize's generated ConfigMap name carries a content hash; the chart rolls pods by an annotation.
      const unhashed = JSON.stringify({ replicas: d.spec.replicas, pod, container: rest }).replace(
        /datum-provider-settings-[a-z0-9]{10}/g,
        'datum-provider-settings',
      );
      return JSON.parse(unhashed);
    };
    assert.deepEqual(container(chart), container(base));
    // The settings file says the same.
    assert.deepEqual(settingsOf(chart), settingsOf(base));
  });

  it('`manifests` prints exactly the CRDs and RBAC the kustomize base deploys', () => {
    const printed = parseAllDocuments(manifests({ crds: true, rbac: true }))
      .map((d) => d.toJS() as KubeObject)
      .map((o) => `${o.kind}/${o.metadata.name}`);
    const deployed = base
      .filter((o) => /Role|ServiceAccount|CustomResourceDefinition/.test(o.kind!))
      .map((o) => `${o.kind}/${o.metadata.name}`);
    assert.deepEqual(printed.sort(), deployed.sort());
  });

  it('the API server accepts every rendered object of both (server-side dry run)', async () => {
    const c = cp.client();
    await c.create(NAMESPACE, { metadata: { name: 'datum-provider-system' } }).catch(() => {});
    await dryRunApply(
      c,
      base.filter((o) => o.kind !== 'Namespace'),
    );
    await dryRunApply(c, chart);
  });

  it('values change what they should: namespace, lease name, replicas, image, settings', async () => {
    const objs = await renderChart(
      {
        replicas: 3,
        image: { repository: 'registry.example/provider', tag: 'v1.2.3' },
        leaderElection: { name: 'edge-leader' },
        settings: { backend: 'kubernetes', locationClassName: 'edge' },
      },
      'edge-system',
    );
    const dep = objs.find((o) => o.kind === 'Deployment') as KubeObject & {
      spec: { replicas: number; template: { spec: { containers: { image: string }[] } } };
    };
    assert.equal(dep.spec.replicas, 3);
    assert.equal(dep.spec.template.spec.containers[0]!.image, 'registry.example/provider:v1.2.3');
    const s = settingsOf(objs);
    assert.equal(s.backend, 'kubernetes');
    assert.equal(s.locationClassName, 'edge');
    assert.deepEqual(
      { namespace: s.leaderElection.namespace, name: s.leaderElection.name },
      { namespace: 'edge-system', name: 'edge-leader' },
    );
    const lease = objs.find(
      (o) => o.kind === 'Role' && o.metadata.name === 'datum-provider-leader-election',
    ) as (KubeObject & { rules: { resourceNames?: string[] }[] }) | undefined;
    assert.deepEqual(lease?.rules.find((r) => r.resourceNames)?.resourceNames, ['edge-leader']);
    for (const o of objs)
      if (o.metadata.namespace !== undefined) assert.equal(o.metadata.namespace, 'edge-system', key(o));
    const sa = objs.find((o) => o.kind === 'ClusterRoleBinding') as KubeObject & {
      subjects: { namespace: string }[];
    };
    assert.equal(sa.subjects[0]!.namespace, 'edge-system');
  });

  it('optional objects: credentials, ProviderConfig, PrometheusRule and dashboard from deploy/observability', async () => {
    const objs = await renderChart({
      credentials: { create: true, data: { accessKeyId: 'AKID', secretAccessKey: 'shh' } },
      providerConfig: { create: true, region: 'us-east-2' },
      metrics: {
        serviceMonitor: { enabled: true },
        prometheusRule: { enabled: true },
        grafanaDashboard: { enabled: true },
      },
    });
    const rule = objs.find((o) => o.kind === 'PrometheusRule') as KubeObject & { spec: unknown };
    assert.deepEqual(rule.spec, parse(readFileSync(join(DEPLOY, 'observability/alerts.yaml'), 'utf8')));
    const dash = objs.find((o) => o.metadata.name === 'datum-provider-dashboard') as KubeObject & {
      data: Record<string, string>;
    };
    assert.deepEqual(
      JSON.parse(dash.data['datum-provider.json']!),
      JSON.parse(readFileSync(join(DEPLOY, 'observability/grafana-dashboard.json'), 'utf8')),
    );
    assert.ok(objs.some((o) => o.kind === 'ServiceMonitor'));
    const pc = objs.find((o) => o.kind === 'ProviderConfig') as KubeObject & {
      spec: { region: string; credentials: { secretRef: { name: string } } };
    };
    assert.equal(pc.spec.region, 'us-east-2');
    // The API server accepts what it knows (the monitoring CRDs are not installed here).
    await dryRunApply(
      cp.client(),
      objs.filter((o) => ['Secret', 'ProviderConfig', 'ConfigMap'].includes(o.kind!)),
    );
    await assert.rejects(
      renderChart({ credentials: { create: true, data: null } }),
      /credentials.data is required/,
      'a missing required value is a clear error',
    );
  });
});
