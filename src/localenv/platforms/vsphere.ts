/**
 * A local vCenter (vcsim on loopback, with our own serving certificate) and the vSphere backend pointed at it,
 * pinned to that certificate's fingerprint; the credentials come the way they would in production: a Secret
 * named by the default ProviderConfig. vcsim's default inventory (DC0, cluster DC0_C0, datastore LocalDS_0,
 * switch DVS0) is the placement; its VM DC0_H0_VM0 stands in for the Ubuntu template.
 */
import { applyAll } from '../apply.ts';
import type { LocalPlatform, LocalPlatformContext } from './index.ts';
import { defaultProviderConfig } from './provider-config.ts';

export async function startLocalVsphere({ cp, settings }: LocalPlatformContext): Promise<LocalPlatform> {
  const { startVcsim } = await import('../emulators/vcsim/index.ts');
  // Tasks take a moment, as on a real vCenter, so the provider's waiting is visible.
  const sim = await startVcsim({
    methodDelayMs: { CloneVm: 500, PowerOn: 200, Destroy: 200, LockHandoff: 0 },
  });
  try {
    await applyAll(
      cp.client(),
      [
        ...defaultProviderConfig(settings, {
          secret: { name: 'vsphere-credentials', data: { username: sim.username, password: sim.password } },
        }),
      ],
      'datum-provider-local',
    );
  } catch (err) {
    await sim.stop();
    throw err;
  }
  settings.backend = 'vsphere';
  settings.backendConfig = {
    endpoint: sim.endpoint,
    fingerprintSha256: sim.fingerprintSha256,
    images: 'datumcloud/ubuntu-2204-lts=DC0_H0_VM0',
    ...settings.backendConfig,
  };
  return {
    lines: [`vsphere-endpoint: ${sim.endpoint}`, `vsphere-fingerprint: ${sim.fingerprintSha256}`],
    describe: 'a local vcsim (vSphere simulator); VMs only, no sandboxes, no network policies',
    // The VM example without its network policy (refused on plain vSphere); the sandboxes stay, to be refused.
    examples: [
      'examples/01-locations.yaml',
      'examples/02-network.yaml',
      'examples/03-sandbox-workload.yaml',
      'examples/vsphere/04-vm-workload.yaml',
    ],
    stop: () => sim.stop(),
  };
}
