/** The vSphere backend for `--backend vsphere`: `backendConfig` keys as in docs/vsphere.md. */
import { VsphereBackend } from './backend.ts';

export { VsphereBackend } from './backend.ts';
export * from './faults.ts';

export interface VsphereProviderSettings {
  imageMap?: Record<string, string>;
  instanceTypeMap?: Record<string, string>;
  backendConfig?: Record<string, string>;
}

export function createVsphereBackend(settings: VsphereProviderSettings = {}): VsphereBackend {
  const config = { ...(settings.backendConfig ?? {}) };
  // The settings file's image map (Datum image → template path) unless the config carries its own.
  if (!config.images && settings.imageMap && Object.keys(settings.imageMap).length)
    config.images = Object.entries(settings.imageMap)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
  return new VsphereBackend({ config });
}
