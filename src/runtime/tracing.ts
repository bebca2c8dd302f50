/**
 * OpenTelemetry spans, off unless configured: the runtime and the provider only use the API (a no-op until a
 * tracer provider is registered); `setupTracingFromEnv` registers one when the standard OTLP variables say
 * where to send spans. One span per reconcile (`reconcile <controller>`), children for what it calls.
 */
import { type Attributes, type Span, SpanStatusCode, trace } from '@opentelemetry/api';

const TRACER = 'datum-provider-ts';

/** Runs `fn` in an active span that ends with it; a throw marks the span as an error and rethrows. */
export async function inSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return trace.getTracer(TRACER).startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.name ?? 'error' });
      throw err;
    } finally {
      span.end();
    }
  });
}

export interface TracingHandle {
  /** Exports what is buffered and stops (call at shutdown). */
  shutdown(): Promise<void>;
}

/**
 * Registers a tracer provider exporting OTLP/HTTP when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
 * `OTEL_EXPORTER_OTLP_ENDPOINT` is set (`OTEL_SERVICE_NAME` names the service; `OTEL_TRACES_SAMPLER_ARG` a
 * ratio); otherwise does nothing and loads nothing.
 */
export async function setupTracingFromEnv(env = process.env): Promise<TracingHandle | undefined> {
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.replace(/\/$/, '');
  const url = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (base ? `${base}/v1/traces` : undefined);
  if (!url) return undefined;
  const [
    { NodeTracerProvider, BatchSpanProcessor, TraceIdRatioBasedSampler, ParentBasedSampler },
    { OTLPTraceExporter },
    { resourceFromAttributes },
  ] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  const ratio = Number(env.OTEL_TRACES_SAMPLER_ARG ?? '1');
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME ?? 'datum-provider' }),
    sampler: new ParentBasedSampler({
      root: new TraceIdRatioBasedSampler(Number.isFinite(ratio) ? ratio : 1),
    }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url }), { scheduledDelayMillis: 1000 })],
  });
  provider.register();
  return { shutdown: () => provider.shutdown() };
}
