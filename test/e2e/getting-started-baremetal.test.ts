/**
 * The getting-started flow on bare metal (sushy-tools' fake Redfish BMCs): the VM example becomes Ready on a
 * machine of its city; the sandbox examples are refused (no sandbox runtime on bare metal). After deletion every
 * machine is powered off and free, and nothing is recorded for networks.
 */
import {
  BARE_METAL_HOST,
  BARE_METAL_NETWORK,
  type BareMetalHost,
} from '../../src/backends/baremetal/index.ts';
import { SECRET } from '../../src/backends/baremetal/resources.ts';
import { createClient } from '../../src/runtime/client/client.ts';
import { loadKubeconfig } from '../../src/runtime/client/config.ts';
import { gettingStartedSuite } from './getting-started.ts';

/** Hosts not free, machines not off (asked from their BMCs), and network records left. */
async function leftovers(out: string): Promise<string[]> {
  const kubeconfig = /^kubeconfig: (.+)$/m.exec(out)?.[1];
  if (!kubeconfig) throw new Error('no kubeconfig line in the output');
  const client = createClient(loadKubeconfig(kubeconfig));
  try {
    const left: string[] = [];
    for (const h of (await client.list<BareMetalHost>(BARE_METAL_HOST)).items) {
      if ((h.status?.phase ?? 'free') !== 'free' || h.status?.claimedBy)
        left.push(`host/${h.metadata.name} ${h.status?.phase}`);
      const ref = h.spec.bmc.credentialsSecretRef;
      const secret = await client.get<{ metadata: object; data: Record<string, string> }>(
        SECRET,
        ref.name,
        ref.namespace,
      );
      const user = Buffer.from(secret.data.username!, 'base64').toString();
      const pass = Buffer.from(secret.data.password!, 'base64').toString();
      const res = await fetch(h.spec.bmc.address, {
        headers: { authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` },
      });
      const power = ((await res.json()) as { PowerState?: string }).PowerState;
      if (power !== 'Off') left.push(`machine/${h.metadata.name} power ${power}`);
    }
    for (const r of (await client.list(BARE_METAL_NETWORK)).items) left.push(`record/${r.metadata.name}`);
    return left;
  } finally {
    await client.close();
  }
}

gettingStartedSuite({
  backend: 'baremetal',
  endpointLines: ['redfish-endpoint'],
  externalIP: false,
  expectReady: ['vm-london-lhr-0'],
  refusedReason: 'UnsupportedRuntime',
  leftovers,
});
