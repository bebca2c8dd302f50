/**
 * Downstream clients, cached per kubeconfig (by hash), and the session object every operation uses: the
 * client, settings, the managed-by value and a `call` that maps API errors to BackendErrors.
 *
 * Credentials: `Secret` data key `kubeconfig` (a kubeconfig document with inline certificates or a token; an
 * exec plugin or a file reference is refused: a Secret must not make the provider run commands or read its
 * own files). `InjectedIdentity`: the provider's in-cluster service account (it runs in the downstream cluster).
 */
import { createHash } from 'node:crypto';
import { type BackendContext, BackendError, type Credentials } from '../../datum/backend.ts';
import { createClient, type HttpClient } from '../../runtime/client/client.ts';
import { type ClusterConfig, clusterConfigFrom, inClusterConfig } from '../../runtime/client/config.ts';
import { isNotFound } from '../../runtime/client/errors.ts';
import { mergeKubeconfigs, parseKubeconfig } from '../../runtime/client/kubeconfig.ts';
import type { ResourceType } from '../../runtime/client/types.ts';
import type { Logger } from '../../runtime/log/logger.ts';
import { toBackendError } from './errors.ts';
import type { KubernetesSettings } from './settings.ts';

const core = (kind: string, plural: string, namespaced = true): ResourceType => ({
  group: '',
  version: 'v1',
  kind,
  plural,
  namespaced,
});
export const NAMESPACE = core('Namespace', 'namespaces', false);
export const NODE = core('Node', 'nodes', false);
export const POD = core('Pod', 'pods');
export const CONFIG_MAP = core('ConfigMap', 'configmaps');
export const SECRET = core('Secret', 'secrets');
export const NETWORK_POLICY: ResourceType = {
  group: 'networking.k8s.io',
  version: 'v1',
  kind: 'NetworkPolicy',
  plural: 'networkpolicies',
  namespaced: true,
};
export const VIRTUAL_MACHINE: ResourceType = {
  group: 'kubevirt.io',
  version: 'v1',
  kind: 'VirtualMachine',
  plural: 'virtualmachines',
  namespaced: true,
};
export const VIRTUAL_MACHINE_INSTANCE: ResourceType = {
  ...VIRTUAL_MACHINE,
  kind: 'VirtualMachineInstance',
  plural: 'virtualmachineinstances',
};

export const FIELD_MANAGER = 'datum-provider-ts';

export interface Session {
  client: HttpClient;
  settings: KubernetesSettings;
  managedBy: string;
  log: Logger;
  signal: AbortSignal;
  /** Runs one API call; failures become BackendErrors naming `op`, with credential values redacted. */
  call<T>(op: string, fn: (c: HttpClient) => Promise<T>): Promise<T>;
  /** Like `call`, but a 404 is `undefined`. */
  find<T>(op: string, fn: (c: HttpClient) => Promise<T>): Promise<T | undefined>;
  /** Whether the cluster serves `kubevirt.io/v1` VirtualMachines (API discovery, cached for a minute). */
  hasKubeVirt(): Promise<boolean>;
  /** Values that must never appear in a message (and the caller's extra sensitive values). */
  secrets: string[];
  /** The same session, also redacting `values` (e.g. an Instance's Secret env and files) from errors. */
  redacting(values: string[]): Session;
}

function unusable(why: string): BackendError {
  return new BackendError('CredentialsInvalid', `the credentials Secret's kubeconfig ${why}`);
}

/** Refuses what a kubeconfig from a Secret must not do: run a command, or read the provider's own files. */
function checkSafe(doc: unknown): void {
  const d = doc as {
    users?: { user?: Record<string, unknown> }[];
    clusters?: { cluster?: Record<string, unknown> }[];
  };
  for (const u of d.users ?? []) {
    const user = u?.user ?? {};
    if (user.exec) throw unusable('uses an exec credential plugin, which is refused from a Secret');
    for (const k of ['client-certificate', 'client-key', 'tokenFile'])
      if (user[k])
        throw unusable(`refers to a file (${k}); inline it (${k === 'tokenFile' ? 'token' : `${k}-data`})`);
  }
  for (const c of d.clusters ?? [])
    if (c?.cluster?.['certificate-authority'])
      throw unusable('refers to a file (certificate-authority); inline it (certificate-authority-data)');
}

export function clusterConfigFromCredentials(creds: Credentials): { config: ClusterConfig; key: string } {
  if (creds.source === 'InjectedIdentity') {
    try {
      return { config: inClusterConfig(), key: 'in-cluster' };
    } catch (err) {
      throw new BackendError('CredentialsInvalid', `InjectedIdentity: ${(err as Error).message}`);
    }
  }
  const text = creds.data.kubeconfig;
  if (!text?.trim())
    throw new BackendError('CredentialsInvalid', 'the credentials Secret needs the key kubeconfig');
  const key = createHash('sha256').update(text).digest('hex').slice(0, 24);
  try {
    const doc = parseKubeconfig(text, 'credentials-secret');
    checkSafe(doc);
    return { config: clusterConfigFrom(mergeKubeconfigs([{ path: 'credentials-secret', doc }])), key };
  } catch (err) {
    if (err instanceof BackendError) throw err;
    // The parser's messages name fields and contexts, never values.
    throw unusable(`cannot be used: ${(err as Error).message.replace(/credentials-secret:?\s*/g, '')}`);
  }
}

interface Cached {
  client: HttpClient;
  secrets: string[];
  kubevirt?: { value: boolean; at: number };
}

export class ClientCache {
  private readonly clients = new Map<string, Cached>();

  session(ctx: BackendContext, settings: KubernetesSettings, managedBy: string): Session {
    const { config, key } = clusterConfigFromCredentials(ctx.credentials);
    const cacheKey = `${key}|${settings.maxAttempts}`;
    let entry = this.clients.get(cacheKey);
    if (!entry) {
      entry = {
        client: createClient(config, {
          userAgent: 'datum-provider-ts/kubernetes-backend',
          maxAttempts: settings.maxAttempts,
          timeoutMs: 30_000,
        }),
        secrets: [config.token ?? '', config.keyData ?? ''].filter(Boolean),
      };
      this.clients.set(cacheKey, entry);
    }
    const cached = entry;
    const make = (secrets: string[]): Session => {
      const call = async <T>(op: string, fn: (c: HttpClient) => Promise<T>): Promise<T> => {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        try {
          return await fn(cached.client);
        } catch (err) {
          throw toBackendError(err, op, secrets);
        }
      };
      return {
        client: cached.client,
        settings,
        managedBy,
        log: ctx.log,
        signal: ctx.signal,
        secrets,
        call,
        redacting: (values) => make([...secrets, ...values]),
        async find<T>(op: string, fn: (c: HttpClient) => Promise<T>): Promise<T | undefined> {
          try {
            return await fn(cached.client);
          } catch (err) {
            if (isNotFound(err)) return undefined;
            throw toBackendError(err, op, secrets);
          }
        },
        async hasKubeVirt(): Promise<boolean> {
          if (cached.kubevirt && Date.now() - cached.kubevirt.at < 60_000) return cached.kubevirt.value;
          const list = await call('discover kubevirt.io/v1', (c) =>
            c
              .request<{ resources?: { name: string }[] }>('GET', '/apis/kubevirt.io/v1')
              .catch((err) => (isNotFound(err) ? { resources: [] } : Promise.reject(err))),
          );
          const value = (list.resources ?? []).some((r) => r.name === 'virtualmachines');
          cached.kubevirt = { value, at: Date.now() };
          return value;
        },
      };
    };
    return make(cached.secrets);
  }

  async close(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(all.map((c) => c.client.close().catch(() => {})));
  }
}
