/**
 * The backend contract suite with the Proxmox backend on fakepve (HTTPS, pinned certificate fingerprint, API
 * token), on a real control plane. The crash test runs a provider process (`--backend proxmox`) on the same fake.
 */
import { randomUUID } from 'node:crypto';
import { createProxmoxBackend } from '../../src/backends/proxmox/index.ts';
import { type FakePve, startFakePve } from '../../src/localenv/emulators/fakepve/index.ts';
import { providerCommand } from '../../src/testkit/contract/crash.ts';
import { fixturesContext, interfaceHandle } from '../../src/testkit/contract/interface-handle.ts';
import { runContractSuite } from '../../src/testkit/contract/suite.ts';
import { proxmoxConfig } from './proxmox-fixtures.ts';

let pve: FakePve;

runContractSuite({
  name: 'proxmox (fakepve)',
  async makeBackend() {
    pve = await startFakePve();
    const backendConfig = proxmoxConfig(pve, `contract-${randomUUID().slice(0, 8)}`);
    const backend = createProxmoxBackend({ backendConfig });
    const ctx = fixturesContext({
      credentials: { source: 'Secret', data: { tokenId: pve.tokenId, tokenSecret: pve.tokenSecret } },
      config: backendConfig,
    });
    let failing = 0;
    return {
      // The suite's secret value rides along as an extra key (the leak checks look for it); the token is real.
      credentials: (secret: string) => ({
        secretValue: secret,
        tokenId: pve.tokenId,
        tokenSecret: pve.tokenSecret,
      }),
      backend,
      ...interfaceHandle(backend, ctx, { mtu: 1500 }),
      injectInstanceFaults(mode, count) {
        // Both kinds answer container creates; PVE has no throttling, its busy answer is a lock timeout.
        failing += count;
        void pve.control({
          op: 'fail',
          method: 'POST',
          suffix: '/lxc',
          status: mode === 'throttle' ? 503 : 500,
          message:
            mode === 'throttle'
              ? 'Service Unavailable'
              : "can't lock file '/var/lock/pve-manager/pve-storage-local' - got timeout",
          times: failing,
        });
      },
      injectInstanceFailure(_reason, text) {
        void pve.control({
          op: 'fail',
          method: 'POST',
          suffix: '/lxc',
          status: 401,
          message: text,
          times: 1,
        });
      },
      providerProcess(kubeconfig, locationClass, failpoint) {
        return providerCommand({ kubeconfig, locationClass, backend: 'proxmox', backendConfig, failpoint });
      },
      async cleanup() {
        await backend.close();
        await pve.stop();
      },
    };
  },
});
