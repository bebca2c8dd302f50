/**
 * The embedded local environment behind `make run` with no cluster configured: a control plane whose data
 * lives in a local folder (a restart resumes), Datum's upstream operators (the real ones when they can be
 * built, else our standalone stand-ins, saying so), a backend (the in-memory one, state kept beside the
 * control-plane data), the provider, and the examples. Shows Instances converging; Ctrl-C stops everything.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { INSTANCE } from '../datum/api/resources.ts';
import type { Instance } from '../datum/api/types.ts';
import { registerProvider } from '../datum/provider.ts';
import type { ProviderSettings } from '../datum/settings.ts';
import { createLogger } from '../runtime/log/logger.ts';
import { Manager } from '../runtime/manager/manager.ts';
import { ControlPlane, DATUM_CRDS } from '../testkit/controlplane.ts';
import { registerStandaloneUpstream } from '../upstream/standalone/index.ts';
import { applyAll, readManifests } from './apply.ts';
import { createBackend } from './backends.ts';
import { ProgressView } from './progress.ts';

const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export interface EmbeddedOptions {
  examples: boolean;
  upstream: 'real' | 'standalone' | 'auto';
  dataDir: string;
}

export async function runEmbedded(settings: ProviderSettings, opts: EmbeddedOptions): Promise<number> {
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const resumed = existsSync(join(dataDir, 'etcd'));
  say(`starting the local control plane in ${dataDir}${resumed ? ' (resuming)' : ''} ...`);
  const cp = await ControlPlane.start({
    dataDir,
    crdDirs: [DATUM_CRDS.compute, DATUM_CRDS.networkClassic, join(REPO, 'deploy/crds')],
  });
  const cleanups: (() => Promise<unknown>)[] = [() => cp.stop()];
  const stopAll = async () => {
    for (const f of cleanups.reverse()) await f().catch(() => {});
  };
  try {
    let upstream = opts.upstream === 'standalone' ? 'standalone' : 'real';
    if (upstream === 'real') {
      try {
        const { startRealUpstream, gatewayStubCRDs } = await import('../upstream/real/launcher.ts');
        await cp.installCRDs(gatewayStubCRDs());
        const real = await startRealUpstream({ kubeconfigPath: cp.kubeconfigPath, workDir: dataDir });
        cleanups.push(() => real.stop());
      } catch (err) {
        if (opts.upstream === 'real') throw err;
        say(
          `real Datum operators unavailable (${String((err as Error).message).split('\n')[0]}); using the standalone upstream`,
        );
        upstream = 'standalone';
      }
    }
    settings.backendConfig = { stateFile: join(dataDir, 'inmemory-state.json'), ...settings.backendConfig };
    const backend = await createBackend(settings);
    const logLines: string[] = [];
    const log = createLogger({
      level: (process.env.LOG_LEVEL as 'info') ?? 'warn',
      sink: (l) => (process.env.LOG_LEVEL ? process.stderr.write(`${l}\n`) : logLines.push(l)),
    });
    const mgr = new Manager({
      log,
      probeAddr: settings.healthProbeBindAddress,
      metricsAddr: settings.metricsBindAddress,
      gracefulShutdownMs: 10_000,
    });
    const cluster = await mgr.engage('single', cp.connection);
    if (upstream === 'standalone') registerStandaloneUpstream(mgr);
    registerProvider(mgr, { backend, settings, home: cp.client() });
    const view = new ProgressView(
      cluster.cache.informerFor<Instance>(INSTANCE),
      process.stdout.isTTY === true,
    );
    const stopped = mgr.handleSignals();
    await mgr.start();
    cleanups.push(() => mgr.stop());
    say(`kubeconfig: ${cp.kubeconfigPath}`);
    say(`location-class: ${settings.locationClassName}`);
    say(`upstream: ${upstream}`);
    say(
      `backend: ${backend.name}${backend.name === 'inmemory' ? ' (no EC2 emulator configured: resources live in memory, state in the data folder)' : ''}`,
    );
    say(`Try: KUBECONFIG=${cp.kubeconfigPath} kubectl get instances -A     (Ctrl-C stops everything)`);
    if (opts.examples) {
      await applyAll(cp.client(), readManifests(join(REPO, 'examples')));
      say('applied examples/');
    }
    view.start();
    await stopped;
    view.stop();
    say('stopping ...');
    await stopAll();
    say('stopped');
    return 0;
  } catch (err) {
    await stopAll();
    throw err;
  }
}
