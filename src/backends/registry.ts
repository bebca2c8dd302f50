/**
 * Backends by name: the built-in ones, loaded lazily so a provider only pulls in the SDK of the platform it
 * uses, and any a provider project registers itself (`registerBackend`, or `runCli(argv, { backends })`).
 */
import type { Backend } from '../datum/backend.ts';
import { type ProviderSettings, SettingsError } from '../datum/settings.ts';
import type { HttpClient } from '../runtime/client/client.ts';

/** What some backends need besides settings: `home` is the provider's home cluster (the bare-metal inventory). */
export interface BackendDeps {
  home?: HttpClient;
}

export type BackendFactory = (settings: ProviderSettings, deps: BackendDeps) => Backend | Promise<Backend>;

const BUILTIN: Record<string, () => Promise<BackendFactory>> = {
  inmemory: async () => {
    const { InMemoryBackend } = await import('./inmemory/backend.ts');
    return (s) =>
      new InMemoryBackend({
        stateFile: s.backendConfig.stateFile,
        snapshotFile: s.backendConfig.snapshotFile,
        pendingMs: s.backendConfig.pendingMs ? Number(s.backendConfig.pendingMs) : 1000,
        stoppingMs: s.backendConfig.stoppingMs ? Number(s.backendConfig.stoppingMs) : 500,
      });
  },
  aws: async () => (await import('./aws/index.ts')).createAwsBackend,
  proxmox: async () => (await import('./proxmox/index.ts')).createProxmoxBackend,
  kubernetes: async () => (await import('./kubernetes/index.ts')).createKubernetesBackend,
  vsphere: async () => (await import('./vsphere/index.ts')).createVsphereBackend,
  gcp: async () => (await import('./gcp/index.ts')).createGcpBackend,
  baremetal: async () => {
    const { BareMetalBackend } = await import('./baremetal/index.ts');
    return (s, deps) => {
      if (!deps.home)
        throw new SettingsError('backend baremetal needs the home cluster client (its host inventory)');
      return new BareMetalBackend({ home: deps.home, config: s.backendConfig });
    };
  },
};

const registered = new Map<string, BackendFactory>();

/** Makes a backend available by name to `run --backend NAME` and the settings file's `backend`. */
export function registerBackend(name: string, factory: BackendFactory): void {
  if (!/^[a-z][a-z0-9-]*$/.test(name))
    throw new SettingsError(`backend name '${name}' must be lower-case letters, digits and dashes`);
  registered.set(name, factory);
}

export function backendNames(): string[] {
  return [...new Set([...Object.keys(BUILTIN), ...registered.keys()])].sort();
}

export function isRegisteredBackend(name: string): boolean {
  return registered.has(name) || name in BUILTIN;
}

export async function createBackend(settings: ProviderSettings, deps: BackendDeps = {}): Promise<Backend> {
  const factory = registered.get(settings.backend) ?? (await BUILTIN[settings.backend]?.());
  if (!factory)
    throw new SettingsError(`unknown backend '${settings.backend}'; available: ${backendNames().join(', ')}`);
  return factory(settings, deps);
}
