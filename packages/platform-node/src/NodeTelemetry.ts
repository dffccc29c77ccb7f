/**
 * Seeing a run from outside: its `Metrics` served in Prometheus text format,
 * its spans exported over OTLP, and a live dashboard in the browser. Each is a
 * layer to provide to a program that runs a dataflow; without them a run
 * records its metrics in memory and its spans go to Effect's default tracer,
 * once per epoch, never per item.
 *
 * @since 0.2.0
 */
import * as Resource from "@effect/opentelemetry/Resource"
import * as Tracer from "@effect/opentelemetry/Tracer"
import type { Dataflow, RunEvents } from "@sluice/core"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as dashboard from "./internal/dashboard.js"
import * as telemetry from "./internal/telemetry.js"

/**
 * A telemetry server could not start, e.g. because its port is taken.
 *
 * @example
 * ```ts
 * import { NodeTelemetry } from "@sluice/platform-node"
 * const error = new NodeTelemetry.TelemetryServerFailed({ server: "metrics", address: "127.0.0.1:3030", reason: "port in use" })
 * error.message // "the metrics server could not listen on 127.0.0.1:3030: port in use; choose another port"
 * ```
 * @since 0.2.0
 * @category errors
 */
export class TelemetryServerFailed extends Schema.TaggedError<TelemetryServerFailed>()("TelemetryServerFailed", {
  server: Schema.Literal("metrics", "dashboard"),
  address: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `the ${this.server} server could not listen on ${this.address}: ${this.reason}; choose another port`
  }
}

/**
 * Where a telemetry server listens.
 *
 * @since 0.2.0
 * @category models
 */
export interface ListenAddress {
  /** Default `127.0.0.1`: only this machine can read it unless asked otherwise. */
  readonly host?: string
  readonly port: number
}

/**
 * Serves the run's `Metrics` (and every other Effect metric of this thread)
 * on `http://host:port/metrics` in Prometheus text format, through
 * `@effect/opentelemetry` and the OpenTelemetry Prometheus exporter. With
 * worker threads, the workers' counts reach this thread with each epoch and
 * carry a `worker` label.
 *
 * @example
 * ```ts
 * import { Dataflow, RecoveryStore } from "@sluice/core"
 * import { NodeTelemetry } from "@sluice/platform-node"
 * import { Effect, Layer } from "effect"
 *
 * declare const flow: Dataflow.Dataflow
 * const program = Dataflow.run(flow).pipe(
 *   Effect.provide(Layer.merge(NodeTelemetry.layerMetrics({ port: 3030 }), RecoveryStore.layerMemory()))
 * )
 * ```
 * @since 0.2.0
 * @category layers
 */
export const layerMetrics = (address: ListenAddress): Layer.Layer<never, TelemetryServerFailed> =>
  telemetry.layerMetrics(address, (at, reason) => new TelemetryServerFailed({ server: "metrics", address: at, reason }))

/**
 * Sends the run's spans (`sluice.run`, `sluice.resume`, `sluice.epoch` with
 * its `sluice.epoch.items`, `sluice.epoch.writes` and `sluice.epoch.commit`)
 * to a span processor, for example an OpenTelemetry SDK's
 * `BatchSpanProcessor` around any exporter.
 *
 * @example
 * ```ts
 * import { NodeTelemetry } from "@sluice/platform-node"
 *
 * // e.g. new SimpleSpanProcessor(new InMemorySpanExporter()) from @opentelemetry/sdk-trace-base
 * declare const processor: Parameters<typeof NodeTelemetry.layerTracingTo>[0]
 * const tracing = NodeTelemetry.layerTracingTo(processor)
 * ```
 * @since 0.2.0
 * @category layers
 */
export const layerTracingTo: (
  processor: telemetry.SpanProcessor,
  options?: { readonly serviceName?: string }
) => Layer.Layer<Resource.Resource | Tracer.OtelTracerProvider | Tracer.OtelTracer> = telemetry.layerTracingTo

/**
 * Exports the run's spans over OTLP (HTTP, protobuf-free JSON) when the
 * environment variable `OTEL_EXPORTER_OTLP_ENDPOINT` is set (e.g.
 * `http://localhost:4318`; spans go to its `/v1/traces`), named after
 * `OTEL_SERVICE_NAME` (default `sluice`). Without the variable it adds
 * nothing, and spans stay with Effect's default tracer.
 *
 * @example
 * ```ts
 * import { Dataflow, RecoveryStore } from "@sluice/core"
 * import { NodeTelemetry } from "@sluice/platform-node"
 * import { Effect, Layer } from "effect"
 *
 * declare const flow: Dataflow.Dataflow
 * const program = Dataflow.run(flow).pipe(
 *   Effect.provide(Layer.merge(NodeTelemetry.layerTracing, RecoveryStore.layerMemory()))
 * )
 * ```
 * @since 0.2.0
 * @category layers
 */
export const layerTracing: Layer.Layer<never, ConfigError.ConfigError> = Layer.unwrapEffect(
  Config.all({
    endpoint: Config.option(Config.nonEmptyString("OTEL_EXPORTER_OTLP_ENDPOINT")),
    serviceName: Config.withDefault(Config.nonEmptyString("OTEL_SERVICE_NAME"), "sluice")
  }).pipe(
    Config.map(({ endpoint, serviceName }) =>
      Option.match(endpoint, {
        onNone: () => Layer.empty,
        onSome: (url) => Layer.discard(telemetry.layerOtlpTracing(url, serviceName))
      })
    )
  )
)

/**
 * Serves a live dashboard of the run on `http://host:port/`: the dataflow's
 * graph, throughput per step, epoch progress and commit latency over time,
 * the workers, the resume point and the last error, updated as epochs commit
 * (server-sent events). Its page, script and styles ship in this package: it
 * needs no network. It provides the `RunEvents` hub the run reports to.
 *
 * @example
 * ```ts
 * import { Dataflow, RecoveryStore } from "@sluice/core"
 * import { NodeTelemetry } from "@sluice/platform-node"
 * import { Effect, Layer } from "effect"
 *
 * declare const flow: Dataflow.Dataflow
 * const program = Dataflow.run(flow).pipe(
 *   Effect.provide(
 *     Layer.merge(NodeTelemetry.layerDashboard({ port: 3031, dataflow: flow }), RecoveryStore.layerMemory())
 *   )
 * )
 * ```
 * @since 0.2.0
 * @category layers
 */
export const layerDashboard = (
  options: ListenAddress & { readonly dataflow: Dataflow.Dataflow }
): Layer.Layer<RunEvents.RunEvents, TelemetryServerFailed> =>
  dashboard.layer(options, (address, reason) => new TelemetryServerFailed({ server: "dashboard", address, reason }))
