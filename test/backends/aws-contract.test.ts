/**
 * The backend contract suite with the AWS backend on moto (through the fault proxy), on a real control plane.
 * The crash test runs a provider process (`--backend aws`) against the same emulator.
 */
import { randomUUID } from 'node:crypto';
import { createAwsBackend } from '../../src/backends/aws/index.ts';
import type { BackendContext, ManagedResource, ResourceOwner } from '../../src/datum/backend.ts';
import { startEc2Emulator } from '../../src/localenv/emulators/moto/index.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';
import { providerCommand } from '../../src/testkit/contract/crash.ts';
import { runContractSuite } from '../../src/testkit/contract/suite.ts';

const PROFILE = 'datum-instance';

runContractSuite({
  name: 'aws (moto)',
  async makeBackend() {
    const emu = await startEc2Emulator();
    await emu.createInstanceProfile(PROFILE);
    const backendConfig = {
      endpoint: emu.endpoint,
      instanceProfile: PROFILE,
      managedBy: `contract-${randomUUID().slice(0, 8)}`,
      images: 'datumcloud/ubuntu-2204-lts=ami-0123456789abcdef0#/dev/sda1',
      containerHostImage: 'ami-0fedcba9876543210#/dev/xvda',
    };
    const backend = createAwsBackend({ backendConfig });
    const ctx: BackendContext = {
      credentials: {
        source: 'Secret',
        data: { accessKeyId: 'AKIDHANDLE', secretAccessKey: 'handle-secret' },
      },
      region: emu.region,
      config: backendConfig,
      location: { namespace: 'default', name: 'fixtures', topology: {} },
      log: createLogger({ level: 'warn', sink: () => {} }),
      signal: new AbortController().signal,
    };
    // A network of a cluster nobody engages, to hold planted orphans (the sweeper never touches it).
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
          mtu: 1460,
        });
        await backend.ensureSubnet(ctx, {
          id: 'orphans-0',
          owner: fixtureOwner('Subnet', 'orphans-0'),
          networkId: 'orphans',
          cidr: '10.250.0.0/24',
        });
      })();
      return orphanSubnet;
    };
    return {
      backend,
      async owned(uid: string): Promise<ManagedResource[]> {
        // Firewalls are part of their instance (the in-memory backend has none). A firewall left without its
        // instance is still listed, as a partial instance.
        return (await backend.listManaged(ctx)).filter((r) => r.owner.uid === uid && r.kind !== 'firewall');
      },
      async plantOrphan(owner: ResourceOwner): Promise<string> {
        await ensureOrphanSubnet();
        const o = await backend.ensureInstance(ctx, {
          id: `orphan-${owner.uid}`,
          owner,
          instanceType: 'datumcloud/d1-standard-2',
          runtime: {
            kind: 'sandbox',
            containers: [{ name: 'ghost', image: 'busybox', env: [], ports: [], files: [] }],
          },
          interfaces: [{ networkId: 'orphans', subnetId: 'orphans-0', ingress: [] }],
          sshKeys: [],
          templateHash: 'orphan',
        });
        return o.providerId;
      },
      injectInstanceFaults(mode, count) {
        emu.proxy.plan({
          action: 'RunInstances',
          fault: mode === 'throttle' ? { kind: 'throttle' } : { kind: 'internalError' },
          times: count,
        });
      },
      injectInstanceFailure(_reason, text) {
        emu.proxy.plan({
          action: 'RunInstances',
          fault: { kind: 'error', status: 401, code: 'AuthFailure', message: text },
          times: 1,
        });
      },
      providerProcess(kubeconfig, locationClass, failpoint) {
        return providerCommand({
          kubeconfig,
          locationClass,
          backend: 'aws',
          backendConfig: backendConfig,
          failpoint,
        });
      },
      async cleanup() {
        await backend.close();
        await emu.stop();
      },
    };
  },
});
