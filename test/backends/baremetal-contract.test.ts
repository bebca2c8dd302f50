/**
 * The backend contract suite with the bare-metal backend: sushy-tools' fake Redfish BMCs (behind our fault
 * proxy) and BareMetalHosts in the suite's control plane, which is the provider's home cluster. Bare metal has
 * no sandbox runtime, so the suite's plain Instances are VMs and its sandbox Instance is refused.
 */
import { randomUUID } from 'node:crypto';
import {
  BARE_METAL_HOST,
  BARE_METAL_NETWORK,
  BareMetalBackend,
  type BareMetalHost,
} from '../../src/backends/baremetal/index.ts';
import type { BareMetalNetwork } from '../../src/backends/baremetal/resources.ts';
import type { BackendContext, ManagedResource, ResourceOwner } from '../../src/datum/backend.ts';
import { installationId } from '../../src/datum/installation.ts';
import { defaultSettings } from '../../src/datum/settings.ts';
import { applyAll } from '../../src/localenv/apply.ts';
import {
  applyInventory,
  hostManifests,
  startRedfishEmulator,
} from '../../src/localenv/emulators/sushy/index.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';
import { providerCommand } from '../../src/testkit/contract/crash.ts';
import { runContractSuite } from '../../src/testkit/contract/suite.ts';

const DFW = { 'topology.datum.net/city-code': 'DFW' };
const LHR = { 'topology.datum.net/city-code': 'LHR' };
// Both projects' subnets (10.128.0.0/20, 10.130.0.0/20) and the crash test's LHR one (10.132.0.0/20).
const HOSTS = [
  ...Array.from({ length: 10 }, (_, i) => ({
    name: `dfw-${i}`,
    site: DFW,
    addresses: [`10.128.0.${10 + i}`, `10.130.0.${10 + i}`],
  })),
  ...Array.from({ length: 2 }, (_, i) => ({
    name: `lhr-${i}`,
    site: LHR,
    addresses: [`10.132.0.${10 + i}`],
  })),
];

runContractSuite({
  name: 'baremetal (sushy-tools)',
  async makeBackend({ home }) {
    const emu = await startRedfishEmulator({ systems: HOSTS.map((h) => ({ name: h.name })) });
    await applyAll(home, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bmc' } }]);
    await applyInventory(home, hostManifests(emu, HOSTS, { namespace: 'bmc', name: 'bmc-admin' }));
    const backendConfig = {
      images: `datumcloud/ubuntu-2204-lts=${emu.imageBaseUrl}ubuntu-2204-lts.iso`,
      // The emulator applies power changes 1-11 s later; ask again only after that.
      powerRetryMs: '15000',
    };
    const backend = new BareMetalBackend({ home, config: backendConfig });
    // Planted orphans carry the provider's installation, as its own resources do.
    const installation = await installationId(home, defaultSettings());
    const ctx: BackendContext = {
      credentials: { source: 'InjectedIdentity' },
      config: backendConfig,
      location: { namespace: 'fixtures', name: 'dfw', topology: DFW },
      installation,
      log: createLogger({ level: 'warn', sink: () => {} }),
      signal: new AbortController().signal,
    };
    return {
      backend,
      async owned(uid: string): Promise<ManagedResource[]> {
        const hosts = (await home.list<BareMetalHost>(BARE_METAL_HOST)).items;
        const records = (await home.list<BareMetalNetwork>(BARE_METAL_NETWORK)).items;
        return [
          ...hosts
            .filter((h) => h.status?.claimedBy && h.status.owner?.uid === uid)
            .map((h) => ({
              kind: 'instance' as const,
              id: h.status!.claimedBy!,
              providerId: h.metadata.name!,
              owner: h.status!.owner!,
            })),
          ...records
            .filter((r) => r.spec.owner?.uid === uid)
            .map((r) => ({
              kind: r.spec.type,
              id: r.metadata.name!,
              providerId: r.metadata.name!,
              owner: r.spec.owner!,
            })),
        ];
      },
      async plantOrphan(owner: ResourceOwner): Promise<string> {
        const o = await backend.ensureInstance(ctx, {
          id: `inst-${owner.uid}`,
          owner,
          instanceType: 'datumcloud/d1-standard-2',
          runtime: {
            kind: 'virtualMachine',
            image: 'datumcloud/ubuntu-2204-lts',
            diskSizeGiB: 20,
            ports: [],
            files: [],
          },
          interfaces: [{ networkId: 'orphans', subnetId: `orphans-${randomUUID()}`, ingress: [] }],
          sshKeys: [],
          templateHash: 'orphan',
        });
        return o.providerId;
      },
      injectInstanceFaults(mode, count) {
        emu.proxy.plan({
          method: 'POST',
          path: 'VirtualMedia.InsertMedia',
          fault: { kind: 'status', status: mode === 'throttle' ? 429 : 503 },
          times: count,
        });
      },
      injectInstanceFailure(_reason, text) {
        emu.proxy.plan({
          method: 'POST',
          path: 'VirtualMedia.InsertMedia',
          fault: { kind: 'status', status: 401, message: text },
          times: 1,
        });
      },
      providerProcess(kubeconfig, locationClass, failpoint) {
        return providerCommand({ kubeconfig, locationClass, backend: 'baremetal', backendConfig, failpoint });
      },
      async cleanup() {
        await backend.close();
        await emu.stop();
      },
    };
  },
});
