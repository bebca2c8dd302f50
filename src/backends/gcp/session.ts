/**
 * One reconcile's view of GCP: the Compute clients (cached per endpoint and credentials), the project, the zone
 * and region of the Location, and `call`, which retries throttling and server errors with backoff (safe: every
 * mutation carries a requestId, so a retry after a lost answer is answered with the first operation) and maps
 * what is left to a BackendError.
 */
import { createHash } from 'node:crypto';
import {
  FirewallsClient,
  GlobalOperationsClient,
  InstancesClient,
  NetworksClient,
  RegionOperationsClient,
  SubnetworksClient,
  ZoneOperationsClient,
} from '@google-cloud/compute';
import { type BackendContext, BackendError } from '../../datum/backend.ts';
import type { Logger } from '../../runtime/log/logger.ts';
import { authClient, parseKey, secretValues } from './credentials.ts';
import { classify, toBackendError } from './errors.ts';
import { checkEndpoint, type GcpSettings, regionOfZone, zoneFor } from './settings.ts';
import type { DeliveryContext } from './startup.ts';

export interface ComputeClients {
  instances: InstancesClient;
  networks: NetworksClient;
  subnetworks: SubnetworksClient;
  firewalls: FirewallsClient;
  zoneOps: ZoneOperationsClient;
  regionOps: RegionOperationsClient;
  globalOps: GlobalOperationsClient;
  /** The auth client, for APIs without a client here (Secret Manager). */
  auth: { request<T>(o: { url: string; method: string; data?: unknown }): Promise<{ data: T }> };
}

export interface Operation {
  name?: string | null;
  status?: string | number | null;
  zone?: string | null;
  region?: string | null;
  error?: { errors?: { code?: string | null; message?: string | null }[] | null } | null;
  httpErrorStatusCode?: number | null;
}

export class ClientCache {
  private readonly cache = new Map<string, ComputeClients>();
  readonly calls = new Map<string, number>();

  clients(ctx: BackendContext, s: GcpSettings): { clients: ComputeClients; keyProject?: string } {
    const emulator = s.endpoint ? checkEndpoint(s.endpoint).protocol === 'http:' : false;
    const key = parseKey(ctx.credentials); // a malformed key fails here, cached clients or not
    const fingerprint = createHash('sha256')
      .update(
        JSON.stringify([
          s.endpoint,
          ctx.credentials.source,
          ctx.credentials.source === 'Secret' ? ctx.credentials.data : '',
        ]),
      )
      .digest('hex');
    let c = this.cache.get(fingerprint);
    if (!c) {
      const { auth } = authClient(ctx.credentials, emulator);
      // biome-ignore lint/suspicious/noExplicitAny: the clients take gax ClientOptions; auth is an auth client of our own google-auth-library
      const opts: Record<string, any> = { auth, fallback: 'rest' };
      if (s.endpoint) {
        const u = new URL(s.endpoint);
        opts.apiEndpoint = u.hostname;
        opts.port = Number(u.port || (u.protocol === 'http:' ? 80 : 443));
        opts.protocol = u.protocol.replace(':', '');
      }
      c = {
        instances: new InstancesClient(opts),
        networks: new NetworksClient(opts),
        subnetworks: new SubnetworksClient(opts),
        firewalls: new FirewallsClient(opts),
        zoneOps: new ZoneOperationsClient(opts),
        regionOps: new RegionOperationsClient(opts),
        globalOps: new GlobalOperationsClient(opts),
        auth: auth as ComputeClients['auth'],
      };
      this.cache.set(fingerprint, c);
    }
    return { clients: c, keyProject: key?.project_id };
  }

  async destroy(): Promise<void> {
    for (const { auth: _, ...c } of this.cache.values())
      await Promise.all(Object.values(c).map((x) => x.close()));
    this.cache.clear();
  }
}

/** Per-call options: no retries inside the client library (ours are bounded and honour the AbortSignal). */
export const CALL = { retry: null, timeout: 60_000 } as const;
export const LIST = { ...CALL, autoPaginate: false } as const;

export class GcpSession {
  readonly project: string;
  /** The Location's zone, or why it has none (the sweeper's context has no Location). */
  private readonly placement: { zone: string } | { error: BackendError };
  readonly settings: GcpSettings;
  readonly managedBy: string;
  readonly c: ComputeClients;
  readonly log: Logger;
  readonly signal: AbortSignal;
  private readonly secrets: string[];
  private readonly counts: Map<string, number>;

  constructor(ctx: BackendContext, s: GcpSettings, managedBy: string, cache: ClientCache) {
    const { clients, keyProject } = cache.clients(ctx, s);
    const project = s.project ?? keyProject ?? process.env.GOOGLE_CLOUD_PROJECT;
    if (!project)
      throw new BackendError(
        'InvalidConfiguration',
        'no GCP project: set config "project" (or use a key with project_id)',
      );
    this.project = project;
    try {
      this.placement = { zone: zoneFor(s, ctx.location) };
    } catch (err) {
      if (!(err instanceof BackendError)) throw err;
      this.placement = { error: err };
    }
    this.settings = s;
    this.managedBy = managedBy;
    this.c = clients;
    this.log = ctx.log;
    this.signal = ctx.signal;
    this.secrets = secretValues(ctx.credentials);
    this.counts = cache.calls;
  }

  get zone(): string {
    if ('error' in this.placement) throw this.placement.error;
    return this.placement.zone;
  }

  get region(): string {
    return regionOfZone(this.zone);
  }

  /** Whether the Location maps to a zone (else lookups search every zone). */
  get placed(): boolean {
    return 'zone' in this.placement;
  }

  /** What a SecretDelivery needs: authenticated requests to Google APIs (or the emulator). */
  delivery(): DeliveryContext {
    const base = this.settings.endpoint?.replace(/\/$/, '');
    return {
      project: this.project,
      managedBy: this.managedBy,
      serviceAccount: this.settings.serviceAccount,
      request: <T>(api: 'secretmanager', method: string, path: string, body?: unknown) =>
        this.call(
          `${api}.${method}`,
          async () =>
            (
              await this.c.auth.request<T>({
                url: `${base ?? `https://${api}.googleapis.com`}${path}`,
                method,
                data: body,
              })
            ).data,
        ),
    };
  }

  networkLink = (name: string) => `projects/${this.project}/global/networks/${name}`;
  subnetLink = (name: string, region = this.region) =>
    `projects/${this.project}/regions/${region}/subnetworks/${name}`;

  error(err: unknown, op: string): BackendError {
    return toBackendError(err, op, this.secrets);
  }

  /** Runs one API call with bounded retries for throttling, server and connection errors. */
  async call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      this.signal.throwIfAborted();
      this.counts.set(op, (this.counts.get(op) ?? 0) + 1);
      try {
        return await fn();
      } catch (err) {
        const e = this.error(err, op);
        const retry = e.reason === 'Throttled' || e.reason === 'Transient';
        if (!retry || attempt >= this.settings.maxAttempts) throw e;
        const ms = Math.min(4_000, 150 * 3 ** (attempt - 1)) * (0.5 + Math.random() / 2);
        await sleep(ms, this.signal);
      }
    }
  }

  /**
   * Waits for an operation (zonal, regional or global, as the operation says) at most `operationWaitSeconds`.
   * Returns whether it is DONE; a DONE operation with an error throws it as a BackendError.
   */
  async awaitOperation(op: Operation, what: string): Promise<boolean> {
    const deadline = Date.now() + this.settings.operationWaitSeconds * 1000;
    let cur = op;
    for (;;) {
      if (cur.status === 'DONE' || cur.status === 2104194) {
        const e = cur.error?.errors?.[0];
        if (e)
          throw classify(
            {
              status: cur.httpErrorStatusCode ?? undefined,
              reason: e.code ?? 'unknown',
              message: e.message ?? '',
            },
            what,
            this.secrets,
          );
        return true;
      }
      if (Date.now() >= deadline) return false;
      const name = cur.name!;
      const zone = cur.zone?.split('/').pop();
      const region = cur.region?.split('/').pop();
      const [next] = await this.call(`${what}.wait`, () =>
        zone
          ? this.c.zoneOps.wait({ project: this.project, zone, operation: name }, CALL)
          : region
            ? this.c.regionOps.wait({ project: this.project, region, operation: name }, CALL)
            : this.c.globalOps.wait({ project: this.project, operation: name }, CALL),
      );
      cur = next as Operation;
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', abort);
    };
    const abort = () => {
      done();
      reject(signal.reason);
    };
    const t = setTimeout(() => {
      done();
      resolve();
    }, ms);
    signal.addEventListener('abort', abort, { once: true });
  });
}

/** The operation inside an ExtendedOperation (`[op]` of an insert/delete). */
export const latest = (x: unknown): Operation =>
  ((x as { latestResponse?: Operation }).latestResponse ?? x) as Operation;
