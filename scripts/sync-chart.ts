/**
 * Copies the files the Helm chart shares with the kustomize base (CRDs, RBAC, observability) into the chart.
 * Helm reads only files inside a chart, and npm pack drops symbolic links, so the chart holds copies;
 * test/deploy/chart.test.ts fails when a copy drifts and names this script.
 */
import { copyFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const deploy = fileURLToPath(new URL('../deploy/', import.meta.url));
export const CHART_COPIES: [from: string, to: string][] = [
  ...readdirSync(join(deploy, 'crds'))
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .map((f): [string, string] => [`crds/${f}`, `helm/datum-provider/crds/${f}`]),
  ...['upstream', 'home', 'bindings'].map((f): [string, string] => [
    `rbac/${f}.yaml`,
    `helm/datum-provider/files/rbac/${f}.yaml`,
  ]),
  ...['alerts.yaml', 'grafana-dashboard.json'].map((f): [string, string] => [
    `observability/${f}`,
    `helm/datum-provider/files/observability/${f}`,
  ]),
];

if (import.meta.url === `file://${process.argv[1]}`)
  for (const [from, to] of CHART_COPIES) {
    copyFileSync(join(deploy, from), join(deploy, to));
    process.stdout.write(`deploy/${from} -> deploy/${to}\n`);
  }
