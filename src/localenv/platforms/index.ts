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
  stop(): Promise<void>;
}

export type LocalPlatformStarter = (ctx: LocalPlatformContext) => Promise<LocalPlatform>;

/** Loaded lazily: starting one platform never imports another's emulator. */
export const LOCAL_PLATFORMS: Record<string, () => Promise<LocalPlatformStarter>> = {
  aws: async () => (await import('./aws.ts')).startLocalAws,
  gcp: async () => (await import('./gcp.ts')).startLocalGcp,
};

/** The platform `make run` picks when `--backend` is not given: AWS when its emulator can start. */
export const DEFAULT_LOCAL_PLATFORM = 'aws';
