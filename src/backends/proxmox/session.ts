/** What one backend call works with: the client for this ProviderConfig, its settings, and the caller's signal. */
import type { BackendContext } from '../../datum/backend.ts';
import { type CallOptions, ProxmoxClient } from './client.ts';
import { toBackendError } from './errors.ts';
import { installationTag } from './names.ts';
import { type ProxmoxSettings, resolveCredentials, resolveSettings } from './settings.ts';

export interface Session {
  client: ProxmoxClient;
  settings: ProxmoxSettings;
  installation: string;
  instTag: string;
  ctx: BackendContext;
  o: CallOptions;
  /** Runs a step; any failure becomes a BackendError naming the step, with no secret in it. */
  step<T>(op: string, fn: () => Promise<T>): Promise<T>;
}

/** Clients by endpoint + token + trust, so a ProviderConfig reuses its client across reconciles. */
export class ClientCache {
  private readonly clients = new Map<string, ProxmoxClient>();
  readonly calls = new Map<string, number>();

  session(ctx: BackendContext, installation: string): Session {
    const settings = resolveSettings(ctx.config);
    const creds = resolveCredentials(ctx.credentials, ctx.config);
    const secrets = [creds.tokenSecret];
    const step = async <T>(op: string, fn: () => Promise<T>): Promise<T> => {
      try {
        return await fn();
      } catch (err) {
        throw toBackendError(err, op, secrets);
      }
    };
    if (!settings.endpoint.startsWith('https://'))
      throw toBackendError(new Error('config "endpoint" must be https://host:8006'), 'settings', secrets);
    const key = JSON.stringify([
      settings.endpoint,
      creds.tokenId,
      creds.tokenSecret,
      creds.trust,
      settings.maxAttempts,
    ]);
    let client = this.clients.get(key);
    if (!client) {
      client = new ProxmoxClient({
        endpoint: settings.endpoint,
        tokenId: creds.tokenId,
        tokenSecret: creds.tokenSecret,
        trust: creds.trust,
        maxAttempts: settings.maxAttempts,
        timeoutMs: settings.requestTimeoutMs,
        onRequest: (m, p) => this.calls.set(`${m} ${p}`, (this.calls.get(`${m} ${p}`) ?? 0) + 1),
      });
      this.clients.set(key, client);
    }
    return {
      client,
      settings,
      installation,
      instTag: installationTag(installation),
      ctx,
      o: { signal: ctx.signal },
      step,
    };
  }

  clear(): void {
    this.clients.clear();
  }
}
