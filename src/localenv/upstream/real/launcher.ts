/**
 * Runs Datum's own operators (compute v0.6.0, network-services-operator v0.6.1) as plain processes against a
 * control plane, in their `single` discovery mode, without webhooks or cert-manager
 * (../shared/docs/upstream-operators.md). Binaries come from the test kit (TEST_ASSET_COMPUTE/NSO,
 * KUBEBUILDER_ASSETS, the cache, or a Go build).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeObject } from '../../../runtime/client/types.ts';
import { resolveBinary } from '../../binaries.ts';
import { freePort } from '../../controlplane.ts';
import { logTail, ProcessGroup, sleep } from '../../process.ts';

/** Gateway API kinds NSO v0.6.1 watches; stubs are enough when no Gateway objects are created. */
export function gatewayStubCRDs(): KubeObject[] {
  const crd = (kind: string, plural: string, scope: 'Cluster' | 'Namespaced'): KubeObject => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    // k8s.io groups need this annotation; these stubs are not the real Gateway API schema.
    metadata: {
      name: `${plural}.gateway.networking.k8s.io`,
      annotations: { 'api-approved.kubernetes.io': 'unapproved, schema-less stub for tests' },
    },
    spec: {
      group: 'gateway.networking.k8s.io',
      scope,
      names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        },
      ],
    },
  });
  return [
    crd('GatewayClass', 'gatewayclasses', 'Cluster'),
    crd('Gateway', 'gateways', 'Namespaced'),
    crd('HTTPRoute', 'httproutes', 'Namespaced'),
  ];
}

export interface RealUpstream {
  stop(): Promise<void>;
  logs: { compute: string; nso: string };
}

export async function startRealUpstream(o: {
  kubeconfigPath: string;
  workDir: string;
  readyTimeoutMs?: number;
  /** Progress lines (a first run builds both operators with Go: minutes). */
  log?: (line: string) => void;
}): Promise<RealUpstream> {
  const compute = await resolveBinary('compute', { log: o.log });
  const nso = await resolveBinary('nso', { log: o.log });
  const dir = join(o.workDir, 'upstream');
  const certDir = join(dir, 'nso-certs');
  mkdirSync(certDir, { recursive: true });
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'tls.key',
      '-out',
      'tls.crt',
      '-days',
      '365',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { cwd: certDir, stdio: 'ignore' },
  );
  const port = await freePort();
  writeFileSync(
    join(dir, 'compute.yaml'),
    'apiVersion: apiserver.config.datumapis.com/v1alpha1\nkind: WorkloadOperator\nmetricsServer: {bindAddress: "0"}\ndiscovery: {mode: single}\n',
  );
  writeFileSync(
    join(dir, 'nso.yaml'),
    `apiVersion: apiserver.config.datumapis.com/v1alpha1\nkind: NetworkServicesOperator\nmetricsServer: {bindAddress: "0"}\nwebhookServer: {host: 127.0.0.1, port: ${port}, tls: {certDir: ${certDir}}}\ndiscovery: {mode: single}\n`,
  );
  const procs = new ProcessGroup();
  const args = (cfg: string) => [
    `--kubeconfig=${o.kubeconfigPath}`,
    `--server-config=${join(dir, cfg)}`,
    '--health-probe-bind-address=0',
    '--zap-log-level=info',
  ];
  const c = procs.start('compute', compute, args('compute.yaml'), dir);
  const n = procs.start('nso', nso, args('nso.yaml'), dir);
  const deadline = Date.now() + (o.readyTimeoutMs ?? 120_000);
  for (const p of [c, n]) {
    while (!readFileSafe(p.logPath).includes('Starting workers')) {
      if (p.child.exitCode !== null)
        throw new Error(`${p.name} exited (${p.child.exitCode}):\n${logTail(p.logPath)}`);
      if (Date.now() > deadline)
        throw new Error(`${p.name} did not start workers in time:\n${logTail(p.logPath)}`);
      await sleep(250);
    }
  }
  return { stop: () => procs.stopAll([dir]), logs: { compute: c.logPath, nso: n.logPath } };
}

function readFileSafe(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}
