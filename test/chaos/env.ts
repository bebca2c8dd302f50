/**
 * The world a chaos run acts on: one real control plane with the upstream Datum CRDs, the credentials Secret
 * and ProviderConfig (holding a known secret value), and per backend a "site": namespace, Location of that
 * backend's class, Network, NetworkContext + allocated Subnet, and the tenant's Secret and ConfigMap.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIGMAP, SECRET } from '../../src/datum/api/resources.ts';
import { PROVIDER_CONFIG } from '../../src/datum/providerconfig.ts';
import { ControlPlane, DATUM_CRDS } from '../../src/localenv/controlplane.ts';
import type { HttpClient } from '../../src/runtime/client/client.ts';
import { isAlreadyExists } from '../../src/runtime/client/errors.ts';
import {
  createLocation,
  createNetwork,
  createNetworking,
  ensureNamespace,
} from '../../src/testkit/contract/fixtures.ts';
import type { ChaosConfig } from './config.ts';
import type { Stats } from './stats.ts';

const OUR_CRDS = fileURLToPath(new URL('../../deploy/crds', import.meta.url));

/** Values that must never show up in logs, Events or status. Plain alphanumerics: no escaping can hide them. */
export const SECRETS = {
  credential: 'chaosCredentialValue9f27c4d1e8b3',
  instance: 'chaosTenantSecretValue5b61a0f3c7d2',
  /** A whole file in the tenant Secret: mounted as a Secret volume. */
  file: 'chaosTenantFileContent2e84d9a17f06',
} as const;

export const CREDENTIALS = { namespace: 'datum-provider-system', name: 'chaos-credentials' };

export interface ChaosEnv {
  cp: ControlPlane;
  client: HttpClient;
  cfg: ChaosConfig;
  stats: Stats;
  /** Provider logs, state files, settings: kept when the run fails. */
  workDir: string;
}

export interface Site {
  backend: 'inmemory' | 'aws';
  ns: string;
  locationClass: string;
  loc: { name: string; namespace: string };
}

export async function startEnv(cfg: ChaosConfig, stats: Stats): Promise<ChaosEnv> {
  const cp = await ControlPlane.start({
    crdDirs: [DATUM_CRDS.compute, DATUM_CRDS.networkClassic, OUR_CRDS],
  });
  const client = cp.client();
  await ensureNamespace(client, CREDENTIALS.namespace);
  await client.create(SECRET, {
    metadata: CREDENTIALS,
    // moto accepts any key pair; the secret key is the value that must stay hidden.
    stringData: { accessKeyId: 'AKIDCHAOSEXAMPLE', secretAccessKey: SECRETS.credential },
  });
  await client.create(PROVIDER_CONFIG, {
    metadata: { name: 'default' },
    spec: { credentials: { source: 'Secret', secretRef: CREDENTIALS } },
  });
  return { cp, client, cfg, stats, workDir: mkdtempSync(join(tmpdir(), 'datum-chaos-')) };
}

export async function createSite(env: ChaosEnv, backend: Site['backend']): Promise<Site> {
  const c = env.client;
  const site: Site = {
    backend,
    ns: `chaos-${backend}`,
    locationClass: `chaos-${backend}`,
    loc: { name: 'dfw', namespace: `chaos-${backend}` },
  };
  await ensureNamespace(c, site.ns);
  await createLocation(c, site.ns, site.loc.name, site.locationClass, 'DFW');
  await createNetwork(c, site.ns);
  await createNetworking(c, site.ns, 'default', site.loc, '10.128.0.0/20');
  await createIgnoringExists(c, SECRET, {
    metadata: { name: 'app-secrets', namespace: site.ns },
    stringData: { token: SECRETS.instance, 'secret.txt': SECRETS.file },
  });
  await createIgnoringExists(c, CONFIGMAP, {
    metadata: { name: 'app-config', namespace: site.ns },
    data: { mode: 'chaos', 'app.conf': 'listen 80\n' },
  });
  return site;
}

async function createIgnoringExists(
  c: HttpClient,
  r: Parameters<HttpClient['create']>[0],
  obj: Parameters<HttpClient['create']>[1],
): Promise<void> {
  await c.create(r, obj).catch((e) => (isAlreadyExists(e) ? undefined : Promise.reject(e)));
}

export function workPath(env: ChaosEnv, name: string): string {
  return join(env.workDir, name);
}
