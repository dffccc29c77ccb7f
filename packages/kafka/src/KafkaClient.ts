/**
 * A connection to a Kafka cluster, shared by the connectors and the Kafka
 * recovery store: topic administration, producers, and reading a partition
 * from an offset with read_committed, without a consumer group.
 *
 * Positions in Sluice live in the epochs of the recovery store, not in
 * consumer-group commits, so reading is "this partition, from this offset",
 * as the Java client's `assign` + `seek` do.
 *
 * The interface is Sluice's own: kafkajs 2.2.4 does the work underneath, and
 * none of its types show here, so the client beneath can change without
 * changing this module.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/client.js"
import type { KafkaUnavailable, OffsetOutOfRange, RecordTooLarge, TopicNotFound } from "./KafkaError.js"

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
  /**
   * How long one operation (a send, a commit, a fetch beyond its `maxWait`, an
   * admin request), kafkajs's retries included, waits for the brokers before
   * it fails with `KafkaUnavailable`; default 30 seconds, as kafkajs's and the
   * Java client's request timeout.
   */
  readonly requestTimeout?: Duration.DurationInput
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
 * A record to produce. Without `partition`, the key chooses the partition
 * (murmur2, as the Java client does); records without a key are spread.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProducerRecord {
  readonly key: Uint8Array | string | null
  /** `null` is a tombstone: on a compacted topic it deletes the key. */
  readonly value: Uint8Array | string | null
  readonly partition?: number
  readonly headers?: Readonly<Record<string, string>>
}

/**
 * Records for one topic, in the order they are to be written.
 *
 * @since 0.1.0
 * @category models
 */
export interface TopicRecords {
  readonly topic: string
  readonly records: ReadonlyArray<ProducerRecord>
}

/**
 * Where a send wrote: per topic and partition, the offset of the first
 * record (`undefined` when the broker did not say).
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordMetadata {
  readonly topic: string
  readonly partition: number
  readonly baseOffset: number | undefined
}

/**
 * How a producer behaves. Every producer is idempotent, sends one request at
 * a time per broker, waits for all in-sync replicas, and never creates
 * topics by writing to them.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProducerOptions {
  /**
   * Makes the producer transactional under this id. Its first transaction
   * fences any earlier producer with the same id and aborts what that one
   * left open.
   */
  readonly transactionalId?: string
  /** How long the broker lets a transaction stay open before aborting it; default 60 seconds. */
  readonly transactionTimeout?: Duration.DurationInput
}

/**
 * One open transaction of a transactional producer.
 *
 * @since 0.1.0
 * @category models
 */
export interface Transaction {
  /**
   * Sends records as part of the transaction; they become visible to read_committed readers with its commit.
   * Records the broker refuses as too large fail with `RecordTooLarge`.
   */
  readonly send: (
    batch: ReadonlyArray<TopicRecords>
  ) => Effect.Effect<ReadonlyArray<RecordMetadata>, KafkaUnavailable | RecordTooLarge>
}

/**
 * A connected producer, disconnected when its scope closes.
 *
 * @example
 * ```ts
 * import { KafkaClient } from "@sluice/kafka"
 * import { Effect } from "effect"
 *
 * const both = Effect.gen(function*() {
 *   const client = yield* KafkaClient.make({ brokers: ["127.0.0.1:9092"] })
 *   const producer = yield* client.producer({ transactionalId: "transfers-1" })
 *   // both records or neither, for read_committed readers
 *   yield* producer.transaction((transaction) =>
 *     transaction.send([
 *       { topic: "debits", records: [{ key: "ada", value: "-5" }] },
 *       { topic: "credits", records: [{ key: "bob", value: "5" }] }
 *     ])
 *   )
 * }).pipe(Effect.scoped)
 * ```
 * @since 0.1.0
 * @category models
 */
export interface Producer {
  /** Sends records outside any transaction; records the broker refuses as too large fail with `RecordTooLarge`. */
  readonly send: (
    batch: ReadonlyArray<TopicRecords>
  ) => Effect.Effect<ReadonlyArray<RecordMetadata>, KafkaUnavailable | RecordTooLarge>
  /**
   * Runs `body` in a transaction (transactional producers only): it commits
   * when `body` succeeds and is aborted when `body` fails or is interrupted.
   */
  readonly transaction: <A, E, R>(
    body: (transaction: Transaction) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | KafkaUnavailable, R>
}

/**
 * A connected client.
 *
 * @since 0.1.0
 * @category models
 */
export interface KafkaClient {
  readonly brokers: ReadonlyArray<string>
  /** The names of the cluster's topics. */
  readonly listTopics: Effect.Effect<ReadonlyArray<string>, KafkaUnavailable>
  /** The topic's partition count and configuration, or none when it does not exist. */
  readonly describeTopic: (topic: string) => Effect.Effect<Option.Option<TopicDescription>, KafkaUnavailable>
  /**
   * Creates a topic and waits for its partition leaders, asking again while
   * the broker is still settling. Succeeds with `false` when the topic
   * already existed (whatever its settings).
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
   * Deletes the records of a partition before an offset, as retention does:
   * afterwards the partition starts at `before`.
   */
  readonly deleteRecords: (topic: string, partition: number, before: number) => Effect.Effect<void, KafkaUnavailable>
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
    /** Set the `sluice_kafka_input_lag` gauge of this partition after each fetch, as inputs do. */
    readonly reportLag?: boolean
  }) => Stream.Stream<KafkaRecord, KafkaUnavailable | OffsetOutOfRange>
  /** A connected producer, disconnected when the scope closes. */
  readonly producer: (options?: ProducerOptions) => Effect.Effect<Producer, KafkaUnavailable, Scope.Scope>
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
