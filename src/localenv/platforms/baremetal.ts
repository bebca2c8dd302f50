/**
 * A local bare-metal site: sushy-tools' fake Redfish BMCs (basic auth checked) for a few machines in the example
 * Locations' cities, the BareMetalHost inventory and its BMC Secret in the local control plane, and the
 * default ProviderConfig. The backend reads the inventory from the control plane and drives the BMCs.
 */
import { applyAll } from '../apply.ts';
import type { HostSpec } from '../emulators/sushy/hosts.ts';
import type { LocalPlatform, LocalPlatformContext } from './index.ts';
import { defaultProviderConfig } from './provider-config.ts';

const CITY = 'topology.datum.net/city-code';
/** Two machines per example city, with addresses in the subnets the examples' Network gives each city. */
export const LOCAL_HOSTS: HostSpec[] = [
  { name: 'dfw-rack1-node1', site: { [CITY]: 'DFW' }, addresses: ['10.128.0.10'] },
  { name: 'dfw-rack1-node2', site: { [CITY]: 'DFW' }, addresses: ['10.128.0.11'] },
  { name: 'lhr-rack1-node1', site: { [CITY]: 'LHR' }, addresses: ['10.132.0.10'] },
  { name: 'lhr-rack1-node2', site: { [CITY]: 'LHR' }, addresses: ['10.132.0.11'] },
];

export async function startLocalBareMetal({ cp, settings }: LocalPlatformContext): Promise<LocalPlatform> {
  const { applyInventory, hostManifests, startRedfishEmulator } = await import('../emulators/sushy/index.ts');
  const emu = await startRedfishEmulator({ systems: LOCAL_HOSTS.map((h) => ({ name: h.name })) });
  try {
    await applyAll(
      cp.client(),
      [
        // The BMC credentials come per host (its Secret); the ProviderConfig only says who serves what.
        ...defaultProviderConfig(settings, {}),
      ],
      'datum-provider-local',
    );
    await applyInventory(
      cp.client(),
      hostManifests(emu, LOCAL_HOSTS, { namespace: 'datum-provider-system', name: 'bmc-credentials' }),
    );
  } catch (err) {
    await emu.stop();
    throw err;
  }
  settings.backend = 'baremetal';
  settings.backendConfig = {
    // The launcher serves a stand-in ISO; a real site maps images to its own ISO URLs (docs/baremetal.md).
    images: `datumcloud/ubuntu-2204-lts=${emu.imageBaseUrl}ubuntu-2204-lts.iso`,
    ...settings.backendConfig,
  };
  return {
    lines: [`redfish-endpoint: ${emu.endpoint}`],
    describe: `${LOCAL_HOSTS.length} machines behind sushy-tools' fake Redfish BMCs (BareMetalHosts in the control plane)`,
    stop: () => emu.stop(),
  };
}
