/**
 * A Kafka topic as a dataflow output.
 *
 * - `"at-least-once"` (the default): the output's own idempotent producer
 *   sends each epoch's records and waits for the brokers to acknowledge them
 *   before the epoch commits. After a crash, the records of epochs that did
 *   not complete are sent again (R5).
 * - `"exactly-once"`: the records go into the epoch's transaction of the
 *   recovery store (`transaction.writeOutput` with the topic as destination).
 *   With the Kafka store (`@sluice/recovery-kafka`) that is one Kafka
 *   transaction holding the epoch's output records, snapshots and progress,
 *   so consumers reading with `read_committed` see every record exactly once
 *   across crashes. With another store, the records go wherever that store
 *   keeps transactional outputs, not to Kafka.
 *
 * @since 0.1.0
 */
import { Output } from "@sluice/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as KafkaClient from "./KafkaClient.js"

/**
 * @since 0.1.0
 * @category models
 */
export type Delivery = "at-least-once" | "exactly-once"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<A, I extends string> extends KafkaClient.Options {
  readonly topic: string
  /** Encodes an item to the record value's UTF-8 text, e.g. `Schema.parseJson(Count)`. */
  readonly value: Schema.Schema<A, I>
  /** The record key; records with the same key go to the same partition. Default: no key. */
  readonly key?: (item: A) => string | null
  /** Default `"at-least-once"`. */
  readonly delivery?: Delivery
  /**
   * When the topic does not exist, it is created with this many partitions
   * (default: the broker's `num.partitions`).
   */
  readonly partitions?: number
  /** Records sent in one request by the at-least-once producer; default 10,000. */
  readonly batchSize?: number
}

const encoder = new TextEncoder()

/**
 * Writes items to a topic, creating it when missing.
 *
 * @example
 * ```ts
 * import { KafkaOutput } from "@sluice/kafka"
 * import { Schema } from "effect"
 *
 * const Count = Schema.Tuple(Schema.String, Schema.Number)
 * const counts = KafkaOutput.make({
 *   brokers: ["127.0.0.1:9092"],
 *   topic: "word-counts",
 *   value: Schema.parseJson(Count),
 *   key: ([word]) => word,
 *   delivery: "exactly-once" // with KafkaRecovery.layer as the store
 * })
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, I extends string>(options: Options<A, I>): Output.Output<A> => {
  const { topic } = options
  const encode = Schema.encodeEither(options.value)
  const keyOf = options.key
  /** Encodes a whole epoch's items synchronously: one Effect per chunk, not per item. */
  const toRecords = (items: ReadonlyArray<A>) =>
    Effect.suspend(() => {
      const records: Array<{ readonly key: Uint8Array | null; readonly value: Uint8Array }> = []
      for (const item of items) {
        const text = encode(item)
        if (Either.isLeft(text)) return Effect.fail(text.left)
        const key = keyOf === undefined ? null : keyOf(item)
        records.push({ key: key === null ? null : encoder.encode(key), value: encoder.encode(text.right) })
      }
      return Effect.succeed(records)
    })
  return Output.make((context) =>
    Effect.gen(function*() {
      const connect = KafkaClient.make({ ...options, clientId: options.clientId ?? `sluice-${context.stepId}` })
      const ensureTopic = (client: KafkaClient.KafkaClient) =>
        Effect.gen(function*() {
          if (Option.isSome(yield* client.describeTopic(topic))) return
          yield* client.createTopic({
            topic,
            ...(options.partitions === undefined ? {} : { partitions: options.partitions })
          })
        })
      let pending: Array<A> = []
      if (options.delivery === "exactly-once") {
        // the store produces the records; this output only makes sure the topic is there
        yield* Effect.scoped(Effect.flatMap(connect, ensureTopic))
        return {
          write: (items) =>
            Effect.sync(() => {
              for (const item of items) pending.push(item)
            }),
          beforeCommit: ({ transaction }) =>
            Effect.suspend(() => {
              const items = pending
              pending = []
              return Effect.map(toRecords(items), (records) => {
                for (const record of records) transaction.writeOutput({ destination: topic, ...record })
              })
            })
        } satisfies Output.OutputWriter<A>
      }
      const client = yield* connect
      yield* ensureTopic(client)
      const producer = yield* client.producer()
      const batchSize = options.batchSize ?? 10_000
      const send = Effect.suspend(() => {
        const items = pending
        pending = []
        if (items.length === 0) return Effect.void
        return Effect.gen(function*() {
          const records = yield* toRecords(items)
          for (let start = 0; start < records.length; start += batchSize) {
            yield* producer.send([{ topic, records: records.slice(start, start + batchSize) }])
          }
        })
      })
      return {
        write: (items) =>
          Effect.suspend(() => {
            for (const item of Chunk.toReadonlyArray(items)) pending.push(item)
            return pending.length >= batchSize ? send : Effect.void
          }),
        // acknowledged before the epoch commits: a completed epoch's records are in Kafka
        beforeCommit: () => send
      } satisfies Output.OutputWriter<A>
    })
  )
}
