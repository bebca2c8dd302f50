/**
 * A provider under test in one call: a real control plane with the Datum and our CRDs, a `default`
 * ProviderConfig (naming a credentials Secret when `credentials` is given, else the injected identity), and
 * the provider on `backend`, engaged as cluster `single` with the control plane as its home cluster.
 */

import { SECRET } from '../../datum/api/resources.ts';
import type { Backend } from '../../datum/backend.ts';
import { registerProvider } from '../../datum/provider.ts';
import { PROVIDER_CONFIG } from '../../datum/providerconfig.ts';
import type { ProviderSettings } from '../../datum/settings.ts';
import { ControlPlane, DATUM_CRDS } from '../../localenv/controlplane.ts';
import { createLogger } from '../../runtime/log/logger.ts';
import { Manager } from '../../runtime/manager/manager.ts';
import { ensureNamespace } from './fixtures.ts';
import { OUR_CRDS } from './suite.ts';

export interface ProviderUnderTestOptions {
  backend: Backend;
  settings: ProviderSettings;
  /** Data of the Secret `provider-system/credentials` the ProviderConfig names; absent: InjectedIdentity. */
  credentials?: Record<string, string>;
  /** The ProviderConfig's region. */
  region?: string;
}

export interface ProviderUnderTest {
  cp: ControlPlane;
  mgr: Manager;
}

export async function startProviderUnderTest(o: ProviderUnderTestOptions): Promise<ProviderUnderTest> {
  const cp = await ControlPlane.start({
    crdDirs: [DATUM_CRDS.compute, DATUM_CRDS.networkClassic, OUR_CRDS],
  });
  const c = cp.client();
  if (o.credentials) {
    await ensureNamespace(c, 'provider-system');
    await c.create(SECRET, {
      metadata: { name: 'credentials', namespace: 'provider-system' },
      stringData: o.credentials,
    });
  }
  await c.create(PROVIDER_CONFIG, {
    metadata: { name: 'default' },
    spec: {
      credentials: o.credentials
        ? { source: 'Secret', secretRef: { namespace: 'provider-system', name: 'credentials' } }
        : { source: 'InjectedIdentity' },
      ...(o.region ? { region: o.region } : {}),
    },
  });
  const mgr = new Manager({ log: createLogger({ level: 'error', sink: () => {} }) });
  await mgr.engage('single', cp.connection);
  registerProvider(mgr, { backend: o.backend, settings: o.settings, home: c });
  await mgr.start();
  return { cp, mgr };
}
