/** One engaged cluster: its client, its shared cache and its event recorder. */
import { Cache } from '../cache/cache.ts';
import type { Transform } from '../cache/informer.ts';
import { createClient, type HttpClient } from '../client/client.ts';
import type { ClusterConfig } from '../client/config.ts';
import type { Logger } from '../log/logger.ts';
import type { RuntimeMetrics } from '../metrics/metrics.ts';
import { ClientEventRecorder, type EventRecorder } from '../util/events.ts';

/**
 * What the cluster provider knows about a cluster beyond how to reach it (Milo: the Project's labels and
 * annotations), passed through without interpretation for the application to read; kept current.
 */
export interface ClusterMetadata {
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
}

export interface Cluster {
  readonly name: string;
  metadata: ClusterMetadata;
  readonly config: ClusterConfig;
  readonly client: HttpClient;
  readonly cache: Cache;
  readonly recorder: EventRecorder;
}

export function newCluster(
  name: string,
  config: ClusterConfig,
  opts: {
    component: string;
    log: Logger;
    metrics?: RuntimeMetrics;
    transform?: Transform;
    userAgent?: string;
    metadata?: ClusterMetadata;
  },
): Cluster {
  const log = opts.log.child({ cluster: name });
  const client = createClient(config, {
    userAgent: opts.userAgent ?? opts.component,
    observer: opts.metrics?.requestObserver(),
    log,
  });
  return {
    name,
    metadata: opts.metadata ?? { labels: {}, annotations: {} },
    config,
    client,
    cache: new Cache(client, { defaultTransform: opts.transform, log }),
    recorder: new ClientEventRecorder(client, opts.component, log),
  };
}
