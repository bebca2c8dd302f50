/** The public runtime API. */
export * from './cache/index.ts';
export * from './client/index.ts';
export * from './controller/builder.ts';
export * from './controller/controller.ts';
export * from './controller/outcome.ts';
export * from './controller/predicates.ts';
export * from './controller/reconcile.ts';
export * from './leaderelection/leaderelection.ts';
export * from './log/logger.ts';
export * from './manager/cluster.ts';
export * from './manager/manager.ts';
export * from './metrics/metrics.ts';
export * from './multicluster/providers.ts';
export * from './queue/index.ts';
export { inSpan, setupTracingFromEnv, type TracingHandle } from './tracing.ts';
export * from './util/index.ts';
export * from './watch/watcher.ts';
