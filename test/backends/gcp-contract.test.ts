/**
 * The backend contract suite with the GCP backend on gcplocal (through our realism and fault proxy), on a real
 * control plane. The crash test runs a provider process (`--backend gcp`) against the same emulator.
 */
import { randomUUID } from 'node:crypto';
import { createGcpBackend } from '../../src/backends/gcp/index.ts';
import { startGceEmulator } from '../../src/localenv/emulators/gcplocal/index.ts';
import { providerCommand } from '../../src/testkit/contract/crash.ts';
import { fixturesContext, interfaceHandle } from '../../src/testkit/contract/interface-handle.ts';
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
    const ctx = fixturesContext({
      credentials: { source: 'InjectedIdentity' },
      region: emu.region,
      config: backendConfig,
    });
    return {
      backend,
      ...interfaceHandle(backend, ctx),
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
