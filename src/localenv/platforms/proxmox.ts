/**
 * A local Proxmox VE API (fakepve on 127.0.0.1, HTTPS with a self-signed certificate) and the Proxmox backend
 * pointed at it: the API token arrives the way it would in production, in a Secret named by the default
 * ProviderConfig, with the certificate's pinned fingerprint. Sandboxes run as LXC containers (nginx:1.27 mapped
 * to a container template the fake holds); VMs are clones of its Ubuntu cloud-init template.
 * The token is random per run and is never printed: what a local operator needs to reach the simulator
 * (endpoint, token, fingerprint) is written to `<dataDir>/proxmox-credentials.json` (mode 0600), removed on stop.
 */
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyAll } from '../apply.ts';
import type { LocalPlatform, LocalPlatformContext } from './index.ts';
import { defaultProviderConfig } from './provider-config.ts';

export const CREDENTIALS_FILE = 'proxmox-credentials.json';

export async function startLocalProxmox({
  cp,
  settings,
  dataDir,
}: LocalPlatformContext): Promise<LocalPlatform> {
  const { startFakePve, TEMPLATE_VMID } = await import('../emulators/fakepve/index.ts');
  // Under the data folder so that the simulator's command line names it (what is ours to stop is findable).
  const pve = await startFakePve({ workDir: join(dataDir, 'fakepve') });
  const credentialsPath = join(dataDir, CREDENTIALS_FILE);
  const stop = async () => {
    rmSync(credentialsPath, { force: true });
    await pve.stop();
  };
  try {
    writeCredentials(credentialsPath, {
      endpoint: pve.endpoint,
      tokenId: pve.tokenId,
      tokenSecret: pve.tokenSecret,
      fingerprint: pve.fingerprint,
    });
    await applyAll(
      cp.client(),
      [
        ...defaultProviderConfig(settings, {
          secret: {
            name: 'proxmox-token',
            data: { tokenId: pve.tokenId, tokenSecret: pve.tokenSecret, fingerprint: pve.fingerprint },
          },
        }),
      ],
      'datum-provider-local',
    );
  } catch (err) {
    await stop();
    throw err;
  }
  settings.backend = 'proxmox';
  settings.backendConfig = {
    endpoint: pve.endpoint,
    images: `datumcloud/ubuntu-2204-lts=${TEMPLATE_VMID}`,
    containerImages: 'nginx:1.27=local:vztmpl/nginx-1.27.tar',
    placement: 'DFW=pve1|pve2,LHR=pve3',
    nodes: 'pve1|pve2|pve3',
    ...settings.backendConfig,
  };
  return {
    lines: [`proxmox-endpoint: ${pve.endpoint}`, `proxmox-credentials: ${credentialsPath}`],
    describe: 'Proxmox VE API of a local fakepve simulator (nodes pve1-pve3; the token is in the Secret)',
    stop,
  };
}

/** Owner-only from its first byte: created 0600 (an old file of a previous run is replaced, not reused). */
function writeCredentials(path: string, creds: Record<string, string>): void {
  rmSync(path, { force: true });
  writeFileSync(path, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
}
