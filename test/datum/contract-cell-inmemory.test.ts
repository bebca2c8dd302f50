/** The cell-generation contract suite against the in-memory backend, on a real control plane. */
import { InMemoryBackend } from '../../src/backends/inmemory/backend.ts';
import { runContractSuite } from '../../src/testkit/contract/suite.ts';

runContractSuite({
  name: 'inmemory',
  generation: 'cell',
  async makeBackend() {
    const backend = new InMemoryBackend({ pendingMs: 300, stoppingMs: 300 });
    const all = () => {
      const s = backend.snapshot();
      return [
        ...s.instances.map((r) => ({ kind: 'instance' as const, ...r })),
        ...s.subnets.map((r) => ({ kind: 'subnet' as const, ...r })),
        ...s.networks.map((r) => ({ kind: 'network' as const, ...r })),
      ];
    };
    return {
      backend,
      async owned(uid) {
        return all()
          .filter((r) => r.owner.uid === uid)
          .map((r) => ({ kind: r.kind, id: r.id, providerId: r.providerId, owner: r.owner }));
      },
      async plantOrphan(owner) {
        return backend.plantOrphan(owner);
      },
      async powerState(uid) {
        const inst = backend.snapshot().instances.find((i) => i.owner.uid === uid);
        return inst ? backend.powerStateOf(inst.id) : undefined;
      },
      async cleanup() {},
    };
  },
});
