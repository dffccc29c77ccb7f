/**
 * The metrics a run records, as Effect `Metric`s in the thread's metric
 * registry. Nothing reads them unless an exporter is configured (for example
 * `NodeTelemetry.layerMetrics` in `@sluice/platform-node`, which serves them
 * in Prometheus text format); recording them costs a few map updates per
 * epoch, never work per item: operators count items in plain numbers per
 * chunk, and the run turns those counts into metric updates once an epoch
 * commits.
 *
 * With worker threads, each worker's counts of an epoch travel to the
 * calling thread with the epoch itself, and are recorded there with the
 * `worker` label, so one registry shows the whole run.
 *
 * | name (as Prometheus shows it) | type | labels | meaning |
 * | --- | --- | --- | --- |
 * | `sluice_step_items_in_total` | counter | dataflow, step, worker | items that reached a step |
 * | `sluice_step_items_out_total` | counter | dataflow, step, worker | items a step emitted (an output: wrote) |
 * | `sluice_epochs_committed_total` | counter | dataflow | epochs committed by this run |
 * | `sluice_epoch_committed` | gauge | dataflow | the last committed epoch |
 * | `sluice_epoch_committed_at_seconds` | gauge | dataflow | when it committed, Unix time in seconds |
 * | `sluice_epoch_duration_seconds` | histogram | dataflow | time from the end of the previous epoch to this one's commit |
 * | `sluice_commit_latency_seconds` | histogram | dataflow | time the store took to commit an epoch |
 * | `sluice_snapshot_writes_total` | counter | dataflow, worker | snapshots (and tombstones) written with epochs |
 * | `sluice_snapshot_bytes_total` | counter | dataflow, worker | bytes of those snapshots |
 * | `sluice_resume_epoch` | gauge | dataflow | the epoch this run resumed at (1 for a fresh store) |
 * | `sluice_resume_duration_seconds` | gauge | dataflow, worker | time to open the store and load the snapshots |
 * | `sluice_resume_keys_loaded_total` | counter | dataflow, step, worker | snapshots loaded at resume |
 * | `sluice_exchange_queue_depth` | gauge | dataflow, worker | most exchange messages waiting in a worker's inbox during the last epoch |
 * | `sluice_kafka_input_lag` | gauge | topic, partition (and dataflow, worker) | records between a Kafka input's position and the partition's stable end (`@sluice/kafka`) |
 *
 * @since 0.2.0
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as Schema from "effect/Schema"

/**
 * Items that reached a step, per chunk of items.
 *
 * @example
 * ```ts
 * import { Metrics } from "@sluice/core"
 * import { Effect, Metric } from "effect"
 * const state = Metric.value(Metrics.stepItemsIn.pipe(Metric.tagged("step", "count")))
 * ```
 * @since 0.2.0
 * @category metrics
 */
export const stepItemsIn = Metric.counter("sluice_step_items_in", {
  description: "Items that reached a step",
  incremental: true
})

/**
 * Items a step emitted downstream; for an output, items it wrote.
 *
 * @example
 * ```ts
 * import { Metrics } from "@sluice/core"
 * import { Metric } from "effect"
 * const state = Metric.value(Metrics.stepItemsOut.pipe(Metric.tagged("step", "out")))
 * ```
 * @since 0.2.0
 * @category metrics
 */
export const stepItemsOut = Metric.counter("sluice_step_items_out", {
  description: "Items a step emitted (an output: wrote)",
  incremental: true
})

/**
 * Epochs this run committed.
 *
 * @example
 * ```ts
 * import { Metrics } from "@sluice/core"
 * import { Metric } from "effect"
 * const state = Metric.value(Metrics.epochsCommitted)
 * ```
 * @since 0.2.0
 * @category metrics
 */
export const epochsCommitted = Metric.counter("sluice_epochs_committed", {
  description: "Epochs committed by this run",
  incremental: true
})

/**
 * The last committed epoch: a run whose value stops moving is stuck.
 *
 * @example
 * ```ts
 * import { Metrics } from "@sluice/core"
 * import { Metric } from "effect"
 * const state = Metric.value(Metrics.epochCommitted)
 * ```
 * @since 0.2.0
 * @category metrics
 */
export const epochCommitted = Metric.gauge("sluice_epoch_committed", {
  description: "The last committed epoch"
})

/**
 * When the last epoch committed, in Unix seconds; `time() - value` is the age
 * of the newest recovery point.
 *
 * @example
 * ```ts
 * import { Metrics } from "@sluice/core"
 * import { Metric } from "effect"
 * const state = Metric.value(Metrics.epochCommittedAt)
 * ```
 * @since 0.2.0
 * @category metrics
 */
export const epochCommittedAt = Metric.gauge("sluice_epoch_committed_at_seconds", {
  description: "When the last epoch committed, Unix time in seconds"
})

const secondsBoundaries = MetricBoundaries.exponential({ start: 0.001, factor: 2, count: 16 })

/**
 * Time from the end of the previous epoch to the commit of this one.
 *
 * @example
 * ```ts
 * import { Metrics } from "@sluice/core"
 * import { Metric } from "effect"
 * const state = Metric.value(Metrics.epochDuration)
 * ```
 * @since 0.2.0
 * @category metrics
 */
export const epochDuration = Metric.histogram(
  "sluice_epoch_duration_seconds",
  secondsBoundaries,
  "Time from the end of the previous epoch to this one's commit"
)

/**
 * Time the store took to commit an epoch (snapshots, positions, outputs).
 *
 * @example
 * ```ts
 * import { Metrics } from "@sluice/core"
 * import { Metric } from "effect"
 * const state = Metric.value(Metrics.commitLatency)
 * ```
 * @since 0.2.0
 * @category metrics
 */
export const commitLatency = Metric.histogram(
  "sluice_commit_latency_seconds",
  secondsBoundaries,
  "Time the store took to commit an epoch"
)

/**
 * Snapshots (and tombstones) written with epochs.
 *
 * @example
 * ```ts
 * import { Metrics } from "@sluice/core"
 * import { Metric } from "effect"
 * const state = Metric.value(Metrics.snapshotWrites)
 * ```
 * @since 0.2.0
 * @category metrics
 */
export const snapshotWrites = Metric.counter("sluice_snapshot_writes", {
  description: "Snapshots and tombstones written with epochs",
  incremental: true
})

/**
 * Bytes of the snapshots written with epochs.
 *
 * @example
 * ```ts
 * import { Metrics } from "@sluice/core"
 * import { Metric } from "effect"
 * const state = Metric.value(Metrics.snapshotBytes)
 * ```
 * @since 0.2.0
 * @category metrics
 */
export const snapshotBytes = Metric.counter("sluice_snapshot_bytes", {
  description: "Bytes of the snapshots written with epochs",
  incremental: true
})

/**
 * The epoch this run resumed at: 1 for a fresh store.
 *
 * @example
 * ```ts
 * import { Metrics } from "@sluice/core"
 * import { Metric } from "effect"
 * const state = Metric.value(Metrics.resumeEpoch)
 * ```
 * @since 0.2.0
 * @category metrics
 */
export const resumeEpoch = Metric.gauge("sluice_resume_epoch", {
  description: "The epoch this run resumed at (1 for a fresh store)"
})

/**
 * Time a worker took to open the store and load its snapshots.
 *
 * @example
 * ```ts
 * import { Metrics } from "@sluice/core"
 * import { Metric } from "effect"
 * const state = Metric.value(Metrics.resumeDuration)
 * ```
 * @since 0.2.0
 * @category metrics
 */
export const resumeDuration = Metric.gauge("sluice_resume_duration_seconds", {
  description: "Time to open the store and load the snapshots at resume"
})

/**
 * Snapshots a step loaded at resume.
 *
 * @example
 * ```ts
 * import { Metrics } from "@sluice/core"
 * import { Metric } from "effect"
 * const state = Metric.value(Metrics.resumeKeysLoaded)
 * ```
 * @since 0.2.0
 * @category metrics
 */
export const resumeKeysLoaded = Metric.counter("sluice_resume_keys_loaded", {
  description: "Snapshots loaded at resume",
  incremental: true
})

/**
 * The most exchange messages waiting in a worker's inbox during the last
 * epoch: a worker whose value grows is slower than the others.
 *
 * @example
 * ```ts
 * import { Metrics } from "@sluice/core"
 * import { Metric } from "effect"
 * const state = Metric.value(Metrics.exchangeQueueDepth)
 * ```
 * @since 0.2.0
 * @category metrics
 */
export const exchangeQueueDepth = Metric.gauge("sluice_exchange_queue_depth", {
  description: "Most exchange messages waiting in a worker's inbox during the last epoch"
})

/**
 * The prefix of every Sluice metric. Gauges with it that inputs set inside a
 * worker thread (like the Kafka input's lag) are carried to the calling
 * thread with each epoch.
 *
 * @example
 * ```ts
 * import { Metrics } from "@sluice/core"
 * const ours = (name: string) => name.startsWith(Metrics.prefix)
 * ```
 * @since 0.2.0
 * @category constants
 */
export const prefix = "sluice_"

/**
 * A label and its value.
 *
 * @since 0.2.0
 * @category models
 */
export const Label = Schema.Tuple(Schema.String, Schema.String)

/**
 * What one worker counted in one epoch: items per step, snapshot writes, the
 * deepest its exchange inbox got, the gauges its inputs set, and, with its
 * first epoch, what its resume loaded. A thread runtime carries it from the
 * worker to the calling thread with the epoch; the run records it there.
 *
 * @example
 * ```ts
 * import { Metrics } from "@sluice/core"
 * import { Schema } from "effect"
 * const sample = Schema.decodeUnknownSync(Metrics.WorkerEpochMetrics)({
 *   steps: [{ stepId: "count", itemsIn: 10, itemsOut: 3 }],
 *   snapshotWrites: 3,
 *   snapshotBytes: 42,
 *   exchangeQueueDepth: 0,
 *   gauges: []
 * })
 * ```
 * @since 0.2.0
 * @category models
 */
export const WorkerEpochMetrics = Schema.Struct({
  steps: Schema.Array(Schema.Struct({ stepId: Schema.String, itemsIn: Schema.Number, itemsOut: Schema.Number })),
  snapshotWrites: Schema.Number,
  snapshotBytes: Schema.Number,
  exchangeQueueDepth: Schema.Number,
  /** Gauges with the `sluice_` prefix that the worker's inputs set, with their labels. */
  gauges: Schema.Array(Schema.Struct({ name: Schema.String, labels: Schema.Array(Label), value: Schema.Number })),
  resume: Schema.optional(Schema.Struct({
    seconds: Schema.Number,
    keys: Schema.Array(Schema.Struct({ stepId: Schema.String, keys: Schema.Number }))
  }))
})

/**
 * @since 0.2.0
 * @category models
 */
export type WorkerEpochMetrics = typeof WorkerEpochMetrics.Type
