/**
 * The Kafka recovery store: a dataflow's snapshots and progress in two
 * compacted topics, `<prefix>-progress` and `<prefix>-state`, with one
 * partition per worker.
 *
 * - **R1** Each epoch of a worker is one Kafka transaction (idempotent,
 *   transactional producer): its snapshot versions, its input positions, its
 *   "epoch complete" record and its transactional output records. After a
 *   crash, read_committed readers see all of it or none of it.
 * - **Fencing** The transactional id is fixed per store and worker
 *   (`sluice.<prefix>.worker-<index>`): a restarted worker fences its
 *   predecessor, whose open transaction is aborted and whose later writes fail.
 * - **R3** A resume reads the compacted topics to their end.
 * - **R6** Each snapshot version has its own record key; versions no longer
 *   needed are deleted with tombstones in the same transaction, so what
 *   compaction keeps grows with the live keys, not with the epochs.
 * - **R7** The store records its dataflow id and worker count; another
 *   dataflow or another worker count refuses to resume, and topics with the
 *   wrong partition count or cleanup policy refuse to open.
 * - **Rescaling** `rescale: true` first stores its plan in partition 0 of
 *   the progress topic (one transaction), then resets every worker
 *   (tombstones, and a `retired` marker per partition) and writes the new
 *   workers' shares: more workers add partitions, fewer leave the ones above
 *   them retired. A kill anywhere is finished from the plan by the next run
 *   with `rescale: true`.
 * - **R5** Output records (from `Output.transactional` or an exactly-once
 *   `KafkaOutput`) are produced to the topic named by their destination, in
 *   the epoch's transaction. With several workers, records of an epoch that
 *   not every worker has completed yet are held in the state topic and
 *   produced once all have, so a redone epoch never shows its output twice.
 *
 * @since 0.1.0
 */
import { type DataflowError, RecoveryStore } from "@sluice/core"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as internal from "./internal/backend.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Bootstrap brokers, `host:port`. */
  readonly brokers: ReadonlyArray<string>
  /** Names the topics: `<topicPrefix>-progress` and `<topicPrefix>-state`. One prefix per dataflow. */
  readonly topicPrefix: string
  /**
   * Topic configuration used when the store creates its topics, on top of
   * `cleanup.policy=compact` (which always holds), e.g. `segment.ms` to have
   * compaction run sooner.
   */
  readonly topicConfig?: Readonly<Record<string, string>>
  /** Replication factor of created topics; default: the broker's `default.replication.factor`. */
  readonly replicationFactor?: number
  /** The topic an output destination writes to; default: the destination itself. */
  readonly outputTopic?: (destination: string) => string
  /**
   * How long the broker lets a transaction stay open before aborting it
   * (`transaction.timeout.ms`). It bounds how long read_committed readers wait
   * behind a crashed worker that is never restarted. Default 60 seconds.
   */
  readonly transactionTimeout?: Duration.DurationInput
  /** How long connecting may take before opening fails with `StoreUnavailable`; default 10 seconds. */
  readonly connectTimeout?: Duration.DurationInput
  /**
   * How long one request to the brokers (a commit's send or commit, a read),
   * retries included, may wait before it fails with `StoreUnavailable`; default
   * 30 seconds. A stopped broker costs that long per commit.
   */
  readonly requestTimeout?: Duration.DurationInput
  /** Sent to the brokers; default `sluice-<topicPrefix>-<worker index>`. */
  readonly clientId?: string
}

/**
 * The byte-level backend, for `RecoveryStore.layer` or wrapping in tests.
 *
 * @example
 * ```ts
 * import { KafkaRecovery } from "@sluice/recovery-kafka"
 * import { RecoveryStore } from "@sluice/core"
 * const layer = RecoveryStore.layer(KafkaRecovery.backend({ brokers: ["127.0.0.1:9092"], topicPrefix: "wordcount" }))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const backend: (options: Options) => RecoveryStore.Backend = internal.makeBackend

/**
 * The store as a Layer. Nothing connects until a worker opens the store; a
 * broker that cannot be reached then fails the run with `StoreUnavailable`
 * within `connectTimeout`.
 *
 * @example
 * ```ts
 * import { KafkaRecovery } from "@sluice/recovery-kafka"
 * import { Dataflow } from "@sluice/core"
 * import { Effect } from "effect"
 *
 * declare const flow: Dataflow.Dataflow
 * const program = Dataflow.run(flow).pipe(
 *   Effect.provide(KafkaRecovery.layer({ brokers: ["127.0.0.1:9092"], topicPrefix: "wordcount" }))
 * )
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<RecoveryStore.RecoveryStore> =>
  Layer.suspend(() => RecoveryStore.layer(backend(options)))

/**
 * Deletes the store's two topics, so that the next run starts from epoch 1
 * (R9). Output topics are left alone.
 *
 * @example
 * ```ts
 * import { KafkaRecovery } from "@sluice/recovery-kafka"
 * const reset = KafkaRecovery.reset({ brokers: ["127.0.0.1:9092"], topicPrefix: "wordcount" })
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const reset: (
  options: Pick<Options, "brokers" | "topicPrefix" | "connectTimeout">
) => Effect.Effect<void, DataflowError.StoreUnavailable> = internal.reset

/**
 * The names of the store's topics for a prefix.
 *
 * @example
 * ```ts
 * import { KafkaRecovery } from "@sluice/recovery-kafka"
 * KafkaRecovery.topics("wordcount") // { progress: "wordcount-progress", state: "wordcount-state" }
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const topics: (topicPrefix: string) => { readonly progress: string; readonly state: string } = internal.topicsOf
