/**
 * Shared set-up for the vSphere backend tests: a vcsim per test file, a backend with a unique installation,
 * desired-state builders, and an admin vim client straight to vcsim for assertions and server-side actions.
 */
import { randomUUID } from 'node:crypto';
import { VsphereBackend } from '../../src/backends/vsphere/index.ts';
import { SoapTransport } from '../../src/backends/vsphere/transport.ts';
import { VimClient } from '../../src/backends/vsphere/vim.ts';
import { text } from '../../src/backends/vsphere/xml.ts';
import type {
  BackendContext,
  InstanceDesired,
  NetworkDesired,
  ResourceOwner,
  SubnetDesired,
} from '../../src/datum/backend.ts';
import type { Vcsim } from '../../src/localenv/emulators/vcsim/index.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';

export const IMAGE = 'datumcloud/ubuntu-2204-lts';
/** vcsim's default inventory: a VM to clone from (any VM clones; a template works the same way). */
export const TEMPLATE = 'DC0_H0_VM0';

export function backendConfig(sim: Vcsim, extra: Record<string, string> = {}): Record<string, string> {
  return {
    endpoint: sim.endpoint,
    fingerprintSha256: sim.fingerprintSha256,
    images: `${IMAGE}=${TEMPLATE}`,
    ...extra,
  };
}

export interface Harness {
  backend: VsphereBackend;
  ctx: BackendContext;
  installation: string;
}

export function harness(
  sim: Vcsim,
  o: { config?: Record<string, string>; password?: string; signal?: AbortSignal } = {},
): Harness {
  const installation = `test-${randomUUID().slice(0, 8)}`;
  const config = o.config ?? backendConfig(sim);
  return {
    backend: new VsphereBackend({ config }),
    installation,
    ctx: {
      credentials: {
        source: 'Secret',
        data: { username: sim.username, password: o.password ?? sim.password },
      },
      config: {},
      location: { namespace: 'default', name: 'lon', cityCode: 'LON', topology: {} },
      installation,
      log: createLogger({ level: 'warn', sink: () => {} }),
      signal: o.signal ?? new AbortController().signal,
    },
  };
}

export function owner(kind: ResourceOwner['kind'], name: string): ResourceOwner {
  return { cluster: 'test', namespace: 'default', kind, name, uid: randomUUID() };
}

export function network(id: string): NetworkDesired {
  return { id, owner: owner('NetworkContext', id), ipv4Cidr: '10.128.0.0/16', mtu: 1500 };
}

export function subnet(id: string, networkId: string, cidr = '10.128.0.0/24'): SubnetDesired {
  return { id, owner: owner('Subnet', id), networkId, cidr };
}

export function instance(id: string, networkId: string, subnetId: string): InstanceDesired {
  return {
    id,
    owner: owner('Instance', id),
    instanceType: 'datumcloud/d1-standard-2',
    runtime: { kind: 'virtualMachine', image: IMAGE, diskSizeGiB: 10, ports: [], files: [] },
    interfaces: [{ networkId, subnetId, ingress: [] }],
    sshKeys: [{ user: 'ubuntu', key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAItest test@example' }],
    templateHash: 'hash-1',
  };
}

/** A client of its own (its own session) straight to vcsim. */
export function admin(sim: Vcsim): VimClient {
  return new VimClient(new SoapTransport({ endpoint: sim.endpoint, tls: { caPem: sim.caPem } }), {
    username: sim.username,
    password: sim.password,
  });
}

/** Names of the VMs and networks (portgroups) vcsim holds whose name starts with `prefix`. */
export async function inventoryNames(vim: VimClient, prefix = 'datum-'): Promise<string[]> {
  const objs = await vim.list(['VirtualMachine', 'Network'], ['name']);
  return objs
    .map((o) => text(o.props.name) ?? '')
    .filter((n) => n.startsWith(prefix))
    .sort();
}

/** A VM's power state by name, as vcsim reports it (undefined: no such VM). */
export async function vmState(vim: VimClient, name: string): Promise<string | undefined> {
  const vms = await vim.list(['VirtualMachine'], ['name', 'runtime.powerState']);
  return text(vms.find((v) => text(v.props.name) === name)?.props['runtime.powerState']);
}
