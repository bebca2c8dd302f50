/**
 * One Datum project control plane with either upstream (Datum's real compute + network-services operators, or
 * our standalone stand-ins), the garbage collector, and our provider on the in-memory backend, which can be
 * restarted mid-flow while the backend keeps its state. Used by the differential test and the manifest e2e.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemoryBackend } from '../../src/backends/inmemory/backend.ts';
import { NAMESPACE, SECRET } from '../../src/datum/api/resources.ts';
import type { ManagedResource } from '../../src/datum/backend.ts';
import { registerProvider } from '../../src/datum/provider.ts';
import { PROVIDER_CONFIG } from '../../src/datum/providerconfig.ts';
import { defaultSettings, type ProviderSettings } from '../../src/datum/settings.ts';
import { ControlPlane, DATUM_CRDS } from '../../src/localenv/controlplane.ts';
import { gatewayStubCRDs, startRealUpstream } from '../../src/localenv/upstream/real/launcher.ts';
import { registerStandaloneUpstream } from '../../src/localenv/upstream/standalone/index.ts';
import type { HttpClient } from '../../src/runtime/client/client.ts';
import { isAlreadyExists } from '../../src/runtime/client/errors.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';
import { Manager } from '../../src/runtime/manager/manager.ts';
import { OUR_CRDS } from '../../src/testkit/contract/suite.ts';

export type UpstreamKind = 'real' | 'standalone';

export interface UpstreamEnv {
  upstream: UpstreamKind;
  cp: ControlPlane;
  client: HttpClient;
  backend: InMemoryBackend;
  settings: ProviderSettings;
  /** Provider log lines (JSON), for failure reports. */
  logs: string[];
  /** Stops the provider's manager and starts a fresh one (new caches, queues) on the same backend. */
  restartProvider(): Promise<void>;
  /** Every backend resource still held, as `kind owner-kind/owner-name`, sorted. */
  backendResources(): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startUpstreamEnv(upstream: UpstreamKind): Promise<UpstreamEnv> {
  const work = mkdtempSync(join(tmpdir(), `upstream-env-${upstream}-`));
  const cp = await ControlPlane.start({
    crdDirs: [DATUM_CRDS.compute, DATUM_CRDS.networkClassic, OUR_CRDS, ...gatewayStubCRDs()],
    controllerManager: true,
  });
  const stops: (() => Promise<unknown>)[] = [() => cp.stop()];
  const logs: string[] = [];
  const log = createLogger({ level: 'info', sink: (l) => logs.push(l) });
  try {
    const client = cp.client();
    await seedCredentials(client);
    if (upstream === 'real') {
      const real = await startRealUpstream({ kubeconfigPath: cp.kubeconfigPath, workDir: work });
      stops.push(() => real.stop());
    } else {
      const up = new Manager({ name: 'standalone-upstream', log: log.child({ upstream: true }) });
      await up.engage('single', cp.connection);
      registerStandaloneUpstream(up);
      await up.start();
      stops.push(() => up.stop());
    }
    const settings = { ...defaultSettings(), sweepIntervalSeconds: 3600 };
    const backend = new InMemoryBackend({ latencyMs: 20 });
    let mgr: Manager | undefined;
    const startProvider = async () => {
      mgr = new Manager({ log, gracefulShutdownMs: 5000 });
      await mgr.engage('single', cp.connection);
      registerProvider(mgr, { backend, settings, home: client });
      await mgr.start();
    };
    await startProvider();
    stops.push(() => mgr!.stop());
    const ctx = {
      credentials: { source: 'InjectedIdentity' as const },
      region: 'local',
      config: {},
      location: { namespace: '', name: '', topology: {} },
      log,
      signal: new AbortController().signal,
    };
    return {
      upstream,
      cp,
      client,
      backend,
      settings,
      logs,
      async restartProvider() {
        await mgr!.stop();
        await startProvider();
      },
      async backendResources() {
        const all: ManagedResource[] = await backend.listManaged(ctx);
        return all.map((r) => `${r.kind} ${r.owner.kind}/${r.owner.name}`).sort();
      },
      async stop() {
        for (const s of stops.reverse()) await s().catch(() => {});
        rmSync(work, { recursive: true, force: true });
      },
    };
  } catch (err) {
    for (const s of stops.reverse()) await s().catch(() => {});
    rmSync(work, { recursive: true, force: true });
    throw err;
  }
}

/** The default ProviderConfig with a credentials Secret, as an installation has it. */
async function seedCredentials(c: HttpClient): Promise<void> {
  const ignoreExists = (e: unknown) => (isAlreadyExists(e) ? undefined : Promise.reject(e));
  await c.create(NAMESPACE, { metadata: { name: 'provider-system' } }).catch(ignoreExists);
  await c
    .create(SECRET, {
      metadata: { name: 'platform-credentials', namespace: 'provider-system' },
      stringData: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'differential-secret-value' },
    })
    .catch(ignoreExists);
  await c
    .create(PROVIDER_CONFIG, {
      metadata: { name: 'default' },
      spec: {
        credentials: {
          source: 'Secret',
          secretRef: { namespace: 'provider-system', name: 'platform-credentials' },
        },
      },
    })
    .catch(ignoreExists);
}
