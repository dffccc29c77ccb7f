/**
 * A Kafka topic as a dataflow input: one input partition per topic partition,
 * resumable by offset.
 *
 * The offset of the last record an epoch read from each partition is stored
 * in that epoch, with its snapshots, in the recovery store — not committed to
 * a consumer group. A resume therefore restarts every partition right after
 * the last completed epoch (R11), and with the Kafka store the positions
 * commit in the same Kafka transaction as the state they belong to.
 *
 * @since 0.1.0
 */
import { Dataflow, Input } from "@sluice/core"
import * as Chunk from "effect/Chunk"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as KafkaClient from "./KafkaClient.js"
import { type KafkaError, RecordDecodeError, TopicNotFound } from "./KafkaError.js"

/**
 * A record as the input emits it: its decoded value and where it came from.
 *
 * @since 0.1.0
 * @category models
 */
export interface Message<A> {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  /** The record key as UTF-8 text, `null` when the record has none. */
  readonly key: string | null
  readonly value: A
  /** Milliseconds since the epoch, as the producer or broker stamped it. */
  readonly timestamp: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<A, I extends string | null> extends KafkaClient.Options {
  readonly topic: string
  /**
   * Decodes a record's value from its UTF-8 text, e.g. `Schema.parseJson(Event)`
   * for JSON or `Schema.String` for plain text. A record without a value (a
   * tombstone) is decoded from `null`, so `Schema.NullOr(…)` accepts it; a
   * value that does not decode fails the input with `RecordDecodeError`.
   */
  readonly value: Schema.Schema<A, I>
  /**
   * Read up to the end offsets (last stable offsets) seen when the run starts,
   * then end: for tests and batch jobs. By default the input follows the
   * topic forever.
   */
  readonly bounded?: boolean
  /** Read only these partitions; default all of the topic's partitions. */
  readonly partitions?: ReadonlyArray<number>
  /** How long a fetch waits for new records when following; default 500 ms. */
  readonly maxWait?: Duration.DurationInput
}

/**
 * A record whose value does not decode with the input's schema, as the error
 * flow of {@link withErrors} carries it: where it is, its raw bytes, and what
 * the schema said. Plain data, so it crosses worker threads and outputs as it
 * is.
 *
 * @since 0.1.0
 * @category models
 */
export interface InvalidRecord {
  readonly _tag: "InvalidRecord"
  readonly topic: string
  readonly partition: number
  readonly offset: number
  /** The record key as UTF-8 text, `null` when the record has none. */
  readonly key: string | null
  /** The value's bytes as they are in the topic, `null` for a tombstone. */
  readonly value: Uint8Array | null
  /** Milliseconds since the epoch, as the producer or broker stamped it. */
  readonly timestamp: number
  /** Why the value does not decode, as the schema says it. */
  readonly issue: string
}

/**
 * What {@link withErrors} returns: the decoded records, and the records that
 * did not decode.
 *
 * @since 0.1.0
 * @category models
 */
export interface WithErrors<A> {
  readonly items: Dataflow.Flow<Message<A>>
  readonly errors: Dataflow.Flow<InvalidRecord>
}

/**
 * Reads a topic. Positions are offsets (a JSON number per partition), stored
 * with each epoch; on resume every partition continues after its stored
 * offset, and a partition without one starts at its first record.
 *
 * A record whose value does not decode fails the step with
 * `RecordDecodeError`, and every rerun fails on it the same way: read the
 * topic with {@link withErrors} to send such records to an error flow and go
 * on.
 *
 * @example
 * ```ts
 * import { Dataflow, Epoch } from "@sluice/core"
 * import { KafkaInput } from "@sluice/kafka"
 * import { Schema } from "effect"
 *
 * const Click = Schema.Struct({ user: Schema.String, page: Schema.String })
 * const flow = Dataflow.make("clicks").pipe(
 *   Dataflow.input("clicks", KafkaInput.make({
 *     brokers: ["127.0.0.1:9092"],
 *     topic: "clicks",
 *     value: Schema.parseJson(Click)
 *   })),
 *   Dataflow.map("user", (message) => message.value.user)
 * )
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, I extends string | null>(options: Options<A, I>): Input.Input<Message<A>> =>
  topicInput(options, (invalid) =>
    Either.left(
      new RecordDecodeError({
        topic: invalid.topic,
        partition: invalid.partition,
        offset: invalid.offset,
        issue: invalid.issue
      })
    ))

/**
 * Reads a topic as {@link make} does, as an input step named `stepId`, and
 * splits what it reads: `items` are the records whose values decode, `errors`
 * the ones that do not ({@link InvalidRecord}, with their raw bytes). A record
 * in `errors` is read like any other: its offset commits with the epoch, so a
 * rerun goes on after it, and it is kept wherever the error flow's output
 * puts it. This is bytewax's `oks`/`errs`.
 *
 * The split is a `Dataflow.branch` step named `<stepId>-errors`.
 *
 * @example
 * ```ts
 * import { Dataflow, Output } from "@sluice/core"
 * import { KafkaInput } from "@sluice/kafka"
 * import { Schema } from "effect"
 *
 * const Click = Schema.Struct({ user: Schema.String, page: Schema.String })
 * const flow = Dataflow.make("clicks")
 * const { errors, items } = flow.pipe(
 *   KafkaInput.withErrors("clicks", {
 *     brokers: ["127.0.0.1:9092"],
 *     topic: "clicks",
 *     value: Schema.parseJson(Click)
 *   })
 * )
 * items.pipe(
 *   Dataflow.map("user", (message) => message.value.user),
 *   Dataflow.output("users", Output.console())
 * )
 * errors.pipe(
 *   Dataflow.map("where", (invalid) => `${invalid.topic}/${invalid.partition}@${invalid.offset}: ${invalid.issue}`),
 *   Dataflow.output("dead-letters", Output.console())
 * )
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const withErrors: {
  <A, I extends string | null>(stepId: string, options: Options<A, I>): (self: Dataflow.Dataflow) => WithErrors<A>
  <A, I extends string | null>(self: Dataflow.Dataflow, stepId: string, options: Options<A, I>): WithErrors<A>
} = dual(
  3,
  <A, I extends string | null>(self: Dataflow.Dataflow, stepId: string, options: Options<A, I>): WithErrors<A> => {
    const both = self.pipe(
      Dataflow.input(stepId, topicInput<A, I, never, InvalidRecord>(options, Either.right))
    )
    const { falses: items, trues: errors } = Dataflow.branch(both, `${stepId}-errors`, isInvalidRecord)
    return { items, errors }
  }
)

const isInvalidRecord = <A>(item: Message<A> | InvalidRecord): item is InvalidRecord =>
  "_tag" in item && item._tag === "InvalidRecord"

/**
 * The input of a topic: each record's value decoded with the schema, and a
 * record that does not decode handed to `onInvalid`, which fails the input or
 * turns it into an item. Either way the record's offset is its position.
 */
const topicInput = <A, I extends string | null, E, B>(
  options: Options<A, I>,
  onInvalid: (invalid: InvalidRecord) => Either.Either<B, E>
): Input.Input<Message<A> | B> => {
  const { topic } = options
  const client = KafkaClient.makeShared(options)
  const decode = Schema.decodeUnknownEither(options.value)
  const decoder = new TextDecoder()
  /** Bounded mode: where each partition stops, taken once for all partitions when the run lists them. */
  let ends = new Map<number, number>()
  return Input.partitioned<Message<A> | B, number, KafkaError | E>({
    partitions: Effect.scoped(Effect.gen(function*() {
      const c = yield* client
      const description = yield* c.describeTopic(topic)
      if (Option.isNone(description)) return yield* new TopicNotFound({ topic })
      const all = Array.from({ length: description.value.partitions }, (_, i) => i)
      const chosen = options.partitions === undefined ? all : all.filter((p) => options.partitions!.includes(p))
      if (options.bounded === true) ends = new Map(yield* c.endOffsets(topic, chosen))
      return chosen.map(String)
    })),
    open: (name, resumeFrom: Option.Option<number>) =>
      Stream.unwrapScoped(Effect.map(client, (c) => {
        const partition = Number(name)
        return c.read({
          topic,
          partition,
          from: Option.match(resumeFrom, { onNone: () => "start" as const, onSome: (offset) => offset + 1 }),
          until: options.bounded === true ? { before: ends.get(partition) ?? 0 } : "follow",
          reportLag: true,
          ...(options.maxWait === undefined ? {} : { maxWait: options.maxWait })
        }).pipe(
          Stream.mapChunksEffect((records) => {
            const out: Array<readonly [Message<A> | B, number]> = []
            for (const record of records) {
              const key = record.key === null ? null : decoder.decode(record.key)
              const decoded = decode(record.value === null ? null : decoder.decode(record.value))
              if (Either.isRight(decoded)) {
                out.push([{
                  topic,
                  partition,
                  offset: record.offset,
                  key,
                  value: decoded.right,
                  timestamp: record.timestamp
                }, record.offset])
                continue
              }
              const handled = onInvalid({
                _tag: "InvalidRecord",
                topic,
                partition,
                offset: record.offset,
                key,
                value: record.value,
                timestamp: record.timestamp,
                issue: ParseResult.TreeFormatter.formatErrorSync(decoded.left)
              })
              if (Either.isLeft(handled)) return Effect.fail(handled.left)
              out.push([handled.right, record.offset])
            }
            return Effect.succeed(Chunk.unsafeFromArray(out))
          })
        )
      }))
  })
}
