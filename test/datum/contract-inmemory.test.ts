/** The backend contract suite against the in-memory backend, on a real control plane. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemoryBackend } from '../../src/backends/inmemory/backend.ts';
import { providerCommand } from '../../src/testkit/contract/crash.ts';
import { runContractSuite } from '../../src/testkit/contract/suite.ts';

runContractSuite({
  name: 'inmemory',
  async makeBackend() {
    // State in a file so a provider process (the crash test) and this process share one "cloud".
    const dir = mkdtempSync(join(tmpdir(), 'inmemory-contract-'));
    const stateFile = join(dir, 'state.json');
    const backend = new InMemoryBackend({ stateFile, pendingMs: 300, stoppingMs: 300 });
    const live = () => backend.snapshot();
    return {
      backend,
      async owned(uid) {
        const s = live();
        return [
          ...s.instances.map((r) => ({
            kind: 'instance' as const,
            id: r.id,
            providerId: r.providerId,
            owner: r.owner,
          })),
          ...s.subnets.map((r) => ({
            kind: 'subnet' as const,
            id: r.id,
            providerId: r.providerId,
            owner: r.owner,
          })),
          ...s.networks.map((r) => ({
            kind: 'network' as const,
            id: r.id,
            providerId: r.providerId,
            owner: r.owner,
          })),
        ].filter((r) => r.owner.uid === uid);
      },
      async plantOrphan(owner) {
        return backend.plantOrphan(owner);
      },
      injectInstanceFaults(mode, count) {
        backend.injectFault({ op: 'ensureInstance', mode, times: count, reason: 'Transient' });
      },
      injectInstanceFailure(reason, text) {
        backend.injectFault({ op: 'ensureInstance', mode: 'error', reason, message: text, times: 1 });
      },
      providerProcess(kubeconfig, locationClass, failpoint) {
        return providerCommand({
          kubeconfig,
          locationClass,
          backend: 'inmemory',
          backendConfig: { stateFile, pendingMs: '300', stoppingMs: '300' },
          failpoint,
        });
      },
      async cleanup() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
