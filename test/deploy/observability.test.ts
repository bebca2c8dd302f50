/**
 * Every metric and label the Grafana dashboard and the alerting rules (deploy/observability/) use is exported:
 * a provider with the in-memory backend realizes an Instance, hits a transient backend error and sweeps an
 * orphan, then its real `/metrics` endpoint is scraped over HTTP and every expression is checked against it.
 * The same run exports OpenTelemetry spans (configured by the standard OTLP variables) to a local OTLP/HTTP
 * receiver: a span per reconcile with the backend calls as its children.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { InMemoryBackend } from '../../src/backends/inmemory/backend.ts';
import { INSTANCE, SECRET } from '../../src/datum/api/resources.ts';
import type { Instance } from '../../src/datum/api/types.ts';
import { type Provider, registerProvider } from '../../src/datum/provider.ts';
import { PROVIDER_CONFIG } from '../../src/datum/providerconfig.ts';
import { defaultSettings } from '../../src/datum/settings.ts';
import { ControlPlane, DATUM_CRDS, freePort } from '../../src/localenv/controlplane.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';
import { Manager } from '../../src/runtime/manager/manager.ts';
import { setupTracingFromEnv, type TracingHandle } from '../../src/runtime/tracing.ts';
import { createInstance, ensureNamespace, seedProject } from '../../src/testkit/contract/fixtures.ts';
import { condOf, eventually, OUR_CRDS } from '../../src/testkit/contract/suite.ts';
import { DEPLOY } from './manifests.ts';

/** Labels Prometheus adds from the scrape target, not the exporter. */
const TARGET_LABELS = new Set(['job', 'pod', 'instance', 'namespace']);
const OUR_PREFIXES =
  /^(controller_runtime_|workqueue_|rest_client_|leader_election_|datum_provider_|process_|nodejs_)/;

/** metric sample name -> label names seen on its samples, from the text exposition format. */
function parseScrape(text: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? /.exec(line);
    if (!m) continue;
    const labels = out.get(m[1]!) ?? new Set<string>();
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) labels.add(l[1]!);
    out.set(m[1]!, labels);
  }
  return out;
}

/** The metric names and the label names a PromQL expression uses (enough PromQL for our files). */
function exprUses(expr: string): { metrics: string[]; labels: string[] } {
  const metrics = [...expr.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=\{|\[|\)|$|\s)/g)]
    .map((m) => m[1]!)
    .filter((n) => OUR_PREFIXES.test(n));
  const labels = new Set<string>();
  for (const sel of expr.matchAll(/\{([^}]*)\}/g))
    for (const l of sel[1]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/g)) labels.add(l[1]!);
  for (const by of expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g))
    for (const l of by[1]!.split(',')) if (l.trim()) labels.add(l.trim());
  return { metrics: [...new Set(metrics)], labels: [...labels].filter((l) => !TARGET_LABELS.has(l)) };
}

function dashboardExprs(): string[] {
  const d = JSON.parse(readFileSync(join(DEPLOY, 'observability/grafana-dashboard.json'), 'utf8')) as {
    panels: { targets: { expr: string }[] }[];
    templating: { list: { query?: string }[] };
  };
  return [
    ...d.panels.flatMap((p) => p.targets.map((t) => t.expr)),
    ...d.templating.list
      .map((v) => /label_values\((\w+)/.exec(v.query ?? '')?.[1])
      .filter((x): x is string => !!x),
  ];
}

function alertRules(): { alert: string; expr: string; annotations: Record<string, string> }[] {
  const f = parse(readFileSync(join(DEPLOY, 'observability/alerts.yaml'), 'utf8')) as {
    groups: { rules: { alert: string; expr: string; annotations: Record<string, string> }[] }[];
  };
  return f.groups.flatMap((g) => g.rules);
}

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: { key: string; value: { stringValue?: string } }[];
}

/** A tiny OTLP/HTTP (JSON) trace receiver on loopback: what the exporter sends, as spans. */
async function startOtlpReceiver(): Promise<{ url: string; spans: OtlpSpan[]; close(): void }> {
  const spans: OtlpSpan[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      if (req.url === '/v1/traces' && /json/.test(req.headers['content-type'] ?? '')) {
        const doc = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
        for (const rs of doc.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, spans, close: () => server.close() };
}

describe('observability: dashboard and alerts against a real scrape, traces to a real receiver', () => {
  let cp: ControlPlane;
  let otlp: Awaited<ReturnType<typeof startOtlpReceiver>>;
  let tracing: TracingHandle | undefined;
  let mgr: Manager;
  let provider: Provider;
  let scrape: Map<string, Set<string>>;
  const backend = new InMemoryBackend({ latencyMs: 2, pendingMs: 200 });
  const NS = 'project-obs';

  before(async () => {
    otlp = await startOtlpReceiver();
    tracing = await setupTracingFromEnv({
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_SERVICE_NAME: 'obs-test',
    });
    cp = await ControlPlane.start({ crdDirs: [DATUM_CRDS.compute, DATUM_CRDS.networkClassic, OUR_CRDS] });
    const c = cp.client();
    await ensureNamespace(c, 'provider-system');
    await c.create(SECRET, {
      metadata: { name: 'creds', namespace: 'provider-system' },
      stringData: { token: 'observability-token' },
    });
    await c.create(PROVIDER_CONFIG, {
      metadata: { name: 'default' },
      spec: { credentials: { source: 'Secret', secretRef: { namespace: 'provider-system', name: 'creds' } } },
    });
    const port = await freePort();
    mgr = new Manager({
      log: createLogger({ level: 'error', sink: () => {} }),
      metricsAddr: `127.0.0.1:${port}`,
      // As deployed: leader election on (its gauge is on the dashboard and in an alert).
      leaderElection: { namespace: 'provider-system', name: 'obs-leader', clientConfig: cp.connection },
    });
    await mgr.engage('project-obs', cp.connection);
    provider = registerProvider(mgr, {
      backend,
      settings: { ...defaultSettings(), sweepIntervalSeconds: 3600 },
      home: c,
    });
    await mgr.start();
    const where = await seedProject(c, NS, {
      name: 'dfw',
      className: defaultSettings().locationClassName,
      city: 'DFW',
    });
    await createInstance(c, { name: 'web-0', namespace: NS, location: where });
    const get = () => c.get<Instance>(INSTANCE, 'web-0', NS);
    await eventually(async () => condOf(await get(), 'Running')?.status === 'True', 'Running');
    // A transient backend failure on the programmed Instance (counted, kept out of its status).
    backend.injectFault({ op: 'ensureInstance', mode: 'error', reason: 'Transient', times: 2 });
    await c.patch(INSTANCE, 'web-0', NS, {
      type: 'merge',
      patch: { metadata: { annotations: { touch: '1' } } },
    });
    await eventually(
      async () =>
        /datum_provider_transient_errors_total\{[^}]*\} [1-9]/.test(await mgr.metrics.registry.metrics()),
      'a transient error counted',
    );
    // An orphan: a backend instance whose owner does not exist; one sweep deletes it.
    backend.plantOrphan({
      cluster: 'project-obs',
      namespace: NS,
      kind: 'Instance',
      name: 'ghost',
      uid: 'gone-uid',
    });
    assert.equal((await provider.sweeper.sweep()).length, 1);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    scrape = parseScrape(text);
  });

  after(async () => {
    await mgr?.stop();
    await cp?.stop();
    otlp?.close();
  });

  const check = (what: string, expr: string) => {
    const { metrics, labels } = exprUses(expr);
    assert.ok(metrics.length > 0, `${what}: no metric found in ${expr}`);
    const seen = new Set<string>();
    for (const m of metrics) {
      assert.ok(scrape.has(m), `${what}: ${m} is not in the scrape`);
      for (const l of scrape.get(m)!) seen.add(l);
    }
    for (const l of labels) assert.ok(seen.has(l), `${what}: label ${l} is on none of ${metrics.join(', ')}`);
  };

  it('every dashboard query uses exported metrics and labels', () => {
    const exprs = dashboardExprs();
    assert.ok(exprs.length >= 14, `${exprs.length} queries`);
    for (const e of exprs) check('dashboard', e);
  });

  it('every alert uses exported metrics and labels, and its annotations only labels its expression keeps', () => {
    const rules = alertRules();
    assert.ok(rules.length >= 6, `${rules.length} rules`);
    for (const r of rules) {
      check(r.alert, r.expr);
      const kept = exprUses(r.expr).labels;
      for (const text of Object.values(r.annotations))
        for (const ref of text.matchAll(/\$labels\.(\w+)/g))
          assert.ok(
            kept.includes(ref[1]!),
            `${r.alert}: annotation uses $labels.${ref[1]} the expression drops`,
          );
    }
  });

  it('tracing is off unless an OTLP endpoint is configured', async () => {
    assert.equal(await setupTracingFromEnv({}), undefined);
  });

  it('exports a span per reconcile, with the backend calls it made as children', async () => {
    assert.ok(tracing, 'tracing configured');
    await tracing.shutdown(); // flushes what is buffered
    const attr = (s: OtlpSpan, k: string) => s.attributes.find((a) => a.key === k)?.value.stringValue;
    const reconciles = otlp.spans.filter((s) => s.name === 'reconcile instance');
    assert.ok(reconciles.some((s) => attr(s, 'name') === 'web-0' && attr(s, 'cluster') === 'project-obs'));
    const ensures = otlp.spans.filter((s) => s.name === 'backend ensureInstance');
    assert.ok(ensures.length > 0, `spans: ${[...new Set(otlp.spans.map((s) => s.name))].join(', ')}`);
    for (const e of ensures) {
      const parent = reconciles.find((r) => r.spanId === e.parentSpanId);
      assert.ok(parent, 'a backend call is the child of the reconcile that made it');
      assert.equal(parent.traceId, e.traceId);
      assert.equal(attr(e, 'backend'), 'inmemory');
    }
    assert.ok(
      ensures.some((e) => attr(e, 'result') === 'Transient'),
      'the injected transient failure is on its span',
    );
  });

  it('the checks can fail: a misspelt metric or an unexported label is caught', () => {
    assert.throws(() => check('probe', 'rate(controller_runtime_reconcile_totl[5m])'), /not in the scrape/);
    assert.throws(() => check('probe', 'sum by (colour) (workqueue_depth)'), /label colour/);
  });
});
