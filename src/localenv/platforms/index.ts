/**
 * The platforms `make run --backend <name>` can start locally: each one starts its emulator (or downstream
 * cluster) on loopback, writes the credentials Secret and the default ProviderConfig into the local control
 * plane the way production would have them, and points the provider's settings at it.
 * A backend with no entry here runs locally only against a real platform (`--settings`).
 */
import type { ProviderSettings } from '../../datum/settings.ts';
import type { ControlPlane } from '../controlplane.ts';

export interface LocalPlatformContext {
  cp: ControlPlane;
  settings: ProviderSettings;
  dataDir: string;
  say(line: string): void;
}

export interface LocalPlatform {
  /** Lines printed after start, each `key: value` on its own line (e.g. `ec2-endpoint: http://...`). */
  lines: string[];
  /** One phrase after `backend: <name>`, saying where resources live. */
  describe: string;
  /** Example manifests (repository-relative files) applied instead of examples/, where the platform needs others. */
  examples?: string[];
  stop(): Promise<void>;
}

export type LocalPlatformStarter = (ctx: LocalPlatformContext) => Promise<LocalPlatform>;

/** Loaded lazily: starting one platform never imports another's emulator. */
export const LOCAL_PLATFORMS: Record<string, () => Promise<LocalPlatformStarter>> = {
  aws: async () => (await import('./aws.ts')).startLocalAws,
  proxmox: async () => (await import('./proxmox.ts')).startLocalProxmox,
  baremetal: async () => (await import('./baremetal.ts')).startLocalBareMetal,
  kubernetes: async () => (await import('./kubernetes.ts')).startLocalKubernetes,
  vsphere: async () => (await import('./vsphere.ts')).startLocalVsphere,
  gcp: async () => (await import('./gcp.ts')).startLocalGcp,
};

/** The platform `make run` picks when `--backend` is not given: AWS when its emulator can start. */
export const DEFAULT_LOCAL_PLATFORM = 'aws';

/**
 * A backend with no local platform of its own (a provider project's, say): the provider runs it as configured
 * (`backendConfig` from the settings or `DATUM_BACKEND_CONFIG`), against whatever platform that points at, with
 * the default ProviderConfig naming a Secret made from `DATUM_LOCAL_CREDENTIALS` (a JSON object; empty if unset).
 */
export function ownPlatform(name: string): LocalPlatformStarter {
  return async ({ cp, settings }) => {
    const { applyAll } = await import('../apply.ts');
    const { defaultProviderConfig } = await import('./provider-config.ts');
    const data = JSON.parse(process.env.DATUM_LOCAL_CREDENTIALS || '{}') as Record<string, string>;
    await applyAll(
      cp.client(),
      [...defaultProviderConfig(settings, { secret: { name: `${name}-credentials`, data: data } })],
      'datum-provider-local',
    );
    settings.backend = name;
    return { lines: [], describe: `your ${name} backend, as configured`, stop: async () => {} };
  };
}
