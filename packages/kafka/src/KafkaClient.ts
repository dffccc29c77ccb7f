/**
 * A connection to a Kafka cluster, shared by the connectors and the Kafka
 * recovery store: topic administration, producers, and reading a partition
 * from an offset with read_committed, without a consumer group.
 *
 * Positions in Sluice live in the epochs of the recovery store, not in
 * consumer-group commits, so reading is "this partition, from this offset",
 * as the Java client's `assign` + `seek` do.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { Admin, Kafka, Producer, ProducerConfig } from "kafkajs"
import * as internal from "./internal/client.js"
import type { KafkaUnavailable, OffsetOutOfRange, TopicNotFound } from "./KafkaError.js"

/**
 * How to reach the cluster.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Bootstrap brokers, `host:port`. */
  readonly brokers: ReadonlyArray<string>
  /** Sent to the brokers with every request; default `sluice`. */
  readonly clientId?: string
  /** How long the first connection may take before the client gives up; default 10 seconds. */
  readonly connectTimeout?: Duration.DurationInput
  /** What kafkajs itself prints to the console; default `nothing` (failures reach you as errors). */
  readonly logLevel?: "nothing" | "error" | "warn" | "info" | "debug"
}

/**
 * A committed record read from a partition.
 *
 * @since 0.1.0
 * @category models
 */
export interface KafkaRecord {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly key: Uint8Array | null
  readonly value: Uint8Array | null
  /** Milliseconds since the epoch, as the producer or broker stamped it. */
  readonly timestamp: number
  readonly headers: Readonly<Record<string, string>>
}

/**
 * What a topic looks like: its partition count and its configuration.
 *
 * @since 0.1.0
 * @category models
 */
export interface TopicDescription {
  readonly topic: string
  readonly partitions: number
  readonly config: Readonly<Record<string, string>>
}

/**
 * The offsets of one partition: `start` is the first offset it holds, `end`
 * the last stable offset (the end of what read_committed readers see), `high`
 * the high watermark. `end < high` while a transaction is open on the
 * partition.
 *
 * @since 0.1.0
 * @category models
 */
export interface PartitionOffsets {
  readonly partition: number
  readonly start: number
  readonly end: number
  readonly high: number
}

/**
 * Where a read stops: at the last stable offset seen when the read starts
 * (`"end"`), before an offset, or never (`"follow"`, waiting for new records).
 *
 * @since 0.1.0
 * @category models
 */
export type Until = "end" | "follow" | { readonly before: number }

/**
 * A connected client.
 *
 * @since 0.1.0
 * @category models
 */
export interface KafkaClient {
  readonly brokers: ReadonlyArray<string>
  /** The kafkajs client, for what this interface does not cover. */
  readonly kafka: Kafka
  /** A connected kafkajs admin client. */
  readonly admin: Admin
  /** The topic's partition count and configuration, or none when it does not exist. */
  readonly describeTopic: (topic: string) => Effect.Effect<Option.Option<TopicDescription>, KafkaUnavailable>
  /**
   * Creates a topic and waits for its partition leaders. Succeeds with `false`
   * when the topic already existed (whatever its settings).
   */
  readonly createTopic: (options: {
    readonly topic: string
    /** Default: the broker's `num.partitions`. */
    readonly partitions?: number
    /** Default: the broker's `default.replication.factor`. */
    readonly replicationFactor?: number
    readonly config?: Readonly<Record<string, string>>
  }) => Effect.Effect<boolean, KafkaUnavailable>
  /**
   * Grows a topic to `count` partitions (Kafka cannot shrink one) and waits
   * until its description shows them; a topic that has them already is left
   * as it is.
   */
  readonly createPartitions: (topic: string, count: number) => Effect.Effect<void, KafkaUnavailable>
  /** Deletes topics; topics that do not exist are left out. */
  readonly deleteTopics: (topics: ReadonlyArray<string>) => Effect.Effect<void, KafkaUnavailable>
  /**
   * The last stable offset (the end of what read_committed readers see) of
   * each listed partition: where a read "to the end" started now stops.
   */
  readonly endOffsets: (
    topic: string,
    partitions: ReadonlyArray<number>
  ) => Effect.Effect<ReadonlyMap<number, number>, KafkaUnavailable>
  /** The offsets of every partition of a topic. */
  readonly offsets: (topic: string) => Effect.Effect<ReadonlyArray<PartitionOffsets>, KafkaUnavailable | TopicNotFound>
  /**
   * The committed records of one partition from an offset (`"start"`: the
   * first it holds), in offset order, one chunk per fetch.
   */
  readonly read: (options: {
    readonly topic: string
    readonly partition: number
    readonly from: number | "start"
    readonly until: Until
    /** How long a fetch waits for new records when following; default 500 ms. */
    readonly maxWait?: Duration.DurationInput
  }) => Stream.Stream<KafkaRecord, KafkaUnavailable | OffsetOutOfRange>
  /** A connected kafkajs producer, disconnected when the scope closes. */
  readonly producer: (config: ProducerConfig) => Effect.Effect<Producer, KafkaUnavailable, Scope.Scope>
}

/**
 * Connects to the cluster; the connections close with the scope. A cluster
 * that cannot be reached fails with `KafkaUnavailable` within
 * `connectTimeout`.
 *
 * @example
 * ```ts
 * import { KafkaClient } from "@sluice/kafka"
 * import { Effect, Stream } from "effect"
 *
 * const firstTen = Effect.gen(function*() {
 *   const client = yield* KafkaClient.make({ brokers: ["127.0.0.1:9092"] })
 *   return yield* Stream.runCollect(
 *     client.read({ topic: "events", partition: 0, from: "start", until: { before: 10 } })
 *   )
 * }).pipe(Effect.scoped)
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make: (options: Options) => Effect.Effect<KafkaClient, KafkaUnavailable, Scope.Scope> = internal.make

/**
 * A client shared by everyone who asks for it at the same time: the first
 * user connects, the last one to leave disconnects. Inputs use it so that the
 * partitions of one topic share one connection.
 *
 * @example
 * ```ts
 * import { KafkaClient } from "@sluice/kafka"
 * import { Effect } from "effect"
 *
 * const shared = KafkaClient.makeShared({ brokers: ["127.0.0.1:9092"] })
 * const partitions = Effect.scoped(Effect.flatMap(shared, (client) => client.offsets("events")))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const makeShared: (options: Options) => Effect.Effect<KafkaClient, KafkaUnavailable, Scope.Scope> =
  internal.makeShared
