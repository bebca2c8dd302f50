/**
 * The bare-metal backend's configuration (the ProviderConfig `config` map over the provider's `backendConfig`):
 *   images         `datumcloud/ubuntu-2204-lts=https://images.example/ubuntu-22.04.iso,...` (Datum image -> ISO URL)
 *   instanceTypes  `datumcloud/d1-standard-2=2:8,datumcloud/g1-large=16:64:1` (cpu:memoryGiB[:gpus]), over defaults
 *   hostSelector   a label selector limiting which BareMetalHosts this installation uses
 *   configDriveUrl the base URL BMCs reach the provider's config-drive server at (default: its own address)
 *   configDriveListen `host:port` the config-drive server listens on (default 127.0.0.1:0)
 *   bmcTimeoutMs   per-request BMC timeout (default 10000)
 *   powerRetryMs   how long a requested power change may take before it is requested again (default 30000)
 */
import { BackendError } from '../../datum/backend.ts';

export interface InstanceTypeSize {
  cpu: number;
  memoryGiB: number;
  gpus: number;
}

export const DEFAULT_INSTANCE_TYPES: Record<string, InstanceTypeSize> = {
  'datumcloud/d1-standard-2': { cpu: 2, memoryGiB: 8, gpus: 0 },
};

export interface BareMetalSettings {
  images: Record<string, string>;
  instanceTypes: Record<string, InstanceTypeSize>;
  hostSelector?: string;
  configDriveUrl?: string;
  configDriveListen: { host: string; port: number };
  bmcTimeoutMs: number;
  powerRetryMs: number;
}

const invalid = (m: string) => new BackendError('InvalidConfiguration', `bare-metal config: ${m}`);

function pairs(value: string | undefined, key: string): [string, string][] {
  if (!value?.trim()) return [];
  return value.split(',').map((entry) => {
    const i = entry.indexOf('=');
    if (i <= 0) throw invalid(`${key}: '${entry.trim()}' is not name=value`);
    return [entry.slice(0, i).trim(), entry.slice(i + 1).trim()];
  });
}

function positive(v: string | undefined, key: string, dflt: number): number {
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw invalid(`${key} must be a positive number`);
  return n;
}

export function parseSettings(config: Readonly<Record<string, string>>): BareMetalSettings {
  const images: Record<string, string> = {};
  for (const [name, url] of pairs(config.images, 'images')) {
    if (!/^https?:\/\//.test(url)) throw invalid(`images: ${name} must map to an http(s) URL`);
    images[name] = url;
  }
  const instanceTypes = { ...DEFAULT_INSTANCE_TYPES };
  for (const [name, size] of pairs(config.instanceTypes, 'instanceTypes')) {
    const m = /^(\d+):(\d+)(?::(\d+))?$/.exec(size);
    if (!m) throw invalid(`instanceTypes: ${name}=${size} is not cpu:memoryGiB[:gpus]`);
    instanceTypes[name] = { cpu: Number(m[1]), memoryGiB: Number(m[2]), gpus: Number(m[3] ?? 0) };
  }
  const listen = config.configDriveListen ?? '127.0.0.1:0';
  const lm = /^(.+):(\d+)$/.exec(listen);
  if (!lm) throw invalid(`configDriveListen '${listen}' is not host:port`);
  if (config.configDriveUrl && !/^https?:\/\//.test(config.configDriveUrl))
    throw invalid('configDriveUrl must be an http(s) URL');
  return {
    images,
    instanceTypes,
    hostSelector: config.hostSelector || undefined,
    configDriveUrl: config.configDriveUrl?.replace(/\/+$/, '') || undefined,
    configDriveListen: { host: lm[1]!, port: Number(lm[2]) },
    bmcTimeoutMs: positive(config.bmcTimeoutMs, 'bmcTimeoutMs', 10_000),
    powerRetryMs: positive(config.powerRetryMs, 'powerRetryMs', 30_000),
  };
}
