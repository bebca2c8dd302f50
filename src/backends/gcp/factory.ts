/**
 * Builds the backend from provider settings (the CLI's `--backend gcp`): the settings' image and instance type
 * maps, plus `backendConfig` keys (the same keys a ProviderConfig `config` map takes, see docs/gcp.md).
 */

import { parseMap } from '../common/config.ts';
import { GcpBackend } from './backend.ts';
import type { GcpBackendOptions } from './settings.ts';

export interface GcpProviderSettings {
  imageMap?: Record<string, string>;
  instanceTypeMap?: Record<string, string>;
  backendConfig?: Record<string, string>;
}

const bool = (v: string) => /^(true|yes|1)$/i.test(v);

export function gcpOptionsFromConfig(c: Record<string, string>): GcpBackendOptions {
  const o: GcpBackendOptions = {};
  if (c.project) o.project = c.project;
  if (c.region) o.region = c.region;
  if (c.zone) o.zone = c.zone;
  if (c.zones) o.zones = parseMap(c.zones, 'zones');
  if (c.endpoint) o.endpoint = c.endpoint;
  if (c.images) o.images = parseMap(c.images, 'images');
  if (c.instanceTypes) o.instanceTypes = parseMap(c.instanceTypes, 'instanceTypes');
  if (c.containerHostImage) o.containerHostImage = c.containerHostImage;
  if (c.containerHostDiskGiB) o.containerHostDiskGiB = Number(c.containerHostDiskGiB);
  if (c.assignExternalIp) o.assignExternalIp = bool(c.assignExternalIp);
  if (c.serviceAccount) o.serviceAccount = c.serviceAccount;
  if (c.secretManager) o.secretManager = bool(c.secretManager);
  if (c.operationWaitSeconds) o.operationWaitSeconds = Number(c.operationWaitSeconds);
  if (c.maxAttempts) o.maxAttempts = Number(c.maxAttempts);
  if (c.managedBy) o.managedBy = c.managedBy;
  return o;
}

export function createGcpBackend(settings: GcpProviderSettings = {}): GcpBackend {
  const fromConfig = gcpOptionsFromConfig(settings.backendConfig ?? {});
  return new GcpBackend({
    ...fromConfig,
    images: { ...(settings.imageMap ?? {}), ...(fromConfig.images ?? {}) },
    instanceTypes: { ...(settings.instanceTypeMap ?? {}), ...(fromConfig.instanceTypes ?? {}) },
  });
}
