/**
 * Runs the provider against existing clusters: one project cluster (`single`) or every Ready project found
 * through Milo discovery. Exits 0 after a graceful shutdown on SIGTERM/SIGINT.
 */

import { createBackend } from '../backends/registry.ts';
import { registerProvider } from '../datum/provider.ts';
import { Redactor } from '../datum/redact.ts';
import type { ProviderSettings } from '../datum/settings.ts';
import { createClient } from '../runtime/client/client.ts';
import { loadKubeconfig, resolveClusterConfig } from '../runtime/client/config.ts';
import { createLogger, type Logger } from '../runtime/log/logger.ts';
import { Manager } from '../runtime/manager/manager.ts';
import { MiloDiscovery } from '../runtime/multicluster/providers.ts';
import { setupTracingFromEnv } from '../runtime/tracing.ts';
import type { EarlySignals } from './early-signals.ts';

export interface RunningProvider {
  mgr: Manager;
  stopped: Promise<boolean>;
}

export async function startProvider(
  settings: ProviderSettings,
  opts: {
    kubeconfig?: string;
    context?: string;
    log?: Logger;
    handleSignals?: boolean;
    /** Signals noted while modules loaded (src/cli/early-signals.ts): one ends start-up cleanly. */
    early?: EarlySignals;
  } = {},
): Promise<RunningProvider> {
  // One redactor for the root logger's sink and the reconcilers: every line of every logger is redacted.
  const redactor = new Redactor();
  const log = opts.log ?? createLogger({ fields: { logger: 'datum-provider' }, redact: redactor.redactLine });
  const le = settings.leaderElection;
  const mgr = new Manager({
    log,
    metricsAddr: settings.metricsBindAddress,
    probeAddr: settings.healthProbeBindAddress,
    leaderElection: le.enabled
      ? {
          namespace: le.namespace,
          name: le.name,
          leaseDurationMs: le.leaseDurationSeconds * 1000,
          renewDeadlineMs: le.renewDeadlineSeconds * 1000,
          retryPeriodMs: le.retryPeriodSeconds * 1000,
        }
      : undefined,
  });
  const projectConfig = resolveClusterConfig(
    settings.discovery.projectKubeconfig ?? opts.kubeconfig,
    opts.context,
  );
  const homeConfig = settings.homeKubeconfig ? loadKubeconfig(settings.homeKubeconfig) : projectConfig;
  const home = createClient(homeConfig, {
    userAgent: 'datum-provider/home',
    observer: mgr.metrics.requestObserver(),
  });
  if (mgr.opts.leaderElection) mgr.opts.leaderElection.clientConfig = homeConfig;
  if (settings.discovery.mode === 'milo') {
    mgr.add(
      new MiloDiscovery(mgr, {
        discovery: loadKubeconfig(settings.discovery.discoveryKubeconfig),
        labelSelector: settings.discovery.labelSelector,
      }),
    );
  } else {
    await mgr.engage('single', projectConfig);
  }
  const backend = await createBackend(settings, { home });
  const tracing = await setupTracingFromEnv();
  if (tracing) log.info('tracing on: spans go to the OTLP endpoint of the environment');
  registerProvider(mgr, { backend, settings, home, redactor });
  const stopped = opts.handleSignals === false ? new Promise<boolean>(() => {}) : mgr.handleSignals();
  opts.early?.release();
  const signal = opts.early?.received();
  if (signal) {
    log.info('shutting down before start', { signal });
    const ok = await mgr.stop();
    await backend.close?.();
    await tracing?.shutdown();
    return { mgr, stopped: Promise.resolve(ok) };
  }
  await mgr.start();
  log.info('provider started', {
    backend: backend.name,
    locationClass: settings.locationClassName,
    discovery: settings.discovery.mode,
  });
  const closed = stopped.then(async (ok) => {
    await backend.close?.();
    await tracing
      ?.shutdown()
      .catch((err) => log.warn('exporting the last spans failed', { err: String(err) }));
    return ok;
  });
  return { mgr, stopped: closed };
}
