/**
 * The parts of a contract handle any backend can have through the Backend interface alone: a context for the
 * fixtures, `owned` (what `listManaged` says a UID owns; firewalls count as part of their instance) and
 * `plantOrphan` (an instance whose owner does not exist upstream, in a fixtures network nobody engages).
 * A backend whose platform can be read directly may still prefer its own `owned`.
 */
import { randomUUID } from 'node:crypto';
import type {
  Backend,
  BackendContext,
  Credentials,
  ManagedResource,
  ResourceOwner,
  RuntimeDesired,
} from '../../datum/backend.ts';
import { createLogger } from '../../runtime/log/logger.ts';

export function fixturesContext(o: {
  config: Readonly<Record<string, string>>;
  credentials: Credentials;
  region?: string;
}): BackendContext {
  return {
    credentials: o.credentials,
    region: o.region,
    config: o.config,
    location: { namespace: 'default', name: 'fixtures', topology: {} },
    log: createLogger({ level: 'warn', sink: () => {} }),
    signal: new AbortController().signal,
  };
}

export interface InterfaceHandleOptions {
  /** The runtime of planted orphans (default: a sandbox where the backend has one, else a VM). */
  orphanRuntime?: RuntimeDesired;
  mtu?: number;
}

export function interfaceHandle(
  backend: Backend,
  ctx: BackendContext,
  opts: InterfaceHandleOptions = {},
): {
  owned(uid: string): Promise<ManagedResource[]>;
  plantOrphan(owner: ResourceOwner): Promise<string>;
} {
  const fixtureOwner = (kind: ResourceOwner['kind'], name: string): ResourceOwner => ({
    cluster: 'contract-fixtures',
    namespace: 'default',
    kind,
    name,
    uid: randomUUID(),
  });
  let orphanSubnet: Promise<void> | undefined;
  const ensureOrphanSubnet = () => {
    orphanSubnet ??= (async () => {
      await backend.ensureNetwork(ctx, {
        id: 'orphans',
        owner: fixtureOwner('NetworkContext', 'orphans'),
        ipv4Cidr: '10.250.0.0/16',
        mtu: opts.mtu ?? 1460,
      });
      await backend.ensureSubnet(ctx, {
        id: 'orphans-0',
        owner: fixtureOwner('Subnet', 'orphans-0'),
        networkId: 'orphans',
        cidr: '10.250.0.0/24',
      });
    })().catch((err) => {
      orphanSubnet = undefined;
      throw err;
    });
    return orphanSubnet;
  };
  const runtime = (): RuntimeDesired => {
    if (opts.orphanRuntime) return opts.orphanRuntime;
    const caps = backend.capabilities(ctx.config);
    return caps.runtimes.includes('sandbox')
      ? { kind: 'sandbox', containers: [{ name: 'ghost', image: 'busybox', env: [], ports: [], files: [] }] }
      : {
          kind: 'virtualMachine',
          image: caps.images?.[0] ?? 'datumcloud/ubuntu-2204-lts',
          diskSizeGiB: 10,
          ports: [],
          files: [],
        };
  };
  return {
    async owned(uid) {
      return (await backend.listManaged(ctx)).filter((r) => r.owner.uid === uid && r.kind !== 'firewall');
    },
    async plantOrphan(owner) {
      await ensureOrphanSubnet();
      const o = await backend.ensureInstance(ctx, {
        id: `orphan-${owner.uid}`,
        owner,
        instanceType: 'datumcloud/d1-standard-2',
        runtime: runtime(),
        interfaces: [{ networkId: 'orphans', subnetId: 'orphans-0', ingress: [] }],
        sshKeys: [],
        templateHash: 'orphan',
      });
      return o.providerId;
    },
  };
}
