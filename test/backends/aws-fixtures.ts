/**
 * Shared set-up for the AWS backend tests: an emulator per test file, a backend with a unique managed-by
 * tag, desired-state builders, and a direct EC2 client to moto (bypassing the fault proxy) for assertions.
 */
import { randomUUID } from 'node:crypto';
import {
  DescribeInstancesCommand,
  DescribeInternetGatewaysCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
  type Instance,
} from '@aws-sdk/client-ec2';
import { AwsBackend, type AwsBackendOptions, TAG_MANAGED_BY } from '../../src/backends/aws/index.ts';
import type {
  BackendContext,
  FileContent,
  InstanceDesired,
  NetworkDesired,
  ResourceOwner,
  RuntimeDesired,
  SubnetDesired,
} from '../../src/datum/backend.ts';
import type { Ec2Emulator } from '../../src/localenv/emulators/moto/index.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';

export const ACCESS_KEY_ID = 'AKIATESTKEY00000001';
export const SECRET_ACCESS_KEY = 'wJalrXUtnFEMI-secret-access-key-never-logged';
export const INSTANCE_PROFILE = 'datum-instance';

export interface Harness {
  backend: AwsBackend;
  ctx: BackendContext;
  logs: string[];
  managedBy: string;
  moto: EC2Client;
}

export function harness(
  emu: Ec2Emulator,
  opts: AwsBackendOptions = {},
  config: Record<string, string> = {},
): Harness {
  const managedBy = `test-${randomUUID().slice(0, 8)}`;
  const logs: string[] = [];
  const backend = new AwsBackend({
    managedBy,
    instanceProfile: INSTANCE_PROFILE,
    images: { 'datumcloud/ubuntu-2204-lts': 'ami-0123456789abcdef0#/dev/sda1' },
    containerHost: 'ami-0fedcba9876543210#/dev/xvda',
    ...opts,
  });
  const ctx: BackendContext = {
    credentials: {
      source: 'Secret',
      data: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
    },
    region: emu.region,
    config: { endpoint: emu.endpoint, ...config },
    location: {
      namespace: 'default',
      name: 'aws-us-east-1',
      topology: { 'topology.datum.net/city-code': 'IAD' },
    },
    log: createLogger({ level: 'debug', sink: (l) => logs.push(l) }),
    signal: new AbortController().signal,
  };
  const moto = new EC2Client({
    region: emu.region,
    endpoint: emu.motoEndpoint,
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  return { backend, ctx, logs, managedBy, moto };
}

export function owner(kind: ResourceOwner['kind'], name: string): ResourceOwner {
  return { cluster: 'project-a', namespace: 'default', kind, name, uid: randomUUID() };
}

export function network(id = 'net-1', ipv4Cidr = '10.128.0.0/9'): NetworkDesired {
  return { id, owner: owner('NetworkContext', id), ipv4Cidr, mtu: 1460 };
}

export function subnet(id = 'sub-1', networkId = 'net-1', cidr = '10.128.0.0/24'): SubnetDesired {
  return { id, owner: owner('Subnet', id), networkId, cidr };
}

export function vmRuntime(files: FileContent[] = []): RuntimeDesired {
  return { kind: 'virtualMachine', image: 'datumcloud/ubuntu-2204-lts', diskSizeGiB: 25, ports: [], files };
}

export function instance(id = 'inst-1', over: Partial<InstanceDesired> = {}): InstanceDesired {
  return {
    id,
    owner: owner('Instance', id),
    instanceType: 'datumcloud/d1-standard-2',
    runtime: vmRuntime(),
    interfaces: [
      {
        networkId: 'net-1',
        subnetId: 'sub-1',
        ingress: [{ ports: [{ protocol: 'TCP', port: 22 }], from: [] }],
      },
    ],
    sshKeys: [{ user: 'datum', key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample datum@example' }],
    templateHash: 'h1',
    ...over,
  };
}

/** Ensures network + subnet (the instance's prerequisites). */
export async function ensureBase(h: Harness): Promise<void> {
  await h.backend.ensureNetwork(h.ctx, network());
  await h.backend.ensureSubnet(h.ctx, subnet());
}

const LIVE = ['pending', 'running', 'stopping', 'stopped', 'shutting-down'];

/** What moto holds for our tag, read directly (no proxy faults, no state rewriting). */
export async function owned(h: Harness): Promise<{
  instances: Instance[];
  vpcs: number;
  subnets: number;
  groups: number;
  gateways: number;
}> {
  const f = [{ Name: `tag:${TAG_MANAGED_BY}`, Values: [h.managedBy] }];
  const inst = await h.moto.send(
    new DescribeInstancesCommand({ Filters: [...f, { Name: 'instance-state-name', Values: LIVE }] }),
  );
  const vpcs = await h.moto.send(new DescribeVpcsCommand({ Filters: f }));
  const subnets = await h.moto.send(new DescribeSubnetsCommand({ Filters: f }));
  const groups = await h.moto.send(new DescribeSecurityGroupsCommand({ Filters: f }));
  const gateways = await h.moto.send(new DescribeInternetGatewaysCommand({ Filters: f }));
  return {
    instances: (inst.Reservations ?? []).flatMap((r) => r.Instances ?? []),
    vpcs: vpcs.Vpcs?.length ?? 0,
    subnets: subnets.Subnets?.length ?? 0,
    groups: groups.SecurityGroups?.length ?? 0,
    gateways: gateways.InternetGateways?.length ?? 0,
  };
}

/** Calls `fn` until it reports gone (the reconciler's loop), at most `max` times. */
export async function untilGone(fn: () => Promise<{ gone: boolean }>, max = 10): Promise<number> {
  for (let i = 1; i <= max; i++) if ((await fn()).gone) return i;
  throw new Error(`not gone after ${max} calls`);
}
