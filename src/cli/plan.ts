/**
 * `datum-provider plan`: prints what the provider would do on the platform, per Instance, without doing it.
 * Single mode plans the one project cluster (`single`); Milo mode plans every project discovery would engage
 * (Ready, matching the label selector), or the one named with `--project`, each with its own ProviderConfig.
 */
import { createBackend } from '../backends/registry.ts';
import {
  formatPlan,
  type PlanLine,
  type PlanOptions,
  planExitCode,
  planInstances,
  planJson,
} from '../datum/plan.ts';
import { type ProviderSettings, SettingsError } from '../datum/settings.ts';
import { createClient } from '../runtime/client/client.ts';
import { loadKubeconfig, resolveClusterConfig } from '../runtime/client/config.ts';
import type { KubeObject } from '../runtime/client/types.ts';
import { createLogger } from '../runtime/log/logger.ts';
import { miloProjectConfig, PROJECT, projectReady } from '../runtime/multicluster/providers.ts';

export interface PlanCommandOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  name?: string;
  /** Milo mode: plan only this project. */
  project?: string;
  output?: string;
  /** Exit 2 when any change is planned (Terraform's -detailed-exitcode). */
  exitCode?: boolean;
}

const UA = { userAgent: 'datum-provider/plan' };

export async function planCommand(settings: ProviderSettings, opts: PlanCommandOptions): Promise<number> {
  const output = opts.output ?? 'table';
  if (output !== 'table' && output !== 'json')
    throw new SettingsError(`--output must be table or json, not '${output}'`);
  const milo = settings.discovery.mode === 'milo';
  if (opts.project && !milo) throw new SettingsError('--project needs discovery.mode milo in the settings');
  // The project cluster (single mode), also the home cluster unless the settings name one.
  const project = () =>
    resolveClusterConfig(settings.discovery.projectKubeconfig ?? opts.kubeconfig, opts.context);
  const home = createClient(
    settings.homeKubeconfig ? loadKubeconfig(settings.homeKubeconfig) : project(),
    UA,
  );
  // Only warnings and errors: stdout is the plan.
  const log = createLogger({ level: 'warn', fields: { logger: 'datum-provider-plan' } });
  const backend = await createBackend(settings, { home });
  try {
    const base = { home, settings, backend, log, namespace: opts.namespace, name: opts.name };
    let lines: PlanLine[];
    if (!milo) lines = await planInstances({ ...base, client: createClient(project(), UA) });
    else {
      const projects = await discoverProjects(settings, opts.project);
      if (projects === undefined) {
        process.stderr.write(
          `error: project ${opts.project} is not one discovery engages (it must exist, be Ready and match discovery.labelSelector)\n`,
        );
        return 1;
      }
      lines = [];
      for (const project of projects) lines.push(...(await planProject(project, base, settings)));
    }
    process.stdout.write(output === 'json' ? planJson(lines) : formatPlan(lines, { projects: milo }));
    return planExitCode(lines, !!opts.exitCode);
  } finally {
    await backend.close?.();
  }
}

/** The Projects discovery would engage now (MiloDiscovery's rule), or only `only`: undefined if it is not one. */
async function discoverProjects(
  settings: ProviderSettings,
  only: string | undefined,
): Promise<KubeObject[] | undefined> {
  const discovery = createClient(loadKubeconfig(settings.discovery.discoveryKubeconfig), UA);
  try {
    const all = await discovery.list(PROJECT, { labelSelector: settings.discovery.labelSelector });
    const ready = all.items.filter(projectReady);
    if (!only) return ready;
    const one = ready.filter((p) => p.metadata.name === only);
    return one.length ? one : undefined;
  } finally {
    await discovery.close();
  }
}

/** One project's plan through its control plane; a project that cannot be read is one error line. */
async function planProject(
  project: KubeObject,
  base: Omit<PlanOptions, 'client'>,
  settings: ProviderSettings,
): Promise<PlanLine[]> {
  const name = project.metadata.name!;
  const discovery = loadKubeconfig(settings.discovery.discoveryKubeconfig);
  const client = createClient(miloProjectConfig(project, discovery), UA);
  try {
    return await planInstances({ ...base, client, cluster: name, projectLabels: project.metadata.labels });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return [{ kind: 'Project', cluster: name, namespace: '', name, action: 'error', details: [message] }];
  } finally {
    await client.close();
  }
}
