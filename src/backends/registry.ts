/** Backends by name. Loaded lazily so a provider only pulls in the SDK of the platform it uses. */
import type { Backend } from '../datum/backend.ts';
import { type ProviderSettings, SettingsError } from '../datum/settings.ts';
import type { HttpClient } from '../runtime/client/client.ts';

/** What some backends need besides settings: `home` is the provider's home cluster (the bare-metal inventory). */
export interface BackendDeps {
  home?: HttpClient;
}

export async function createBackend(settings: ProviderSettings, deps: BackendDeps = {}): Promise<Backend> {
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
    case 'baremetal': {
      if (!deps.home)
        throw new SettingsError('backend baremetal needs the home cluster client (its host inventory)');
      const { BareMetalBackend } = await import('./baremetal/index.ts');
      return new BareMetalBackend({ home: deps.home, config: cfg });
    }
    default:
      throw new SettingsError(`unknown backend '${settings.backend}'; available: inmemory, aws, baremetal`);
  }
}
