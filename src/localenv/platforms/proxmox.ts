/**
 * A local Proxmox VE API (fakepve on 127.0.0.1, HTTPS with a self-signed certificate) and the Proxmox backend
 * pointed at it: the API token arrives the way it would in production, in a Secret named by the default
 * ProviderConfig, with the certificate's pinned fingerprint. Sandboxes run as LXC containers (nginx:1.27 mapped
 * to a container template the fake holds); VMs are clones of its Ubuntu cloud-init template.
 */
import { applyAll } from '../apply.ts';
import type { LocalPlatform, LocalPlatformContext } from './index.ts';

export async function startLocalProxmox({ cp, settings }: LocalPlatformContext): Promise<LocalPlatform> {
  const { startFakePve, TEMPLATE_VMID } = await import('../emulators/fakepve/index.ts');
  const pve = await startFakePve();
  try {
    await applyAll(
      cp.client(),
      [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'datum-provider-system' } },
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'proxmox-token', namespace: 'datum-provider-system' },
          stringData: { tokenId: pve.tokenId, tokenSecret: pve.tokenSecret, fingerprint: pve.fingerprint },
        },
        {
          apiVersion: 'infra.provider-ts.io/v1alpha1',
          kind: 'ProviderConfig',
          metadata: { name: settings.defaultProviderConfig },
          spec: {
            credentials: {
              source: 'Secret',
              secretRef: { namespace: 'datum-provider-system', name: 'proxmox-token' },
            },
          },
        },
      ],
      'datum-provider-local',
    );
  } catch (err) {
    await pve.stop();
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
    lines: [`proxmox-endpoint: ${pve.endpoint}`],
    describe: 'Proxmox VE API of a local fakepve simulator (nodes pve1-pve3; the token is in the Secret)',
    stop: () => pve.stop(),
  };
}
