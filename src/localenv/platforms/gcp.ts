/**
 * A local Compute Engine API (gcplocal behind our realism and fault proxy) and the GCP backend pointed at it,
 * with the credentials coming the way they would in production: a Secret with a `serviceAccountKey`, named by
 * the default ProviderConfig (region, project and the Location → zone map in its `config`). Against the
 * emulator (a plain-http loopback endpoint) the backend sends no token, so the key here is a placeholder.
 */
import { applyAll } from '../apply.ts';
import type { LocalPlatform, LocalPlatformContext } from './index.ts';
import { defaultProviderConfig } from './provider-config.ts';

const PLACEHOLDER_KEY = JSON.stringify({
  type: 'service_account',
  project_id: 'datum-local',
  client_email: 'datum-provider@datum-local.iam.gserviceaccount.com',
  private_key:
    '-----BEGIN PRIVATE KEY-----\nlocal-emulator-placeholder-never-sent\n-----END PRIVATE KEY-----\n',
});

export async function startLocalGcp({ cp, settings }: LocalPlatformContext): Promise<LocalPlatform> {
  const { startGceEmulator } = await import('../emulators/gcplocal/index.ts');
  const emu = await startGceEmulator();
  try {
    await applyAll(
      cp.client(),
      [
        ...defaultProviderConfig(settings, {
          secret: { name: 'gcp-credentials', data: { serviceAccountKey: PLACEHOLDER_KEY } },
          region: emu.region,
          config: { project: emu.project, zones: 'DFW=us-south1-a,DLS=us-south1-b,LHR=europe-west2-a' },
        }),
      ],
      'datum-provider-local',
    );
  } catch (err) {
    await emu.stop();
    throw err;
  }
  settings.backend = 'gcp';
  settings.backendConfig = { endpoint: emu.endpoint, ...settings.backendConfig };
  return {
    // gcplocal's own address too: what the proxy fronts, to look past it (and to check it stops with us).
    lines: [`gcp-endpoint: ${emu.endpoint}`, `gcplocal-endpoint: ${emu.gcplocalEndpoint}`],
    describe: `Compute Engine API of a local gcplocal emulator (project ${emu.project}); no credentials are sent`,
    stop: () => emu.stop(),
  };
}
