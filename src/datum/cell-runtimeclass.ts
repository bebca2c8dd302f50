/**
 * A backend's capabilities in RuntimeClass terms: the features and lifecycle operations it can honour, the
 * Accepted verdict on a RuntimeClass that names our controller, and the RuntimeClass a provider ships.
 */
import type { LifecycleOperation, RuntimeClass, RuntimeFeature } from './api/cell-types.ts';
import type { BackendCapabilities } from './backend.ts';
import type { CellSettings } from './settings.ts';

/**
 * What the provider can honour with this backend. envFrom is the provider's own (it expands envFrom into
 * env before the backend sees it); device volume attachments and snapshots have no backend operation.
 */
export function featuresOf(caps: BackendCapabilities): RuntimeFeature[] {
  const f: RuntimeFeature[] = [];
  if (caps.runtimes.includes('sandbox')) f.push('sandboxRuntime');
  if (caps.runtimes.includes('virtualMachine')) f.push('virtualMachineRuntime');
  if (caps.volumeKinds.includes('configMap')) f.push('configMapVolumes');
  if (caps.volumeKinds.includes('secret')) f.push('secretVolumes');
  if (caps.volumeKinds.includes('disk')) f.push('diskVolumes');
  f.push('envFrom');
  if (caps.features.includes('imagePullSecrets')) f.push('imagePullSecrets');
  return f;
}

export function operationsOf(caps: BackendCapabilities): LifecycleOperation[] {
  return caps.suspend ? ['Suspend', 'Resume'] : [];
}

/** Accepted for a RuntimeClass: True, or False naming every feature and operation we cannot honour. */
export function acceptance(
  rc: RuntimeClass,
  caps: BackendCapabilities,
  backendName: string,
): { accepted: boolean; reason: 'Accepted' | 'UnsupportedFeature'; message: string } {
  const features = new Set<string>(featuresOf(caps));
  const operations = new Set<string>(operationsOf(caps));
  const missing = [
    ...(rc.spec?.capabilities.features ?? []).filter((f) => !features.has(f)),
    ...(rc.spec?.lifecycle?.operations ?? []).filter((o) => !operations.has(o)).map((o) => `lifecycle ${o}`),
  ];
  if (missing.length === 0)
    return { accepted: true, reason: 'Accepted', message: `Served by the ${backendName} backend` };
  return {
    accepted: false,
    reason: 'UnsupportedFeature',
    message: `The ${backendName} backend cannot honour: ${missing.join(', ')}`,
  };
}

/** The RuntimeClass this provider ships for a backend: exactly what it can honour, nothing more. */
export function runtimeClassFor(
  cell: CellSettings,
  caps: BackendCapabilities,
  backendName: string,
): RuntimeClass {
  const vm = caps.runtimes.includes('virtualMachine');
  return {
    apiVersion: 'compute.datumapis.com/v1alpha',
    kind: 'RuntimeClass',
    metadata: { name: cell.runtimeClass },
    spec: {
      controllerName: cell.controllerName,
      displayName: `datum-provider-ts (${backendName})`,
      description: `Instances realized by datum-provider-ts on the ${backendName} backend`,
      isolation: {
        boundary: vm ? 'VirtualMachine' : 'Container',
        description: `Each Instance is its own ${backendName} instance`,
      },
      capabilities: { features: featuresOf(caps) },
      lifecycle: { operations: operationsOf(caps) },
    },
  };
}
