/** The getting-started flow with the GCP backend (gcplocal behind our proxy) and each upstream. */
import { gcplocalInventory } from '../../src/localenv/emulators/gcplocal/index.ts';
import { gettingStartedSuite } from './getting-started.ts';

/**
 * What is left on the emulator itself, read from gcplocal past our proxy: every instance, network, subnetwork
 * and firewall rule in the project, ours or not, in every zone and region the local platform maps Locations to.
 */
async function leftovers(out: string): Promise<string[]> {
  const endpoint = /^gcplocal-endpoint: (.+)$/m.exec(out)?.[1];
  if (!endpoint) throw new Error('no gcplocal-endpoint line in the output');
  const zones = ['us-south1-a', 'us-south1-b', 'europe-west2-a', 'us-central1-a'];
  return gcplocalInventory(endpoint, 'datum-local', {
    zones,
    regions: [...new Set(zones.map((z) => z.replace(/-[a-z]$/, '')))],
  });
}

// Both endpoints must answer while it runs and be stopped after (the harness checks): the proxy and gcplocal.
gettingStartedSuite({ backend: 'gcp', endpointLines: ['gcp-endpoint', 'gcplocal-endpoint'], leftovers });
