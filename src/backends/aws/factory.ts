/**
 * Builds the backend from provider settings (the CLI's `--backend aws`): the settings' image and instance
 * type maps, plus `backendConfig` keys (the same keys a ProviderConfig `config` map takes, see docs/aws.md).
 */

import { parseMap } from '../common/config.ts';
import { AwsBackend } from './backend.ts';
import { type AwsBackendOptions, parseImageRef } from './settings.ts';

/** The part of the provider settings this backend reads (structural: backends depend on backend.ts only). */
export interface AwsProviderSettings {
  imageMap?: Record<string, string>;
  instanceTypeMap?: Record<string, string>;
  backendConfig?: Record<string, string>;
}

export function awsOptionsFromConfig(config: Record<string, string>): AwsBackendOptions {
  const o: AwsBackendOptions = {};
  if (config.region) o.region = config.region;
  if (config.endpoint) o.endpoint = config.endpoint;
  if (config.images) o.images = parseMap(config.images, 'images');
  if (config.instanceTypes) o.instanceTypes = parseMap(config.instanceTypes, 'instanceTypes');
  if (config.containerHostImage) o.containerHost = parseImageRef(config.containerHostImage, '/dev/xvda');
  if (config.instanceProfile) o.instanceProfile = config.instanceProfile;
  if (config.assignPublicIp) o.assignPublicIp = /^(true|yes|1)$/i.test(config.assignPublicIp);
  if (config.availabilityZone) o.availabilityZone = config.availabilityZone;
  if (config.ssmPrefix) o.ssmPrefix = config.ssmPrefix;
  if (config.maxAttempts) o.maxAttempts = Number(config.maxAttempts);
  if (config.managedBy) o.managedBy = config.managedBy;
  return o;
}

export function createAwsBackend(settings: AwsProviderSettings = {}): AwsBackend {
  const fromConfig = awsOptionsFromConfig(settings.backendConfig ?? {});
  return new AwsBackend({
    ...fromConfig,
    images: { ...(settings.imageMap ?? {}), ...(fromConfig.images ?? {}) },
    instanceTypes: { ...(settings.instanceTypeMap ?? {}), ...(fromConfig.instanceTypes ?? {}) },
  });
}
