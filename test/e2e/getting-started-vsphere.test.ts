/**
 * The getting-started flow with the vSphere backend (vcsim) and each upstream: the London VM (its vSphere
 * example, without the network policy plain vSphere cannot enforce) becomes Ready, the sandbox Instances are
 * refused, and deleting everything leaves no VM and no port group of ours on the simulator.
 */
import { createVsphereBackend } from '../../src/backends/vsphere/index.ts';
import { SECRET } from '../../src/datum/api/resources.ts';
import { installationId } from '../../src/datum/installation.ts';
import { defaultSettings } from '../../src/datum/settings.ts';
import { createClient } from '../../src/runtime/client/client.ts';
import { loadKubeconfig } from '../../src/runtime/client/config.ts';
import type { KubeObject } from '../../src/runtime/client/types.ts';
import { fixturesContext } from '../../src/testkit/contract/interface-handle.ts';
import { gettingStartedSuite } from './getting-started.ts';

/**
 * What the simulator holds for this installation, read through the backend's own listing: the credentials from
 * the Secret the local platform wrote, the installation id derived as the provider derives it.
 */
async function vsphereLeftovers(out: string): Promise<string[]> {
  const line = (name: string) => {
    const v = new RegExp(`^${name}: (.+)$`, 'm').exec(out)?.[1];
    if (!v) throw new Error(`no ${name} line in the output`);
    return v;
  };
  const client = createClient(loadKubeconfig(line('kubeconfig')));
  try {
    const secret = await client.get<KubeObject & { data: Record<string, string> }>(
      SECRET,
      'vsphere-credentials',
      'datum-provider-system',
    );
    const data = Object.fromEntries(
      Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
    const backendConfig = {
      endpoint: line('vsphere-endpoint'),
      fingerprintSha256: line('vsphere-fingerprint'),
      images: 'datumcloud/ubuntu-2204-lts=DC0_H0_VM0',
    };
    const backend = createVsphereBackend({ backendConfig });
    try {
      const ctx = {
        ...fixturesContext({ credentials: { source: 'Secret', data }, config: backendConfig }),
        installation: await installationId(client, defaultSettings()),
      };
      return (await backend.listManaged(ctx)).map((r) => `${r.kind}/${r.id}`);
    } finally {
      await backend.close();
    }
  } finally {
    await client.close();
  }
}

gettingStartedSuite({
  backend: 'vsphere',
  endpointLines: ['vsphere-endpoint'],
  externalIP: false,
  expectReady: ['vm-london-lhr-0'],
  refusedReason: 'UnsupportedRuntime',
  leftovers: vsphereLeftovers,
});
