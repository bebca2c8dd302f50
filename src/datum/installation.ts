/**
 * The installation identity: what tells this provider's backend resources apart from another installation's
 * in the same cloud account. Configured (`installationId`), or derived from the home cluster's kube-system
 * namespace UID and the leader-election Lease's namespace/name: stable across restarts and upgrades, unique
 * per installation (two installations in one cluster never share a Lease), and nothing to persist.
 */
import { createHash } from 'node:crypto';
import type { HttpClient } from '../runtime/client/client.ts';
import type { KubeObject } from '../runtime/client/types.ts';
import { NAMESPACE } from './api/resources.ts';
import type { ProviderSettings } from './settings.ts';

export async function installationId(home: HttpClient, settings: ProviderSettings): Promise<string> {
  if (settings.installationId) return settings.installationId;
  const ns = await home.get<KubeObject>(NAMESPACE, 'kube-system');
  const le = settings.leaderElection;
  const digest = createHash('sha256')
    .update(`${ns.metadata.uid}/${le.namespace}/${le.name}`)
    .digest('hex')
    .slice(0, 16);
  return `datum-provider-${digest}`;
}
