/**
 * SDK clients, cached per (region, endpoint, attempts, credentials fingerprint), and the session object every
 * operation uses: settings, clients, a `send` that maps errors, and the values to redact.
 *
 * Credentials: `Secret` data keys `accessKeyId`, `secretAccessKey`, optional `sessionToken` (the upper-case
 * `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN` are accepted as aliases);
 * `InjectedIdentity` uses the SDK's default chain (environment, web identity / IRSA, ECS, instance metadata).
 */
import { createHash } from 'node:crypto';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { type BackendContext, BackendError, type Credentials } from '../../datum/backend.ts';
import type { Logger } from '../../runtime/log/logger.ts';
import { toBackendError } from './errors.ts';
import type { AwsSettings } from './settings.ts';

interface StaticCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface ClientSet {
  ec2: EC2Client;
  /** No SDK retries: for creates that are not idempotent, where we look for the result before retrying. */
  ec2Once: EC2Client;
  ssm: SSMClient;
}

/** Any SDK command, typed by its output (inferred from the command's middleware handler). */
export interface CommandOf<O> {
  // biome-ignore lint/suspicious/noExplicitAny: the SDK's middleware stack signature
  resolveMiddleware(...args: any[]): (args: any) => Promise<{ output: O }>;
}

interface AnyClient {
  // biome-ignore lint/suspicious/noExplicitAny: clients are called with commands of any service
  send(cmd: any, opts?: { abortSignal?: AbortSignal }): Promise<unknown>;
}

export interface AwsSession {
  settings: AwsSettings;
  clients: ClientSet;
  /** Credential values that must never appear in messages. */
  secrets: string[];
  log: Logger;
  signal: AbortSignal;
  managedBy: string;
  /** The same session, also redacting `values` (e.g. an instance's secret env values) from errors. */
  redacting(values: string[]): AwsSession;
  /** Sends a command; SDK errors become BackendErrors. Counts calls per operation for the figures. */
  send<O>(client: AnyClient, cmd: CommandOf<O>): Promise<O>;
}

function pick(data: Readonly<Record<string, string>>, ...keys: string[]): string | undefined {
  for (const k of keys) if (data[k]) return data[k].trim();
  return undefined;
}

export function staticCredentials(creds: Credentials): StaticCredentials | undefined {
  if (creds.source === 'InjectedIdentity') return undefined;
  const accessKeyId = pick(creds.data, 'accessKeyId', 'AWS_ACCESS_KEY_ID');
  const secretAccessKey = pick(creds.data, 'secretAccessKey', 'AWS_SECRET_ACCESS_KEY');
  const sessionToken = pick(creds.data, 'sessionToken', 'AWS_SESSION_TOKEN');
  if (!accessKeyId || !secretAccessKey)
    throw new BackendError(
      'CredentialsInvalid',
      'the credentials Secret needs the keys accessKeyId and secretAccessKey (sessionToken optional)',
    );
  return sessionToken ? { accessKeyId, secretAccessKey, sessionToken } : { accessKeyId, secretAccessKey };
}

function fingerprint(c: StaticCredentials | undefined): string {
  if (!c) return 'default-chain';
  return createHash('sha256')
    .update(`${c.accessKeyId}\0${c.secretAccessKey}\0${c.sessionToken ?? ''}`)
    .digest('hex')
    .slice(0, 16);
}

export class ClientCache {
  private readonly clients = new Map<string, ClientSet>();
  /** Calls per operation since construction (for measurements and tests). */
  readonly calls = new Map<string, number>();

  get(settings: AwsSettings, creds: StaticCredentials | undefined): ClientSet {
    const key = [settings.region, settings.endpoint ?? '', settings.maxAttempts, fingerprint(creds)].join(
      '|',
    );
    let set = this.clients.get(key);
    if (!set) {
      const base = {
        region: settings.region,
        endpoint: settings.endpoint,
        credentials: creds,
        customUserAgent: 'datum-provider-ts',
        requestHandler: { connectionTimeout: 5_000, requestTimeout: 30_000 },
      };
      set = {
        ec2: new EC2Client({ ...base, maxAttempts: settings.maxAttempts }),
        ec2Once: new EC2Client({ ...base, maxAttempts: 1 }),
        ssm: new SSMClient({ ...base, maxAttempts: settings.maxAttempts }),
      };
      this.clients.set(key, set);
    }
    return set;
  }

  session(ctx: BackendContext, settings: AwsSettings, managedBy: string): AwsSession {
    const creds = staticCredentials(ctx.credentials);
    const clients = this.get(settings, creds);
    const secrets = creds ? [creds.secretAccessKey, creds.sessionToken ?? '', creds.accessKeyId] : [];
    const calls = this.calls;
    const make = (secrets: string[]): AwsSession => ({
      settings,
      clients,
      secrets,
      log: ctx.log,
      signal: ctx.signal,
      managedBy,
      redacting: (values) => make([...secrets, ...values]),
      async send<O>(client: AnyClient, cmd: CommandOf<O>): Promise<O> {
        const op = String(cmd.constructor?.name ?? 'Command').replace(/Command$/, '');
        calls.set(op, (calls.get(op) ?? 0) + 1);
        try {
          return (await client.send(cmd, { abortSignal: ctx.signal })) as O;
        } catch (err) {
          throw toBackendError(err, op, secrets);
        }
      },
    });
    return make(secrets);
  }

  destroy(): void {
    for (const s of this.clients.values()) {
      s.ec2.destroy();
      s.ec2Once.destroy();
      s.ssm.destroy();
    }
    this.clients.clear();
  }
}
