/**
 * Builds the backend from provider settings (the CLI's `--backend kubernetes`): the settings' image and
 * instance type maps plus `backendConfig` keys (the same keys a ProviderConfig `config` map takes, see
 * docs/kubernetes.md).
 */

import { parseMap } from '../common/config.ts';
import { KubernetesBackend } from './backend.ts';
import type { KubernetesBackendOptions } from './settings.ts';

/** The part of the provider settings this backend reads (structural: backends depend on backend.ts only). */
export interface KubernetesProviderSettings {
  imageMap?: Record<string, string>;
  instanceTypeMap?: Record<string, string>;
  backendConfig?: Record<string, string>;
}

export function kubernetesOptionsFromConfig(config: Record<string, string>): KubernetesBackendOptions {
  const o: KubernetesBackendOptions = {};
  if (config.instanceTypes) o.instanceTypes = parseMap(config.instanceTypes, 'instanceTypes');
  if (config.images) o.images = parseMap(config.images, 'images');
  if (config.kubevirt) o.kubevirt = /^(true|yes|1)$/i.test(config.kubevirt);
  if (config.gpuResource) o.gpuResource = config.gpuResource;
  if (config.gpuTaintKey) o.gpuTaintKey = config.gpuTaintKey;
  if (config.topologyKeys && config.topologyKeys.trim() !== '*')
    o.topologyKeys = config.topologyKeys
      .split(',')
      .map((k) => k.trim())
      .filter(Boolean);
  if (config.nodeSelector) o.nodeSelector = parseMap(config.nodeSelector, 'nodeSelector');
  if (config.namespacePrefix) o.namespacePrefix = config.namespacePrefix;
  if (config.maxAttempts) o.maxAttempts = Number(config.maxAttempts);
  if (config.managedBy) o.managedBy = config.managedBy;
  return o;
}

export function createKubernetesBackend(settings: KubernetesProviderSettings = {}): KubernetesBackend {
  const fromConfig = kubernetesOptionsFromConfig(settings.backendConfig ?? {});
  return new KubernetesBackend({
    ...fromConfig,
    images: { ...(settings.imageMap ?? {}), ...(fromConfig.images ?? {}) },
    instanceTypes: { ...(settings.instanceTypeMap ?? {}), ...(fromConfig.instanceTypes ?? {}) },
  });
}
