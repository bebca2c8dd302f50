/**
 * Prometheus metrics under controller-runtime's names and labels, so dashboards and alerts written for Go
 * operators work unchanged. One registry per manager (tests run several managers in one process).
 */
import { createServer, type Server } from 'node:http';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { RequestObserver } from '../client/transport.ts';
import type { QueueMetrics } from '../queue/workqueue.ts';

const RECONCILE_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5,
  1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];
const QUEUE_BUCKETS = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10, 100, 1000];

export type ReconcileResult = 'success' | 'error' | 'requeue' | 'requeue_after';

export class RuntimeMetrics {
  readonly registry: Registry;
  readonly reconcileTotal: Counter<'controller' | 'result'>;
  readonly reconcileErrors: Counter<'controller'>;
  readonly terminalErrors: Counter<'controller'>;
  readonly reconcilePanics: Counter<'controller'>;
  readonly reconcileTime: Histogram<'controller'>;
  readonly maxConcurrent: Gauge<'controller'>;
  readonly activeWorkers: Gauge<'controller'>;
  readonly queueDepth: Gauge<'name' | 'controller'>;
  readonly queueAdds: Counter<'name' | 'controller'>;
  readonly queueRetries: Counter<'name' | 'controller'>;
  readonly queueLatency: Histogram<'name' | 'controller'>;
  readonly workDuration: Histogram<'name' | 'controller'>;
  readonly unfinishedWork: Gauge<'name' | 'controller'>;
  readonly longestRunning: Gauge<'name' | 'controller'>;
  readonly restRequests: Counter<'code' | 'method' | 'host'>;
  readonly restLatency: Histogram<'verb' | 'host'>;
  readonly leaderStatus: Gauge<'name'>;
  readonly leaderSlowpath: Counter<'name'>;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const r = new Registry();
    this.registry = r;
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: r });
    const c = <L extends string>(name: string, help: string, labelNames: L[]) =>
      new Counter<L>({ name, help, labelNames, registers: [r] });
    const g = <L extends string>(name: string, help: string, labelNames: L[]) =>
      new Gauge<L>({ name, help, labelNames, registers: [r] });
    const h = <L extends string>(name: string, help: string, labelNames: L[], buckets: number[]) =>
      new Histogram<L>({ name, help, labelNames, buckets, registers: [r] });
    this.reconcileTotal = c(
      'controller_runtime_reconcile_total',
      'Total number of reconciliations per controller',
      ['controller', 'result'],
    );
    this.reconcileErrors = c(
      'controller_runtime_reconcile_errors_total',
      'Total number of reconciliation errors per controller',
      ['controller'],
    );
    this.terminalErrors = c(
      'controller_runtime_terminal_reconcile_errors_total',
      'Total number of terminal reconciliation errors per controller',
      ['controller'],
    );
    this.reconcilePanics = c(
      'controller_runtime_reconcile_panics_total',
      'Total number of reconciliation panics per controller',
      ['controller'],
    );
    this.reconcileTime = h(
      'controller_runtime_reconcile_time_seconds',
      'Length of time per reconciliation per controller',
      ['controller'],
      RECONCILE_BUCKETS,
    );
    this.maxConcurrent = g(
      'controller_runtime_max_concurrent_reconciles',
      'Maximum number of concurrent reconciles per controller',
      ['controller'],
    );
    this.activeWorkers = g(
      'controller_runtime_active_workers',
      'Number of currently used workers per controller',
      ['controller'],
    );
    const ql = ['name', 'controller'] as ('name' | 'controller')[];
    this.queueDepth = g('workqueue_depth', 'Current depth of workqueue', ql);
    this.queueAdds = c('workqueue_adds_total', 'Total number of adds handled by workqueue', ql);
    this.queueRetries = c('workqueue_retries_total', 'Total number of retries handled by workqueue', ql);
    this.queueLatency = h(
      'workqueue_queue_duration_seconds',
      'How long in seconds an item stays in workqueue before being requested',
      ql,
      QUEUE_BUCKETS,
    );
    this.workDuration = h(
      'workqueue_work_duration_seconds',
      'How long in seconds processing an item from workqueue takes',
      ql,
      QUEUE_BUCKETS,
    );
    this.unfinishedWork = g(
      'workqueue_unfinished_work_seconds',
      'How many seconds of work has been done that is in progress',
      ql,
    );
    this.longestRunning = g(
      'workqueue_longest_running_processor_seconds',
      'How many seconds has the longest running processor been running',
      ql,
    );
    this.restRequests = c(
      'rest_client_requests_total',
      'Number of HTTP requests, partitioned by status code, method, and host',
      ['code', 'method', 'host'],
    );
    this.restLatency = h(
      'rest_client_request_duration_seconds',
      'Request latency in seconds',
      ['verb', 'host'],
      [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60],
    );
    this.leaderStatus = g(
      'leader_election_master_status',
      'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master',
      ['name'],
    );
    this.leaderSlowpath = c(
      'leader_election_slowpath_total',
      'Total number of slow path exercised in renewing leader leases',
      ['name'],
    );
  }

  /**
   * Every series of a controller at zero from the start, as controller-runtime does: a rate() or an alert on
   * errors then sees 0, not "no data", before the first error.
   */
  initController(controller: string): void {
    for (const result of ['success', 'error', 'requeue', 'requeue_after'])
      this.reconcileTotal.inc({ controller, result }, 0);
    this.reconcileErrors.inc({ controller }, 0);
    this.terminalErrors.inc({ controller }, 0);
    this.reconcilePanics.inc({ controller }, 0);
    this.activeWorkers.set({ controller }, 0);
    // An idle worker takes an added key straight away, so the depth may never be set by the queue itself.
    this.queueDepth.set({ name: controller, controller }, 0);
  }

  /** The hook the API client calls for every request. */
  requestObserver(): RequestObserver {
    return {
      onRequest: (method, host, code, seconds) => {
        this.restRequests.inc({ code, method, host });
        this.restLatency.observe({ verb: method, host }, seconds);
      },
    };
  }

  queueMetrics(controller: string): QueueMetrics {
    const l = { name: controller, controller };
    return {
      depth: (n) => this.queueDepth.set(l, n),
      add: () => this.queueAdds.inc(l),
      retry: () => this.queueRetries.inc(l),
      queueLatency: (s) => this.queueLatency.observe(l, s),
      workDuration: (s) => this.workDuration.observe(l, s),
    };
  }

  /** Gauges that describe work in progress are read from the queue at scrape time, as client-go does. */
  watchQueue(
    controller: string,
    q: { unfinishedWorkSeconds(): number; longestRunningSeconds(): number },
  ): void {
    this.inProgress.set(controller, q);
  }

  private readonly inProgress = new Map<
    string,
    { unfinishedWorkSeconds(): number; longestRunningSeconds(): number }
  >();

  private collectInProgress(): void {
    for (const [controller, q] of this.inProgress) {
      const l = { name: controller, controller };
      this.unfinishedWork.set(l, q.unfinishedWorkSeconds());
      this.longestRunning.set(l, q.longestRunningSeconds());
    }
  }

  async render(): Promise<string> {
    this.collectInProgress();
    return this.registry.metrics();
  }
}

/** Serves `/metrics` on `addr` (host:port; port 0 picks a free one). Returns the server and its port. */
export async function serveMetrics(
  metrics: RuntimeMetrics,
  addr: string,
): Promise<{ server: Server; port: number }> {
  const [host, port] = splitAddr(addr);
  const server = createServer(async (req, res) => {
    if (req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': metrics.registry.contentType });
    res.end(await metrics.render());
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  const a = server.address();
  return { server, port: typeof a === 'object' && a ? a.port : port };
}

export function splitAddr(addr: string): [string, number] {
  const i = addr.lastIndexOf(':');
  const host = i > 0 ? addr.slice(0, i).replace(/^\[|\]$/g, '') : '127.0.0.1';
  return [host || '0.0.0.0', Number(addr.slice(i + 1))];
}
