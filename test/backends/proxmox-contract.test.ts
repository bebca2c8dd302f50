/**
 * The backend contract suite with the Proxmox backend on fakepve (HTTPS, pinned certificate fingerprint, API
 * token), on a real control plane. The crash test runs a provider process (`--backend proxmox`) on the same fake.
 */
import { randomUUID } from 'node:crypto';
import { createProxmoxBackend } from '../../src/backends/proxmox/index.ts';
import type { BackendContext, ManagedResource, ResourceOwner } from '../../src/datum/backend.ts';
import { type FakePve, startFakePve, TEMPLATE_VMID } from '../../src/localenv/emulators/fakepve/index.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';
import { providerCommand } from '../../src/testkit/contract/crash.ts';
import { runContractSuite } from '../../src/testkit/contract/suite.ts';

let pve: FakePve;

export function proxmoxConfig(p: FakePve, managedBy: string): Record<string, string> {
  return {
    endpoint: p.endpoint,
    fingerprint: p.fingerprint,
    managedBy,
    images: `datumcloud/ubuntu-2204-lts=${TEMPLATE_VMID}`,
    containerImages:
      'nginx:1.27=local:vztmpl/nginx-1.27.tar,nginx:1.28=local:vztmpl/nginx-1.27.tar,busybox=local:vztmpl/busybox.tar',
    placement: 'DFW=pve1|pve2,LHR=pve3',
    nodes: 'pve1|pve2|pve3',
  };
}

runContractSuite({
  name: 'proxmox (fakepve)',
  async makeBackend() {
    pve = await startFakePve();
    const backendConfig = proxmoxConfig(pve, `contract-${randomUUID().slice(0, 8)}`);
    const backend = createProxmoxBackend({ backendConfig });
    const ctx: BackendContext = {
      credentials: { source: 'Secret', data: { tokenId: pve.tokenId, tokenSecret: pve.tokenSecret } },
      config: backendConfig,
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
    let orphanSubnet: Promise<void> | undefined;
    const ensureOrphanSubnet = () => {
      orphanSubnet ??= (async () => {
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
      return orphanSubnet;
    };
    let failing = 0;
    return {
      // The suite's secret value rides along as an extra key (the leak checks look for it); the token is real.
      credentials: (secret: string) => ({
        secretValue: secret,
        tokenId: pve.tokenId,
        tokenSecret: pve.tokenSecret,
      }),
      backend,
      async owned(uid: string): Promise<ManagedResource[]> {
        return (await backend.listManaged(ctx)).filter((r) => r.owner.uid === uid);
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
