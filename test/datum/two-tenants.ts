/**
 * Two Milo projects with separate accounts, for the per-project credentials tests: project A's control plane
 * is also the discovery and home cluster (ProviderConfigs, Secrets); project B has its own. ProviderConfig
 * `tenant-a` (Secret `creds-a`) serves only proj-a and also lists the city DFW, so that B's Location there
 * would select it and must be refused; `tenant-b` (Secret `creds-b`) serves only proj-b.
 */
import { SECRET } from '../../src/datum/api/resources.ts';
import { PROVIDER_CONFIG } from '../../src/datum/providerconfig.ts';
import type { HttpClient } from '../../src/runtime/client/client.ts';
import { PROJECT } from '../../src/runtime/multicluster/providers.ts';
import { ensureNamespace } from '../../src/testkit/contract/fixtures.ts';
import { OUR_CRDS } from '../../src/testkit/contract/suite.ts';
import { ControlPlane, DATUM_CRDS } from '../../src/testkit/index.ts';
import { type MiloProxy, startMiloProxy } from '../runtime/fixtures/milo-proxy.ts';
import { PROJECT_CRD } from '../runtime/fixtures/project-crd.ts';

export interface TwoTenants {
  /** Discovery, home and project A. */
  home: ControlPlane;
  cpB: ControlPlane;
  milo: MiloProxy;
  stop(): Promise<void>;
}

export async function startTwoTenants(token: { a: string; b: string }): Promise<TwoTenants> {
  const [home, cpB] = await Promise.all([
    ControlPlane.start({ crdDirs: [PROJECT_CRD, OUR_CRDS, DATUM_CRDS.compute, DATUM_CRDS.networkClassic] }),
    ControlPlane.start({ crdDirs: [DATUM_CRDS.compute, DATUM_CRDS.networkClassic] }),
  ]);
  const h = home.client();
  await ensureNamespace(h, 'provider-system');
  for (const p of ['a', 'b'] as const)
    await h.create(SECRET, {
      metadata: { name: `creds-${p}`, namespace: 'provider-system' },
      stringData: { token: token[p] },
    });
  await h.create(PROVIDER_CONFIG, {
    metadata: { name: 'tenant-a' },
    spec: {
      credentials: { source: 'Secret', secretRef: { namespace: 'provider-system', name: 'creds-a' } },
      locations: { cityCodes: ['DFW'] },
      projects: ['proj-a'],
    },
  });
  await h.create(PROVIDER_CONFIG, {
    metadata: { name: 'tenant-b' },
    spec: {
      credentials: { source: 'Secret', secretRef: { namespace: 'provider-system', name: 'creds-b' } },
      projects: ['proj-b'],
    },
  });
  const milo = await startMiloProxy(home.connection, { 'proj-a': home.connection, 'proj-b': cpB.connection });
  return {
    home,
    cpB,
    milo,
    async stop() {
      await milo.close();
      await Promise.all([home.stop(), cpB.stop()]);
    },
  };
}

const READY = {
  status: {
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: 'Test',
        message: '',
        lastTransitionTime: '2026-01-01T00:00:00Z',
      },
    ],
  },
};

/** A Milo Project, Ready unless told otherwise (discovery engages only Ready ones). */
export async function createProject(h: HttpClient, name: string, ready = true): Promise<void> {
  await h.create(PROJECT, { metadata: { name } });
  if (ready) await h.patchStatus(PROJECT, name, undefined, { type: 'merge', patch: READY });
}
