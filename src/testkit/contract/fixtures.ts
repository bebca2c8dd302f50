/** Upstream objects as Datum's operators would create them, for tests that play upstream's role by hand. */

import {
  INSTANCE,
  LOCATION,
  NAMESPACE,
  NETWORK,
  NETWORK_CONTEXT,
  SUBNET,
} from '../../datum/api/resources.ts';
import type { Instance } from '../../datum/api/types.ts';
import { CITY_CODE_KEY, networkContextName, subnetName } from '../../datum/classic.ts';
import type { HttpClient } from '../../runtime/client/client.ts';
import { isAlreadyExists } from '../../runtime/client/errors.ts';
import type { KubeObject } from '../../runtime/client/types.ts';

export async function ensureNamespace(c: HttpClient, name: string): Promise<void> {
  await c
    .create(NAMESPACE, { metadata: { name } })
    .catch((e) => (isAlreadyExists(e) ? undefined : Promise.reject(e)));
}

export async function createLocation(
  c: HttpClient,
  ns: string,
  name: string,
  className: string,
  city = 'DFW',
): Promise<KubeObject> {
  return c.create(LOCATION, {
    metadata: { name, namespace: ns },
    spec: { locationClassName: className, topology: { [CITY_CODE_KEY]: city }, provider: {} },
  });
}

export async function createNetwork(c: HttpClient, ns: string, name = 'default'): Promise<KubeObject> {
  return c.create(NETWORK, { metadata: { name, namespace: ns }, spec: { ipam: { mode: 'Auto' } } });
}

/** What NSO does for a network in a location: a NetworkContext and (via compute's claim) an allocated Subnet. */
export async function createNetworking(
  c: HttpClient,
  ns: string,
  network: string,
  loc: { name: string; namespace: string },
  cidr = '10.128.0.0/20',
): Promise<{ ctx: KubeObject; subnet: KubeObject }> {
  const ctxName = networkContextName(network, loc);
  const ctx = await c.create(NETWORK_CONTEXT, {
    metadata: { name: ctxName, namespace: ns },
    spec: { network: { name: network }, location: loc },
  });
  let subnet = await c.create(SUBNET, {
    metadata: { name: subnetName(ctxName), namespace: ns },
    spec: {
      subnetClass: 'private',
      networkContext: { name: ctxName },
      location: loc,
      ipFamily: 'IPv4',
      startAddress: '',
      prefixLength: 0,
    },
  });
  const [start, prefix] = cidr.split('/');
  subnet = await c.patchStatus(SUBNET, subnet.metadata.name!, ns, {
    type: 'merge',
    patch: {
      status: {
        startAddress: start,
        prefixLength: Number(prefix),
        conditions: [
          {
            type: 'Allocated',
            status: 'True',
            reason: 'PrefixAllocated',
            message: 'allocated',
            lastTransitionTime: new Date().toISOString().slice(0, 19) + 'Z',
          },
        ],
      },
    },
  });
  return { ctx, subnet };
}

/**
 * A project namespace as upstream would leave it for an Instance: a Location of the given class and city, the
 * `default` Network, and its programmed-to-be NetworkContext with an allocated Subnet. Returns the Location.
 */
export async function seedProject(
  c: HttpClient,
  ns: string,
  loc: { name: string; className: string; city: string; cidr?: string },
): Promise<{ name: string; namespace: string }> {
  await ensureNamespace(c, ns);
  await createLocation(c, ns, loc.name, loc.className, loc.city);
  await createNetwork(c, ns);
  const where = { name: loc.name, namespace: ns };
  await createNetworking(c, ns, 'default', where, loc.cidr);
  return where;
}

export interface InstanceFixture {
  name: string;
  namespace: string;
  location: { name: string; namespace: string };
  runtime?: 'sandbox' | 'virtualMachine' | 'none';
  instanceType?: string;
  gates?: string[];
  templateHash?: string;
  image?: string;
  /** Whether the interface carries a network policy (default true; false for backends without the feature). */
  networkPolicy?: boolean;
}

export function instanceObject(f: InstanceFixture): Instance {
  const runtime = f.runtime ?? 'sandbox';
  const volumes =
    runtime === 'virtualMachine'
      ? [
          {
            name: 'boot',
            disk: {
              template: {
                spec: { type: 'pd-standard', populator: { image: { name: 'datumcloud/ubuntu-2204-lts' } } },
              },
            },
          },
        ]
      : [];
  return {
    metadata: {
      name: f.name,
      namespace: f.namespace,
      annotations:
        runtime === 'virtualMachine'
          ? {
              'compute.datumapis.com/ssh-keys':
                'ubuntu:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAItest test@example',
            }
          : undefined,
    },
    spec: {
      runtime: {
        resources: { instanceType: f.instanceType ?? 'datumcloud/d1-standard-2' },
        sandbox:
          runtime === 'sandbox'
            ? {
                containers: [
                  { name: 'app', image: f.image ?? 'nginx:1.27', ports: [{ name: 'http', port: 80 }] },
                ],
              }
            : undefined,
        virtualMachine:
          runtime === 'virtualMachine'
            ? { volumeAttachments: [{ name: 'boot' }], ports: [{ name: 'ssh', port: 22 }] }
            : undefined,
      },
      networkInterfaces: [
        {
          network: { name: 'default' },
          networkPolicy:
            f.networkPolicy === false
              ? undefined
              : {
                  ingress: [
                    {
                      ports: [{ port: runtime === 'virtualMachine' ? 'ssh' : 'http' }],
                      from: [{ ipBlock: { cidr: '0.0.0.0/0' } }],
                    },
                  ],
                },
        },
      ],
      volumes,
      location: f.location,
      controller: {
        templateHash: f.templateHash ?? 'hash-1',
        schedulingGates: (f.gates ?? []).map((name) => ({ name })),
      },
    },
  };
}

export function createInstance(c: HttpClient, f: InstanceFixture): Promise<Instance> {
  return c.create<Instance>(INSTANCE, instanceObject(f));
}
