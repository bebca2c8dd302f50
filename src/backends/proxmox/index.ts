export { DEFAULT_MANAGED_BY, ProxmoxBackend, type ProxmoxBackendOptions } from './backend.ts';
export * from './client.ts';
export { toBackendError } from './errors.ts';
export { type ProxmoxSettings, resolveCredentials, resolveSettings } from './settings.ts';

import { ProxmoxBackend } from './backend.ts';

/** The CLI's `--backend proxmox`: every key comes from `backendConfig` / the ProviderConfig `config` map. */
export function createProxmoxBackend(
  settings: { backendConfig?: Record<string, string> } = {},
): ProxmoxBackend {
  return new ProxmoxBackend({ config: settings.backendConfig ?? {} });
}
