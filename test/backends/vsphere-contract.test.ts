/**
 * The backend contract suite with the vSphere backend on vcsim (tasks delayed so they are really awaited), on
 * a real control plane. The crash test runs a provider process (`--backend vsphere`) against the same vcsim.
 * Faults are injected by the proxy in front of vcsim: HTTP 503 (an overloaded vCenter) and SOAP faults.
 */
import { randomUUID } from 'node:crypto';
import { VsphereBackend } from '../../src/backends/vsphere/index.ts';
import type { BackendContext, ManagedResource, ResourceOwner } from '../../src/datum/backend.ts';
import { startVcsim, type Vcsim } from '../../src/localenv/emulators/vcsim/index.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';
import { providerCommand } from '../../src/testkit/contract/crash.ts';
import { runContractSuite } from '../../src/testkit/contract/suite.ts';
import { backendConfig, instance } from './vsphere-fixtures.ts';

let sim: Vcsim;

runContractSuite({
  name: 'vsphere (vcsim)',
  async makeBackend() {
    sim = await startVcsim({ methodDelayMs: { CloneVm: 200, PowerOn: 100, Destroy: 100, LockHandoff: 0 } });
    const config = backendConfig(sim, { managedBy: `contract-${randomUUID().slice(0, 8)}` });
    const backend = new VsphereBackend({ config });
    const ctx: BackendContext = {
      credentials: { source: 'Secret', data: { username: sim.username, password: sim.password } },
      config: {},
      location: { namespace: 'default', name: 'fixtures', topology: {} },
      log: createLogger({ level: 'warn', sink: () => {} }),
      signal: new AbortController().signal,
    };
    const fixtureOwner = (kind: ResourceOwner['kind'], name: string): ResourceOwner => ({
      cluster: 'contract-fixtures',
      namespace: 'default',
      kind,
      name,
      uid: randomUUID(),
    });
    let orphanNet: Promise<void> | undefined;
    const ensureOrphanNet = () => {
      orphanNet ??= (async () => {
        await backend.ensureNetwork(ctx, {
          id: 'orphans',
          owner: fixtureOwner('NetworkContext', 'orphans'),
          ipv4Cidr: '10.250.0.0/16',
          mtu: 1500,
        });
        await backend.ensureSubnet(ctx, {
          id: 'orphans-0',
          owner: fixtureOwner('Subnet', 'orphans-0'),
          networkId: 'orphans',
          cidr: '10.250.0.0/24',
        });
      })();
      return orphanNet;
    };
    return {
      // The suite's secret value rides along as an extra key (the leak checks look for it); the login is real.
      credentials: (secret: string) => ({
        secretValue: secret,
        username: sim.username,
        password: sim.password,
      }),
      backend,
      async owned(uid: string): Promise<ManagedResource[]> {
        return (await backend.listManaged(ctx)).filter((r) => r.owner.uid === uid);
      },
      async plantOrphan(owner: ResourceOwner): Promise<string> {
        await ensureOrphanNet();
        const o = await backend.ensureInstance(ctx, {
          ...instance(`orphan-${owner.uid.slice(0, 8)}`, 'orphans', 'orphans-0'),
          owner,
        });
        return o.providerId;
      },
      injectInstanceFaults(mode, count) {
        sim.proxy.plan({
          op: 'CloneVM_Task',
          fault:
            mode === 'throttle'
              ? { kind: 'http', status: 503 }
              : { kind: 'fault', type: 'SystemError', message: 'injected server error' },
          times: count,
        });
      },
      injectInstanceFailure(_reason, text) {
        sim.proxy.plan({
          op: 'CloneVM_Task',
          fault: { kind: 'fault', type: 'NoPermission', message: text },
          times: 1,
        });
      },
      providerProcess(kubeconfig, locationClass, failpoint) {
        return providerCommand({
          kubeconfig,
          locationClass,
          backend: 'vsphere',
          backendConfig: config,
          failpoint,
        });
      },
      async cleanup() {
        await backend.close();
        await sim.stop();
      },
    };
  },
});
