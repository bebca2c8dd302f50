/**
 * The manager runs everything: engaged clusters (client + cache each), controllers, other runnables,
 * leader election, probes and metrics, and a bounded graceful shutdown.
 *
 * Start order: probes/metrics servers → caches of engaged clusters → wait for sync → runnables that need no
 * leader → leader election → leader-only controllers/runnables while leading. Clusters engaged later get
 * their caches started and every controller attached at once.
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
import { type Cluster, newCluster } from './cluster.ts';
import { serveProbes } from './probes.ts';

export interface Runnable {
  start(signal: AbortSignal): Promise<void> | void;
  needLeaderElection?: boolean;
}

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

  /** Adds a cluster (a Datum project). Controllers start watching it immediately if the manager runs. */
  async engage(name: string, config: ClusterConfig): Promise<Cluster> {
    const existing = this.clusterMap.get(name);
    if (existing) return existing;
    const transform = this.opts.transform === null ? undefined : (this.opts.transform ?? stripManagedFields);
    const cluster = newCluster(name, config, {
      component: this.name,
      log: this.log,
      metrics: this.metrics,
      transform,
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
    for (const c of this.controllers) if (!c.needLeaderElection || !this.opts.leaderElection) c.start();
    for (const r of this.runnables)
      if (!r.needLeaderElection || !this.opts.leaderElection) this.runRunnable(r);
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
    this.elector = new LeaderElector(leaseClient, le, this.log);
    this.elector.onStatus = (leading) => this.metrics.leaderStatus.set({ name: le.name }, leading ? 1 : 0);
    this.metrics.leaderStatus.set({ name: le.name }, 0);
    this.running.push(
      this.elector.run(
        {
          onStartedLeading: () => {
            this.leaderStarted = true;
            for (const c of this.controllers) if (c.needLeaderElection) c.start();
            for (const r of this.runnables) if (r.needLeaderElection) this.runRunnable(r);
          },
          // Losing the lease means another replica may act now: stop at once, as controller-runtime exits.
          onStoppedLeading: () => {
            if (!this.abort.signal.aborted) {
              this.log.error('leader lease lost; stopping');
              void this.stop();
            }
          },
        },
        this.abort.signal,
      ),
    );
  }

  private runRunnable(r: Runnable): void {
    this.running.push(
      Promise.resolve()
        .then(() => r.start(this.abort.signal))
        .catch((err) => this.log.error('runnable failed', { err })),
    );
  }

  private stopping: Promise<boolean> | undefined;

  /** Graceful shutdown: stop taking work, let in-flight reconciles finish within the bound, release the lease. */
  stop(): Promise<boolean> {
    this.stopping ??= (async () => {
      const grace = this.opts.gracefulShutdownMs ?? 30_000;
      const results = await Promise.all(this.controllers.map((c) => c.stop(grace)));
      this.abort.abort();
      await Promise.race([Promise.allSettled(this.running), new Promise((r) => setTimeout(r, 5000))]);
      await Promise.all(this.clusters().map((c) => c.recorder.flush().catch(() => {})));
      await Promise.all(this.clusters().map((c) => c.cache.stop()));
      await Promise.all(this.clusters().map((c) => c.client.close().catch(() => {})));
      for (const s of this.servers) s.close();
      return results.every(Boolean);
    })();
    return this.stopping;
  }

  /** Stops on SIGTERM/SIGINT; resolves after shutdown with whether everything finished within the bound. */
  handleSignals(): Promise<boolean> {
    return new Promise((resolve) => {
      const onSignal = (sig: string) => {
        this.log.info('shutting down', { signal: sig });
        void this.stop().then(resolve);
      };
      process.once('SIGTERM', () => onSignal('SIGTERM'));
      process.once('SIGINT', () => onSignal('SIGINT'));
    });
  }
}
