/**
 * BareMetalHost manifests (and the BMC credentials Secret they name) for an emulated BMC farm: what an operator
 * would write into the provider's home cluster for real machines (docs/baremetal.md).
 */
import { BARE_METAL_HOST, SECRET } from '../../../backends/baremetal/resources.ts';
import type { HttpClient } from '../../../runtime/client/client.ts';
import { isNotFound } from '../../../runtime/client/errors.ts';
import type { KubeObject } from '../../../runtime/client/types.ts';
import type { RedfishEmulator } from './emulator.ts';

export interface HostSpec {
  /** The emulated system's name (also the BareMetalHost's name). */
  name: string;
  site?: Record<string, string>;
  cpu?: number;
  memoryGiB?: number;
  gpus?: number;
  addresses?: string[];
}

export function hostManifests(
  emu: RedfishEmulator,
  hosts: HostSpec[],
  secret: { namespace: string; name: string; user?: { username: string; password: string } },
): KubeObject[] {
  const user = secret.user ?? emu.users[0]!;
  return [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: secret.name, namespace: secret.namespace },
      stringData: { username: user.username, password: user.password },
    } as KubeObject,
    ...hosts.map(
      (h) =>
        ({
          apiVersion: 'infra.provider-ts.io/v1alpha1',
          kind: 'BareMetalHost',
          metadata: { name: h.name },
          spec: {
            bmc: {
              address: emu.systemUrl(h.name),
              credentialsSecretRef: { namespace: secret.namespace, name: secret.name },
            },
            bootMACAddress: emu.systems.find((s) => s.name === h.name)?.mac,
            capacity: { cpu: h.cpu ?? 4, memoryGiB: h.memoryGiB ?? 16, gpus: h.gpus ?? 0 },
            site: h.site ?? {},
            addresses: h.addresses ?? [],
          },
        }) as KubeObject,
    ),
  ];
}

/** Creates (or replaces the spec of) the hosts and their Secret in the home cluster. */
export async function applyInventory(client: HttpClient, objects: KubeObject[]): Promise<void> {
  for (const o of objects) {
    const r = o.kind === 'Secret' ? SECRET : BARE_METAL_HOST;
    const existing = await client
      .get(r, o.metadata.name!, o.metadata.namespace)
      .catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)));
    if (!existing) await client.create(r, o);
    else
      await client.update(r, {
        ...o,
        metadata: { ...o.metadata, resourceVersion: existing.metadata.resourceVersion },
      });
  }
}
