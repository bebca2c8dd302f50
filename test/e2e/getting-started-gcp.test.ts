/** The getting-started flow with the GCP backend (gcplocal behind our proxy) and each upstream. */
import { gettingStartedSuite } from './getting-started.ts';

/**
 * What is left on the emulator itself (read past the proxy's realism, straight from its API): every instance,
 * network, subnetwork and firewall in the project, ours or not, in every zone and region the platform maps.
 */
async function leftovers(out: string): Promise<string[]> {
  const endpoint = /^gcp-endpoint: (.+)$/m.exec(out)?.[1];
  if (!endpoint) throw new Error('no gcp-endpoint line in the output');
  const base = `${endpoint}/compute/v1/projects/datum-local`;
  const left: string[] = [];
  const read = async (path: string, pick: (body: Record<string, unknown>) => { name: string }[]) => {
    const res = await fetch(`${base}/${path}`);
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
    for (const i of pick((await res.json()) as Record<string, unknown>))
      left.push(`${path.split('/').pop()}/${i.name}`);
  };
  const items = (b: Record<string, unknown>) => (b.items as { name: string }[] | undefined) ?? [];
  const aggregated = (key: string) => (b: Record<string, unknown>) =>
    Object.values((b.items as Record<string, Record<string, { name: string }[]>> | undefined) ?? {}).flatMap(
      (scope) => scope[key] ?? [],
    );
  await read('aggregated/instances', aggregated('instances'));
  await read('aggregated/subnetworks', aggregated('subnetworks'));
  await read('global/networks', items);
  await read('global/firewalls', items);
  return left;
}

gettingStartedSuite({ backend: 'gcp', endpointLines: ['gcp-endpoint'], leftovers });
