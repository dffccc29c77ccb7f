/**
 * The OpenTelemetry side of `NodeTelemetry`: the Prometheus exporter as a
 * metric reader of Effect's registry, and tracer providers for spans.
 *
 * @internal
 */
import * as OtelMetrics from "@effect/opentelemetry/Metrics"
import * as Resource from "@effect/opentelemetry/Resource"
import * as Tracer from "@effect/opentelemetry/Tracer"
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { BasicTracerProvider, BatchSpanProcessor, type SpanProcessor } from "@opentelemetry/sdk-trace-base"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

export type { SpanProcessor }

/** @internal */
export const defaultHost = "127.0.0.1"

/** @internal */
export const layerMetrics = <E>(
  address: { readonly host?: string; readonly port: number },
  failed: (address: string, reason: string) => E
): Layer.Layer<never, E> => {
  const host = address.host ?? defaultHost
  return Layer.scopedDiscard(Effect.gen(function*() {
    // The exporter's own server starts here, not in its constructor, so a taken port fails the layer.
    const exporter = new PrometheusExporter({
      host,
      port: address.port,
      preventServerStart: true,
      withoutScopeInfo: true
    })
    yield* Effect.tryPromise({
      try: () => exporter.startServer(),
      catch: (cause) => failed(`${host}:${address.port}`, cause instanceof Error ? cause.message : String(cause))
    })
    const producer = yield* OtelMetrics.makeProducer
    yield* OtelMetrics.registerProducer(producer, () => exporter)
  })).pipe(Layer.provide(Resource.layer({ serviceName: "sluice" })))
}

const layerTracerProvider = (processor: SpanProcessor) =>
  Layer.scoped(
    Tracer.OtelTracerProvider,
    Effect.flatMap(Resource.Resource, (resource) =>
      Effect.acquireRelease(
        Effect.sync(() => new BasicTracerProvider({ resource, spanProcessors: [processor] })),
        // spans of the last epoch reach the exporter before the process ends
        (provider) =>
          Effect.promise(() => provider.forceFlush().then(() => provider.shutdown())).pipe(
            Effect.timeoutOption("3 seconds")
          )
      ))
  )

/** @internal */
export const layerTracingTo = (
  processor: SpanProcessor,
  options: { readonly serviceName?: string } = {}
): Layer.Layer<Resource.Resource | Tracer.OtelTracerProvider | Tracer.OtelTracer> =>
  Tracer.layer.pipe(
    Layer.provideMerge(layerTracerProvider(processor)),
    Layer.provideMerge(Resource.layer({ serviceName: options.serviceName ?? "sluice" }))
  )

/** @internal */
export const layerOtlpTracing = (endpoint: string, serviceName: string) =>
  layerTracingTo(
    new BatchSpanProcessor(new OTLPTraceExporter({ url: `${endpoint.replace(/\/$/, "")}/v1/traces` })),
    { serviceName }
  )
