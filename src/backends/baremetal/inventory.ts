/**
 * The host inventory in the provider's home cluster: which BareMetalHosts serve a Location and an instance type,
 * and claims that cannot give one host to two Instances. A claim (and every later status change) is a status
 * update conditioned on the resourceVersion the decision was made from: of two concurrent claims on one host,
 * the API server accepts one and answers 409 to the other, which then tries the next host.
 */
import { BackendError, type ResourceOwner } from '../../datum/backend.ts';
import type { HttpClient } from '../../runtime/client/client.ts';
import { isConflict, isNotFound } from '../../runtime/client/errors.ts';
import type { KubeObject } from '../../runtime/client/types.ts';
import type { BmcCredentials } from './redfish.ts';
import { BARE_METAL_HOST, type BareMetalHost, type HostStatus, SECRET } from './resources.ts';
import type { InstanceTypeSize } from './settings.ts';

export class Inventory {
  private readonly home: HttpClient;
  private readonly selector?: string;

  constructor(home: HttpClient, selector?: string) {
    this.home = home;
    this.selector = selector;
  }

  async hosts(): Promise<BareMetalHost[]> {
    try {
      const l = await this.home.list<BareMetalHost>(BARE_METAL_HOST, { labelSelector: this.selector });
      return l.items;
    } catch (err) {
      throw kubeError(err, 'listing BareMetalHosts');
    }
  }

  /** The host this installation gave to `id`, if any (adoption after a restart goes through here). */
  async claimedBy(id: string, installation: string): Promise<BareMetalHost | undefined> {
    return (await this.hosts()).find(
      (h) => h.status?.claimedBy === id && h.status.installation === installation,
    );
  }

  /**
   * Claims a free host that fits, best fit first (smallest capacity), by name among equals. Returns undefined
   * when none is free.
   */
  async claim(
    need: InstanceTypeSize,
    topology: Record<string, string>,
    claim: {
      id: string;
      owner: ResourceOwner;
      installation: string;
      subnetId?: string;
      templateHash: string;
    },
  ): Promise<BareMetalHost | undefined> {
    const candidates = (await this.hosts())
      .filter((h) => (h.status?.phase ?? 'free') === 'free' && !h.status?.claimedBy)
      .filter((h) => fits(h, need) && servesSite(h, topology))
      .sort((a, b) => size(a) - size(b) || a.metadata.name!.localeCompare(b.metadata.name!));
    for (const host of candidates) {
      const won = await this.writeStatus(
        host,
        {
          phase: 'claimed',
          claimedBy: claim.id,
          installation: claim.installation,
          owner: claim.owner,
          subnetId: claim.subnetId,
          templateHash: claim.templateHash,
          claimedAt: new Date().toISOString(),
        },
        { replace: true },
      ).catch((err) =>
        isConflict(err) || isNotFound(err) ? undefined : Promise.reject(kubeError(err, 'claiming a host')),
      );
      if (won) return won;
    }
    return undefined;
  }

  /**
   * Writes the host's status, conditioned on the resourceVersion it was read at. `replace` sets the whole status;
   * otherwise fields are merged over the current ones. A 409 means someone else wrote first: the caller re-reads.
   */
  writeStatus(
    host: BareMetalHost,
    status: HostStatus,
    opts: { replace?: boolean } = {},
  ): Promise<BareMetalHost> {
    const next = opts.replace ? status : { ...host.status, ...status };
    return this.home.updateStatus<BareMetalHost>(BARE_METAL_HOST, {
      ...host,
      metadata: host.metadata,
      status: next,
    });
  }

  /** Like `writeStatus`, but a lost race is a transient failure (the next reconcile re-reads and decides again). */
  async update(
    host: BareMetalHost,
    status: HostStatus,
    opts: { replace?: boolean } = {},
  ): Promise<BareMetalHost> {
    try {
      return await this.writeStatus(host, status, opts);
    } catch (err) {
      throw kubeError(err, `updating host ${host.metadata.name}`);
    }
  }

  /** The host's BMC user and password, from the Secret it names. Never logged, never in a message. */
  async credentials(host: BareMetalHost): Promise<BmcCredentials> {
    const ref = host.spec.bmc.credentialsSecretRef;
    const where = `Secret ${ref.namespace}/${ref.name} of host ${host.metadata.name}`;
    let secret: KubeObject & { data?: Record<string, string> };
    try {
      secret = await this.home.get(SECRET, ref.name, ref.namespace);
    } catch (err) {
      if (isNotFound(err)) throw new BackendError('InvalidConfiguration', `${where} not found`);
      throw kubeError(err, `reading ${where}`);
    }
    const decode = (k: string) =>
      secret.data?.[k] ? Buffer.from(secret.data[k], 'base64').toString('utf8') : '';
    const username = decode('username');
    const password = decode('password');
    if (!username || !password)
      throw new BackendError('InvalidConfiguration', `${where} needs the keys username and password`);
    return { username, password };
  }
}

export function fits(h: BareMetalHost, need: InstanceTypeSize): boolean {
  const c = h.spec.capacity;
  return c.cpu >= need.cpu && c.memoryGiB >= need.memoryGiB && (c.gpus ?? 0) >= need.gpus;
}

/** A host serves a Location whose topology carries every one of its site labels. */
export function servesSite(h: BareMetalHost, topology: Record<string, string>): boolean {
  return Object.entries(h.spec.site ?? {}).every(([k, v]) => topology[k] === v);
}

const size = (h: BareMetalHost) =>
  h.spec.capacity.cpu * 1024 + h.spec.capacity.memoryGiB + (h.spec.capacity.gpus ?? 0) * 1e6;

/** Kubernetes failures in catalogue terms: a lost race and server trouble are transient. */
export function kubeError(err: unknown, what: string): BackendError {
  if (err instanceof BackendError) return err;
  const status = (err as { status?: number }).status;
  if (isConflict(err)) return new BackendError('Transient', `${what}: changed concurrently; retrying`);
  if (status === 401 || status === 403)
    return new BackendError(
      'CredentialsInvalid',
      `${what}: the home cluster refused access (HTTP ${status})`,
    );
  if (status === 404)
    return new BackendError(
      'InvalidConfiguration',
      `${what}: not found (is the BareMetalHost CRD installed?)`,
    );
  return new BackendError('Transient', `${what}: ${(err as Error).message ?? String(err)}`);
}
