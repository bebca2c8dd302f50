/**
 * The embedded local environment behind `make run` with no cluster configured: a control plane whose data
 * lives in a local folder (a restart resumes), Datum's upstream operators (the real ones when they can be
 * built, else our standalone stand-ins, saying so), a backend (a local platform from `platforms/`, or the
 * in-memory one with its state kept beside the control-plane data), the provider, and the examples. Shows Instances converging; Ctrl-C stops everything.
 */
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backendNames, createBackend, isRegisteredBackend } from '../backends/registry.ts';
import { INSTANCE } from '../datum/api/resources.ts';
import type { Instance } from '../datum/api/types.ts';
import { runtimeClassFor } from '../datum/cell-runtimeclass.ts';
import { registerProvider } from '../datum/provider.ts';
import { Redactor } from '../datum/redact.ts';
import {
  defaultCellSettings,
  generationOf,
  type ProviderSettings,
  SettingsError,
} from '../datum/settings.ts';
import { createLogger } from '../runtime/log/logger.ts';
import { Manager } from '../runtime/manager/manager.ts';
import { applyAll, readManifests } from './apply.ts';
import { ControlPlane, DATUM_CRDS } from './controlplane.ts';
import {
  DEFAULT_LOCAL_PLATFORM,
  LOCAL_PLATFORMS,
  type LocalPlatform,
  ownPlatform,
} from './platforms/index.ts';
import { ProgressView } from './progress.ts';
import { registerCellUpstream } from './upstream/cell/index.ts';
import { registerStandaloneUpstream } from './upstream/standalone/index.ts';

const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** Audit policy rule: every write to an Instance (and its status), with request and stored response. */
const INSTANCE_WRITES = {
  level: 'RequestResponse',
  verbs: ['create', 'update', 'patch', 'delete'],
  resources: [{ group: 'compute.datumapis.com', resources: ['instances', 'instances/status'] }],
};

export interface EmbeddedOptions {
  examples: boolean;
  /**
   * A name from `LOCAL_PLATFORMS` (its emulator is required), `inmemory`, or `auto`: the default platform when
   * its emulator can start, else in-memory.
   */
  backend: string;
  upstream: 'real' | 'standalone' | 'auto';
  dataDir: string;
}

export async function runEmbedded(settings: ProviderSettings, opts: EmbeddedOptions): Promise<number> {
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const resumed = existsSync(join(dataDir, 'etcd'));
  say(`starting the local control plane in ${dataDir}${resumed ? ' (resuming)' : ''} ...`);
  const cell = generationOf(settings) === 'cell';
  if (cell && opts.upstream === 'real')
    throw new SettingsError(
      '--upstream real: the newest compute cannot be built here (its module versions are not available); the cell generation runs with the standalone cell upstream',
    );
  const cp = await ControlPlane.start({
    dataDir,
    crdDirs: cell
      ? [...DATUM_CRDS.cell, join(REPO, 'deploy/crds')]
      : [DATUM_CRDS.compute, DATUM_CRDS.networkClassic, join(REPO, 'deploy/crds')],
    // Datum's flow relies on the garbage collector (a NetworkContext's Subnets and claims, a Deployment's
    // NetworkBindings go by owner reference), as in any real cluster.
    controllerManager: true,
    // DATUM_AUDIT_LOG=<file>: the API server records there every write to an Instance with its writer (user
    // agent) and the stored result; the getting-started test proves with it who wrote which condition.
    auditLog: process.env.DATUM_AUDIT_LOG
      ? { path: process.env.DATUM_AUDIT_LOG, rules: [INSTANCE_WRITES] }
      : undefined,
  });
  const cleanups: (() => Promise<unknown>)[] = [() => cp.stop()];
  const stopAll = async () => {
    for (const f of cleanups.reverse()) await f().catch(() => {});
  };
  try {
    let upstream = opts.upstream === 'standalone' || cell ? 'standalone' : 'real';
    if (upstream === 'real') {
      try {
        const { startRealUpstream, gatewayStubCRDs } = await import('./upstream/real/launcher.ts');
        await cp.installCRDs(gatewayStubCRDs());
        const real = await startRealUpstream({
          kubeconfigPath: cp.kubeconfigPath,
          workDir: dataDir,
          log: say,
        });
        cleanups.push(() => real.stop());
      } catch (err) {
        if (opts.upstream === 'real') throw err;
        say(`real Datum operators unavailable (${oneLine(err)}); using the standalone upstream`);
        upstream = 'standalone';
      }
    }
    let platform: LocalPlatform | undefined;
    if (opts.backend !== 'inmemory') {
      const name = opts.backend === 'auto' ? DEFAULT_LOCAL_PLATFORM : opts.backend;
      const load =
        LOCAL_PLATFORMS[name] ?? (isRegisteredBackend(name) ? async () => ownPlatform(name) : undefined);
      if (!load)
        throw new SettingsError(
          `--backend ${name}: unknown; available: inmemory, ${backendNames().join(', ')}`,
        );
      try {
        platform = await (await load())({ cp, settings, dataDir, say });
        const started = platform;
        cleanups.push(() => started.stop());
      } catch (err) {
        if (opts.backend !== 'auto') throw err;
        say(`${name} emulator unavailable (${oneLine(err)}); using the in-memory backend`);
      }
    }
    if (!platform) {
      settings.backend = 'inmemory';
      settings.backendConfig = { stateFile: join(dataDir, 'inmemory-state.json'), ...settings.backendConfig };
    }
    const backend = await createBackend(settings, { home: cp.client() });
    cleanups.push(async () => backend.close?.());
    // The provider's log (info and up) goes to a file in the data folder; warnings and errors also reach
    // stderr unless a live table owns the terminal. LOG_LEVEL sends everything at that level to stderr.
    const logPath = join(dataDir, 'provider.log');
    const logFile = createWriteStream(logPath, { flags: 'a' });
    cleanups.unshift(() => new Promise((r) => logFile.end(r)));
    const redactor = new Redactor();
    const log = createLogger({
      redact: redactor.redactLine,
      level: (process.env.LOG_LEVEL as 'info') ?? 'info',
      sink: (l) => {
        if (process.env.LOG_LEVEL) return void process.stderr.write(`${l}\n`);
        logFile.write(`${l}\n`);
        if (!process.stdout.isTTY && /"level":"(warn|error)"/.test(l)) process.stderr.write(`${l}\n`);
      },
    });
    const mgr = new Manager({
      log,
      probeAddr: settings.healthProbeBindAddress,
      metricsAddr: settings.metricsBindAddress,
      gracefulShutdownMs: 10_000,
    });
    if (upstream === 'standalone') {
      // Its own manager, so its own client and user agent (`standalone-upstream`), as Datum's operators are
      // their own processes: the API server's records tell the upstream's writes from the provider's.
      const up = new Manager({ name: 'standalone-upstream', log: log.child({ upstream: 'standalone' }) });
      await up.engage('single', cp.connection);
      if (cell) registerCellUpstream(up);
      else registerStandaloneUpstream(up);
      await up.start();
      cleanups.push(() => up.stop());
    }
    const cluster = await mgr.engage('single', cp.connection);
    registerProvider(mgr, { backend, settings, home: cp.client(), redactor });
    const view = new ProgressView(
      cluster.cache.informerFor<Instance>(INSTANCE),
      process.stdout.isTTY === true,
      generationOf(settings),
    );
    const stopped = mgr.handleSignals();
    await mgr.start();
    cleanups.push(() => mgr.stop());
    say(`kubeconfig: ${cp.kubeconfigPath}`);
    if (cell) {
      say('generation: cell');
      say(`runtime-class: ${(settings.cell ?? defaultCellSettings()).runtimeClass}`);
    } else say(`location-class: ${settings.locationClassName}`);
    say(`upstream: ${cell ? 'standalone cell' : upstream}`);
    say(`provider-log: ${logPath}`);
    for (const line of platform?.lines ?? []) say(line);
    say(
      `backend: ${backend.name} (${platform?.describe ?? 'resources live in memory, state in the data folder'})`,
    );
    say(`Try: KUBECONFIG=${cp.kubeconfigPath} kubectl get instances -A     (Ctrl-C stops everything)`);
    if (cell) {
      // The provider ships the RuntimeClass it serves: exactly what this backend can honour.
      const caps = backend.capabilities({ ...settings.backendConfig });
      await applyAll(cp.client(), [
        runtimeClassFor(settings.cell ?? defaultCellSettings(), caps, backend.name),
      ]);
    }
    if (opts.examples) {
      const files = !cell && platform?.examples ? platform.examples : [cell ? 'examples/cell' : 'examples'];
      await applyAll(
        cp.client(),
        files.flatMap((f) => readManifests(join(REPO, f))),
      );
      say(`applied ${files.join(', ')}`);
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

/** First and last line of an error: what failed, and the hint. */
function oneLine(err: unknown): string {
  const lines = String((err as Error)?.message ?? err)
    .trim()
    .split('\n');
  return lines.length > 1 ? `${lines[0]} ${lines[lines.length - 1]}` : (lines[0] ?? '');
}
