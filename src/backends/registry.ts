/** Backends by name. Loaded lazily so a provider only pulls in the SDK of the platform it uses. */
import type { Backend } from '../datum/backend.ts';
import { type ProviderSettings, SettingsError } from '../datum/settings.ts';

export async function createBackend(settings: ProviderSettings): Promise<Backend> {
  const cfg = settings.backendConfig;
  switch (settings.backend) {
    case 'inmemory': {
      const { InMemoryBackend } = await import('./inmemory/backend.ts');
      return new InMemoryBackend({
        stateFile: cfg.stateFile,
        pendingMs: cfg.pendingMs ? Number(cfg.pendingMs) : 1000,
        stoppingMs: cfg.stoppingMs ? Number(cfg.stoppingMs) : 500,
      });
    }
    case 'aws': {
      const mod = (await import('./aws/index.ts' as string)) as {
        createAwsBackend(s: ProviderSettings): Backend;
      };
      return mod.createAwsBackend(settings);
    }
    case 'gcp': {
      const mod = (await import('./gcp/index.ts' as string)) as {
        createGcpBackend(s: ProviderSettings): Backend;
      };
      return mod.createGcpBackend(settings);
    }
    default:
      throw new SettingsError(`unknown backend '${settings.backend}'; available: inmemory, aws, gcp`);
  }
}
