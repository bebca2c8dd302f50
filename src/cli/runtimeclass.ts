/**
 * `datum-provider runtimeclass`: the RuntimeClass a cell-generation installation ships, for the configured
 * backend: exactly the features and lifecycle operations it can honour, with our controller name. Printed
 * as YAML, ready for `kubectl apply -f -` in the cell.
 */
import { stringify } from 'yaml';
import { createBackend } from '../backends/registry.ts';
import { runtimeClassFor } from '../datum/cell-runtimeclass.ts';
import { defaultCellSettings, type ProviderSettings } from '../datum/settings.ts';

export async function runtimeClassYaml(settings: ProviderSettings): Promise<string> {
  const backend = await createBackend(settings);
  try {
    const caps = backend.capabilities({ ...settings.backendConfig });
    return stringify(runtimeClassFor(settings.cell ?? defaultCellSettings(), caps, backend.name));
  } finally {
    await backend.close?.();
  }
}
