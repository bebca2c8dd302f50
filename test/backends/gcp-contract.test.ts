/**
 * The backend contract suite with the GCP backend on gcplocal (through our realism and fault proxy), on a real
 * control plane. The crash test runs a provider process (`--backend gcp`) against the same emulator.
 */
import { randomUUID } from 'node:crypto';
import { createGcpBackend } from '../../src/backends/gcp/index.ts';
import type { BackendContext, ManagedResource, ResourceOwner } from '../../src/datum/backend.ts';
import { startGceEmulator } from '../../src/localenv/emulators/gcplocal/index.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';
import { providerCommand } from '../../src/testkit/contract/crash.ts';
import { runContractSuite } from '../../src/testkit/contract/suite.ts';

runContractSuite({
  name: 'gcp (gcplocal)',
  async makeBackend() {
    const emu = await startGceEmulator();
    const backendConfig = {
      endpoint: emu.endpoint,
      project: emu.project,
      region: emu.region,
      managedBy: `contract-${randomUUID().slice(0, 8)}`,
    };
    const backend = createGcpBackend({ backendConfig });
    const ctx: BackendContext = {
      credentials: { source: 'InjectedIdentity' },
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
        // Firewalls are part of their instance (a firewall left without its instance is listed as one too).
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
          action: 'instances.insert',
          fault: mode === 'throttle' ? { kind: 'throttle' } : { kind: 'internalError' },
          times: count,
        });
      },
      injectInstanceFailure(_reason, text) {
        emu.proxy.plan({
          action: 'instances.insert',
          fault: { kind: 'error', status: 401, reason: 'authError', message: text },
          times: 1,
        });
      },
      providerProcess(kubeconfig, locationClass, failpoint) {
        return providerCommand({ kubeconfig, locationClass, backend: 'gcp', backendConfig, failpoint });
      },
      async cleanup() {
        await backend.close();
        await emu.stop();
      },
    };
  },
});
