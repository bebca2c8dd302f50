/**
 * Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics:
 * - acquire when the lease is free or expired by OUR clock: we remember when we last saw the record change
 *   and never compare remote timestamps with local time (clock skew cannot make two leaders);
 * - renew every retryPeriod; if renewals keep failing for renewDeadline, stop leading BEFORE the lease could
 *   expire for others (renewDeadline < leaseDuration). The deadline counts from the START of the last successful
 *   renewal (the server wrote that record after it, so nobody can see the lease expire before start +
 *   leaseDuration), and every attempt is aborted when the deadline comes: a hanging API server or the client's
 *   own retries cannot keep us "leading" past it;
 * - every write is an optimistic update on resourceVersion;
 * - on graceful shutdown, release by emptying holderIdentity so a successor takes over within retryPeriod.
 */

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { isAlreadyExists, isConflict, isNotFound } from '../client/errors.ts';
import type { Client } from '../client/interface.ts';
import type { KubeObject, ResourceType } from '../client/types.ts';
import type { Logger } from '../log/logger.ts';
import { sleep } from '../util/sleep.ts';

export const LEASE: ResourceType = {
  group: 'coordination.k8s.io',
  version: 'v1',
  kind: 'Lease',
  plural: 'leases',
  namespaced: true,
};

export interface LeaderElectionConfig {
  namespace: string;
  name: string;
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  releaseOnCancel?: boolean;
}

export interface LeaderCallbacks {
  onStartedLeading(signal: AbortSignal): void;
  onStoppedLeading(): void;
  onNewLeader?(identity: string): void;
}

interface LeaseObject extends KubeObject {
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

const microTime = () => new Date().toISOString().replace(/Z$/, '000Z');

export function defaultIdentity(): string {
  return `${hostname()}_${randomBytes(4).toString('hex')}`;
}

export class LeaderElector {
  readonly identity: string;
  private readonly client: Client;
  private readonly cfg: Required<LeaderElectionConfig>;
  private readonly log?: Logger;
  private observedRecord = '';
  private observedAt = 0;
  private current: LeaseObject | undefined;
  private leading = false;
  private lastLeader = '';
  private lastError = '';
  onStatus?: (leading: boolean) => void;

  constructor(client: Client, cfg: LeaderElectionConfig, log?: Logger) {
    this.client = client;
    this.cfg = {
      identity: cfg.identity ?? defaultIdentity(),
      leaseDurationMs: cfg.leaseDurationMs ?? 15_000,
      renewDeadlineMs: cfg.renewDeadlineMs ?? 10_000,
      retryPeriodMs: cfg.retryPeriodMs ?? 2_000,
      releaseOnCancel: cfg.releaseOnCancel ?? true,
      ...cfg,
    } as Required<LeaderElectionConfig>;
    this.identity = this.cfg.identity;
    this.log = log?.child({ lease: `${cfg.namespace}/${cfg.name}`, identity: this.identity });
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** Campaigns, leads, and campaigns again after losing the lease, until `signal` aborts. */
  async run(cb: LeaderCallbacks, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const since = await this.acquire(cb, signal);
      if (since === undefined) return;
      const leaderAbort = new AbortController();
      this.setLeading(true);
      this.log?.info('became leader');
      cb.onStartedLeading(leaderAbort.signal);
      await this.renewLoop(signal, since);
      leaderAbort.abort();
      this.setLeading(false);
      this.log?.info('stopped leading');
      cb.onStoppedLeading();
      if (signal.aborted && this.cfg.releaseOnCancel) await this.release();
    }
  }

  private setLeading(v: boolean): void {
    this.leading = v;
    this.onStatus?.(v);
  }

  /** Resolves with when the successful attempt started (performance.now()), or undefined once `signal` aborts. */
  private async acquire(cb: LeaderCallbacks, signal: AbortSignal): Promise<number | undefined> {
    while (!signal.aborted) {
      const startedAt = performance.now();
      const acquired = await this.attempt(signal, this.cfg.renewDeadlineMs).catch((err) => {
        // Say why we cannot lead (a missing namespace, RBAC), once per distinct error, instead of spinning silently.
        const msg = String((err as Error)?.message ?? err);
        if (msg !== this.lastError) this.log?.error('cannot acquire the leader lease', { err });
        this.lastError = msg;
        return false;
      });
      if (acquired) return startedAt;
      const holder = this.current?.spec?.holderIdentity ?? '';
      if (holder && holder !== this.lastLeader) {
        this.lastLeader = holder;
        cb.onNewLeader?.(holder);
      }
      await sleep(this.cfg.retryPeriodMs * (1 + Math.random() * 0.2), signal);
    }
    return undefined;
  }

  /** Returns when we must stop leading: renew deadline reached, lease taken by another, or `signal` aborted. */
  private async renewLoop(signal: AbortSignal, since: number): Promise<void> {
    let lastRenew = since;
    while (!signal.aborted) {
      const deadline = lastRenew + this.cfg.renewDeadlineMs;
      await sleep(Math.min(this.cfg.retryPeriodMs, deadline - performance.now()), signal);
      if (signal.aborted) return;
      const startedAt = performance.now();
      if (startedAt >= deadline) {
        this.log?.error('lease not renewed within the renew deadline', {
          renewDeadlineMs: this.cfg.renewDeadlineMs,
        });
        return;
      }
      const ok = await this.attempt(signal, deadline - startedAt).catch((err) => {
        this.log?.warn('lease renewal failed', { err: signal.aborted ? 'aborted' : err });
        return false;
      });
      if (ok) lastRenew = startedAt;
      else if (this.heldByOther()) return;
    }
  }

  /** One attempt that gives up (aborting its HTTP requests and any client retries) after `ms` or on `signal`. */
  private async attempt(signal: AbortSignal, ms: number): Promise<boolean> {
    // Rounded down: AbortSignal.timeout takes whole milliseconds, and early is the safe side.
    return this.tryAcquireOrRenew(
      AbortSignal.any([signal, AbortSignal.timeout(Math.max(1, Math.floor(ms)))]),
    );
  }

  private heldByOther(): boolean {
    const h = this.current?.spec?.holderIdentity;
    return !!h && h !== this.identity;
  }

  /** One attempt: create, take over an expired/free lease, or renew ours. */
  private async tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const { namespace, name } = this.cfg;
    const leaseSeconds = Math.max(1, Math.round(this.cfg.leaseDurationMs / 1000));
    let lease: LeaseObject;
    try {
      lease = await this.client.get<LeaseObject>(LEASE, name, namespace, { signal });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        this.current = await this.client.create<LeaseObject>(
          LEASE,
          {
            metadata: { name, namespace },
            spec: {
              holderIdentity: this.identity,
              leaseDurationSeconds: leaseSeconds,
              acquireTime: microTime(),
              renewTime: microTime(),
              leaseTransitions: 0,
            },
          },
          { signal },
        );
        this.observe(this.current);
        return true;
      } catch (e) {
        if (isAlreadyExists(e)) return false;
        throw e;
      }
    }
    this.observe(lease);
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const expired = performance.now() > this.observedAt + (spec.leaseDurationSeconds ?? leaseSeconds) * 1000;
    if (holder && holder !== this.identity && !expired) return false;
    const transitions = (spec.leaseTransitions ?? 0) + (holder === this.identity ? 0 : 1);
    try {
      this.current = await this.client.update<LeaseObject>(
        LEASE,
        {
          ...lease,
          spec: {
            holderIdentity: this.identity,
            leaseDurationSeconds: leaseSeconds,
            acquireTime: holder === this.identity ? spec.acquireTime : microTime(),
            renewTime: microTime(),
            leaseTransitions: transitions,
          },
        },
        { signal },
      );
      this.observe(this.current);
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  private observe(lease: LeaseObject): void {
    const record = JSON.stringify(lease.spec ?? {});
    if (record !== this.observedRecord) {
      this.observedRecord = record;
      this.observedAt = performance.now();
    }
    this.current = lease;
  }

  /**
   * Gives the lease up so a successor need not wait for it to expire. Only call it once nothing that needed the
   * lease runs any more (the manager does so after its reconciles ended). Bounded by the renew deadline.
   */
  async release(): Promise<void> {
    const lease = this.current;
    if (!lease || lease.spec?.holderIdentity !== this.identity) return;
    try {
      await this.client.update<LeaseObject>(
        LEASE,
        {
          ...lease,
          spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime() },
        },
        { signal: AbortSignal.timeout(this.cfg.renewDeadlineMs) },
      );
      this.log?.info('released lease');
    } catch (err) {
      this.log?.warn('could not release lease', { err });
    }
  }
}
