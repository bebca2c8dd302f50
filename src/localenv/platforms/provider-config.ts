/**
 * What every local platform writes into the local control plane, as production would have it: the provider's
 * namespace, the credentials Secret (when the platform has credentials) and the default ProviderConfig naming
 * it, with the platform's region and `config`.
 */

import type { ProviderSettings } from '../../datum/settings.ts';
import type { KubeObject } from '../../runtime/client/types.ts';

export const PROVIDER_NAMESPACE = 'datum-provider-system';

export function defaultProviderConfig(
  settings: ProviderSettings,
  o: {
    /** The credentials Secret; without it the ProviderConfig says InjectedIdentity. */
    secret?: { name: string; data: Record<string, string> };
    region?: string;
    config?: Record<string, string>;
  },
): KubeObject[] {
  const credentials = o.secret
    ? { source: 'Secret', secretRef: { namespace: PROVIDER_NAMESPACE, name: o.secret.name } }
    : { source: 'InjectedIdentity' };
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: PROVIDER_NAMESPACE } },
    ...(o.secret
      ? [
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: o.secret.name, namespace: PROVIDER_NAMESPACE },
            stringData: o.secret.data,
          },
        ]
      : []),
    {
      apiVersion: 'infra.provider-ts.io/v1alpha1',
      kind: 'ProviderConfig',
      metadata: { name: settings.defaultProviderConfig },
      spec: {
        credentials,
        ...(o.region ? { region: o.region } : {}),
        ...(o.config ? { config: o.config } : {}),
      },
    },
  ];
}
