/**
 * The manager runs everything: engaged clusters (client + cache each), controllers, other runnables,
 * leader election, probes and metrics, and a bounded graceful shutdown.
 *
 * Start order: probes/metrics servers → caches of engaged clusters → wait for sync → runnables that need no
 * leader → leader election → leader-only controllers/runnables while leading. Clusters engaged later get
 * their caches started and every controller attached at once.
 *
 * Stop order (graceful): take no more work → in-flight reconciles finish (or are aborted after the grace
 * period and return) → runnables stop → only then release the lease, so a successor never overlaps with us.
 * Losing the lease instead stops everything at once, never releases, and ends `handleSignals()` with false:
 * the process exits non-zero and its Deployment restarts it (controller-runtime exits the same way).
 */
import type { Server } from 'node:http';
import type { Transform } from '../cache/informer.ts';
import { stripManagedFields } from '../cache/informer.ts';
import { createClient } from '../client/client.ts';
import type { ClusterConfig } from '../client/config.ts';
import type { Controller } from '../controller/controller.ts';
import { type LeaderElectionConfig, LeaderElector } from '../leaderelection/leaderelection.ts';
import { createLogger, type Logger } from '../log/logger.ts';
import { RuntimeMetrics, serveMetrics } from '../metrics/metrics.ts';
import { within } from '../util/sleep.ts';
import { type Cluster, type ClusterMetadata, newCluster } from './cluster.ts';
import { serveProbes } from './probes.ts';

export interface Runnable {
  start(signal: AbortSignal): Promise<void> | void;
  needLeaderElection?: boolean;
}

/** Why the manager stopped: a requested shutdown, or the leader lease was lost (exit non-zero). */
export type StopReason = 'shutdown' | 'lost-leadership';

// After the grace period (or a lost lease), how long aborted reconciles get to return.
const ABORTED_WAIT_MS = 5000;
const LOST_WAIT_MS = 500;

export interface ManagerOptions {
  name?: string;
  log?: Logger;
  metrics?: RuntimeMetrics;
  /** host:port, e.g. '127.0.0.1:8080'; undefined = no metrics server. */
  metricsAddr?: string;
  /** host:port for /healthz and /readyz; undefined = none. */
  probeAddr?: string;
  /** Lease settings; leader election is off when absent. `client` defaults to the first engaged cluster's. */
  leaderElection?: LeaderElectionConfig & { cluster?: string; clientConfig?: ClusterConfig };
  gracefulShutdownMs?: number;
  cacheSyncTimeoutMs?: number;
  /** Applied to every cached object (default: strip managedFields). */
  transform?: Transform | null;
}

export class Manager {
  readonly name: string;
  readonly log: Logger;
  readonly metrics: RuntimeMetrics;
  readonly opts: ManagerOptions;
  private readonly clusterMap = new Map<string, Cluster>();
  private readonly controllers: Controller[] = [];
  private readonly runnables: Runnable[] = [];
  private readonly abort = new AbortController();
  // Leader election ends last on a graceful stop (after all work), so it has its own signal.
  private readonly electorAbort = new AbortController();
  private electing: Promise<void> | undefined;
  private releaseOnStop = true;
  private markLost: () => void = () => {};
  private readonly lost = new Promise<void>((r) => {
    this.markLost = r;
  });
  /** Set once stopping: why. */
  stopReason: StopReason | undefined;
  private servers: Server[] = [];
  private leaderStarted = false;
  private started = false;
  private elector: LeaderElector | undefined;
  private running: Promise<void>[] = [];
  metricsPort = 0;
  probePort = 0;

  constructor(opts: ManagerOptions = {}) {
    this.opts = opts;
    this.name = opts.name ?? 'datum-provider';
    this.log = opts.log ?? createLogger({ fields: { logger: this.name } });
    this.metrics = opts.metrics ?? new RuntimeMetrics();
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /**
   * Adds a cluster (a Datum project). Controllers start watching it immediately if the manager runs. Engaging
   * an engaged cluster again only refreshes its metadata (when given).
   */
  async engage(name: string, config: ClusterConfig, metadata?: ClusterMetadata): Promise<Cluster> {
    const existing = this.clusterMap.get(name);
    if (existing) {
      if (metadata) existing.metadata = metadata;
      return existing;
    }
    const transform = this.opts.transform === null ? undefined : (this.opts.transform ?? stripManagedFields);
    const cluster = newCluster(name, config, {
      component: this.name,
      log: this.log,
      metrics: this.metrics,
      transform,
      metadata,
    });
    this.clusterMap.set(name, cluster);
    for (const c of this.controllers) c.engage(cluster);
    if (this.started) cluster.cache.start(this.abort.signal);
    this.log.info('engaged cluster', { cluster: name });
    return cluster;
  }

  /** Removes a cluster: controllers stop watching it, its queued work is dropped and its cache stopped. */
  async disengage(name: string): Promise<void> {
    const cluster = this.clusterMap.get(name);
    if (!cluster) return;
    this.clusterMap.delete(name);
    for (const c of this.controllers) c.disengage(name);
    await cluster.cache.stop();
    await cluster.client.close().catch(() => {});
    this.log.info('disengaged cluster', { cluster: name });
  }

  getCluster(name: string): Cluster | undefined {
    return this.clusterMap.get(name);
  }

  /** Like getCluster, but throws a clear error (for reconcilers: a request always names an engaged cluster). */
  cluster(name: string): Cluster {
    const c = this.clusterMap.get(name);
    if (!c) throw new Error(`cluster '${name}' is not engaged`);
    return c;
  }

  clusters(): Cluster[] {
    return [...this.clusterMap.values()];
  }

  addController(c: Controller): void {
    this.controllers.push(c);
    for (const cluster of this.clusterMap.values()) c.engage(cluster);
    if (this.started && (!c.needLeaderElection || this.leaderStarted || !this.opts.leaderElection)) c.start();
  }

  add(r: Runnable): void {
    this.runnables.push(r);
    if (this.started && (!r.needLeaderElection || this.leaderStarted || !this.opts.leaderElection))
      this.runRunnable(r);
  }

  /** Ready = every engaged cluster's caches have synced (controller-runtime's meaning). */
  isReady(): boolean {
    return this.started && this.clusters().every((c) => c.cache.hasSynced());
  }

  isLeader(): boolean {
    return !this.opts.leaderElection || (this.elector?.isLeader() ?? false);
  }

  /** Starts the probe and metrics servers (start() does this too); /readyz answers 503 until caches sync. */
  async startServers(): Promise<void> {
    if (this.servers.length > 0) return;
    if (this.opts.probeAddr) {
      const p = await serveProbes(this.opts.probeAddr, {
        healthy: () => true,
        ready: () => this.isReady(),
        leading: () => this.isLeader(),
      });
      this.servers.push(p.server);
      this.probePort = p.port;
    }
    if (this.opts.metricsAddr) {
      const m = await serveMetrics(this.metrics, this.opts.metricsAddr);
      this.servers.push(m.server);
      this.metricsPort = m.port;
    }
  }

  /** Starts everything and resolves once running (it does not block until shutdown). */
  async start(): Promise<void> {
    if (this.started) throw new Error('manager already started');
    await this.startServers();
    this.started = true;
    for (const c of this.clusters()) c.cache.start(this.abort.signal);
    const timeoutMs = this.opts.cacheSyncTimeoutMs ?? 120_000;
    const synced = await Promise.all(
      this.clusters().map((c) => c.cache.waitForSync({ signal: this.abort.signal, timeoutMs })),
    );
    if (!synced.every(Boolean) && !this.abort.signal.aborted)
      throw new Error(`caches did not sync within ${timeoutMs} ms`);
    // Runnables first: a controller's reconciles may read what a runnable serves (e.g. a watch-backed lookup).
    for (const r of this.runnables)
      if (!r.needLeaderElection || !this.opts.leaderElection) this.runRunnable(r);
    for (const c of this.controllers) if (!c.needLeaderElection || !this.opts.leaderElection) c.start();
    if (!this.opts.leaderElection) {
      this.leaderStarted = true;
      return;
    }
    const le = this.opts.leaderElection;
    // The lease lives in the provider's own cluster, which need not be one of the engaged project clusters.
    const leaseClient = le.clientConfig
      ? createClient(le.clientConfig, {
          userAgent: `${this.name}/leader-election`,
          observer: this.metrics.requestObserver(),
        })
      : (le.cluster ? this.cluster(le.cluster) : this.clusters()[0])?.client;
    if (!leaseClient)
      throw new Error('leader election needs a cluster: set leaderElection.clientConfig or engage one');
    // The manager releases the lease itself, once its work has ended (see stop()).
    this.releaseOnStop = le.releaseOnCancel ?? true;
    this.elector = new LeaderElector(leaseClient, { ...le, releaseOnCancel: false }, this.log);
    this.elector.onStatus = (leading) => this.metrics.leaderStatus.set({ name: le.name }, leading ? 1 : 0);
    this.metrics.leaderStatus.set({ name: le.name }, 0);
    this.electing = this.elector.run(
      {
        onStartedLeading: () => {
          if (this.stopping) return;
          this.leaderStarted = true;
          for (const r of this.runnables) if (r.needLeaderElection) this.runRunnable(r);
          for (const c of this.controllers) if (c.needLeaderElection) c.start();
        },
        onStoppedLeading: () => {
          if (!this.electorAbort.signal.aborted) this.loseLeadership();
        },
      },
      this.electorAbort.signal,
    );
  }

  /** Another replica may lead from now on: abort every reconcile and runnable at once, never release. */
  private loseLeadership(): void {
    if (this.stopReason === 'lost-leadership') return;
    this.stopReason = 'lost-leadership';
    this.log.error('leader lease lost; stopping all work at once');
    this.electorAbort.abort(); // no new campaign here: a fresh process campaigns after the restart
    for (const c of this.controllers) c.halt();
    this.abort.abort();
    void this.stop();
    this.markLost();
  }

  private runRunnable(r: Runnable): void {
    this.running.push(
      Promise.resolve()
        .then(() => r.start(this.abort.signal))
        .catch((err) => this.log.error('runnable failed', { err })),
    );
  }

  private stopping: Promise<boolean> | undefined;

  /**
   * Graceful shutdown: stop taking work, let in-flight reconciles finish within the bound (then abort them and
   * let them return), stop runnables, and only then release the lease. Resolves true if all work finished
   * within the grace period and the lease was not lost.
   */
  stop(): Promise<boolean> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<boolean> {
    this.stopReason ??= 'shutdown';
    const lost = () => this.stopReason === 'lost-leadership';
    const grace = lost() ? 0 : (this.opts.gracefulShutdownMs ?? 30_000);
    const inTime = await Promise.all(this.controllers.map((c) => c.stop(grace)));
    const waitMs = () => (lost() ? LOST_WAIT_MS : ABORTED_WAIT_MS);
    const idle = await Promise.all(this.controllers.map((c) => c.idle(waitMs())));
    this.abort.abort();
    const runnablesDone = await within(Promise.allSettled(this.running), waitMs());
    // Renewals went on until now: a long graceful stop must not let the lease expire under running work.
    this.electorAbort.abort();
    await within(this.electing ?? Promise.resolve(), waitMs());
    if (this.elector && this.releaseOnStop && !lost()) {
      // Releasing while a reconcile still runs would let a successor overlap with it; expiry is the safe way.
      if (idle.every(Boolean) && runnablesDone) await this.elector.release();
      else
        this.log.warn(
          'work still running after shutdown; leaving the lease to expire instead of releasing it',
        );
    }
    // Bounded: an API server that stopped answering must not keep a process that lost its lease alive.
    const teardown = async () => {
      await Promise.all(this.clusters().map((c) => c.recorder.flush().catch(() => {})));
      await Promise.all(this.clusters().map((c) => c.cache.stop()));
      await Promise.all(this.clusters().map((c) => c.client.close().catch(() => {})));
    };
    await within(teardown(), lost() ? LOST_WAIT_MS : 30_000);
    for (const s of this.servers) s.close();
    return inTime.every(Boolean) && !lost();
  }

  /**
   * Stops on SIGTERM/SIGINT and resolves after shutdown with whether everything finished within the bound.
   * Also resolves, with false, when the leader lease is lost (`stopReason` says so): exit non-zero then.
   */
  handleSignals(): Promise<boolean> {
    return new Promise((resolve) => {
      const onSignal = (sig: string) => {
        this.log.info('shutting down', { signal: sig });
        void this.stop().then(resolve);
      };
      process.once('SIGTERM', () => onSignal('SIGTERM'));
      process.once('SIGINT', () => onSignal('SIGINT'));
      void this.lost.then(() => this.stop()).then(resolve);
    });
  }
}
