/** `datum-provider plan`: prints what the provider would do on the platform, per Instance, without doing it. */
import { createBackend } from '../backends/registry.ts';
import { formatPlan, planInstances } from '../datum/plan.ts';
import type { ProviderSettings } from '../datum/settings.ts';
import { createClient } from '../runtime/client/client.ts';
import { loadKubeconfig, resolveClusterConfig } from '../runtime/client/config.ts';
import { createLogger } from '../runtime/log/logger.ts';

export async function planCommand(
  settings: ProviderSettings,
  opts: { kubeconfig?: string; context?: string; namespace?: string; name?: string },
): Promise<number> {
  const projectConfig = resolveClusterConfig(
    settings.discovery.projectKubeconfig ?? opts.kubeconfig,
    opts.context,
  );
  const client = createClient(projectConfig, { userAgent: 'datum-provider/plan' });
  const home = settings.homeKubeconfig
    ? createClient(loadKubeconfig(settings.homeKubeconfig), { userAgent: 'datum-provider/plan' })
    : client;
  // Only warnings and errors: stdout is the plan.
  const log = createLogger({ level: 'warn', fields: { logger: 'datum-provider-plan' } });
  const backend = await createBackend(settings, { home });
  try {
    const lines = await planInstances({
      client,
      home,
      settings,
      backend,
      log,
      namespace: opts.namespace,
      name: opts.name,
    });
    process.stdout.write(formatPlan(lines));
    return lines.some((l) => l.action === 'error') ? 1 : 0;
  } finally {
    await backend.close?.();
  }
}
