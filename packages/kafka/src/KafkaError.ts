/**
 * Errors of the Kafka connectors. Each names what a user acts on: the brokers,
 * the topic, the partition, the offset.
 *
 * @since 0.1.0
 */
import { StoreKit } from "@sluice/core"
import * as Schema from "effect/Schema"

/**
 * The brokers could not be reached, or refused a request that retrying did
 * not fix. `waitedMillis` is how long the operation waited before it gave up,
 * measured, retries and clean-up included: a broker that accepts connections
 * but does not answer costs that long.
 *
 * @example
 * ```ts
 * import { KafkaError } from "@sluice/kafka"
 * const error = new KafkaError.KafkaUnavailable({
 *   brokers: ["127.0.0.1:9092"],
 *   operation: "connect",
 *   cause: new Error("Connection refused"),
 *   waitedMillis: 2_140
 * })
 * error.message // "kafka at 127.0.0.1:9092: connect failed after 2.1s: Connection refused"
 * ```
 * @since 0.1.0
 * @category errors
 */
export class KafkaUnavailable extends Schema.TaggedError<KafkaUnavailable>()("KafkaUnavailable", {
  brokers: Schema.Array(Schema.String),
  operation: Schema.String,
  cause: Schema.Defect,
  waitedMillis: Schema.optional(Schema.Number)
}) {
  override get message(): string {
    const after = this.waitedMillis === undefined ? "" : ` after ${(this.waitedMillis / 1000).toFixed(1)}s`
    return `kafka at ${this.brokers.join(",")}: ${this.operation} failed${after}: ${describeCause(this.cause)}`
  }
}

/**
 * The brokers did not answer an operation within the client's limit
 * (`connectTimeout` to connect, `requestTimeout` for anything else): they
 * are down, stopped, overloaded, or something that is not Kafka listens on
 * their port. It is the `cause` of a `KafkaUnavailable`, whose message says
 * how long the operation waited in all.
 *
 * @example
 * ```ts
 * import { KafkaError } from "@sluice/kafka"
 * new KafkaError.NoAnswer({ limit: "requestTimeout", limitMillis: 30_000 }).message
 * // "no answer within 30s (requestTimeout): the broker is stopped, overloaded or not Kafka; ..."
 * ```
 * @since 0.1.0
 * @category errors
 */
export class NoAnswer extends Schema.TaggedError<NoAnswer>()("NoAnswer", {
  limit: Schema.Literal("connectTimeout", "requestTimeout"),
  limitMillis: Schema.Number
}) {
  override get message(): string {
    return `no answer within ${this.limitMillis / 1000}s (${this.limit}): the broker is stopped, overloaded or ` +
      `not Kafka; check it, or raise ${this.limit} if it is only slow`
  }
}

/**
 * A topic the connector needs does not exist.
 *
 * @example
 * ```ts
 * import { KafkaError } from "@sluice/kafka"
 * new KafkaError.TopicNotFound({ topic: "events" }).message
 * // "kafka topic events does not exist; create it first"
 * ```
 * @since 0.1.0
 * @category errors
 */
export class TopicNotFound extends Schema.TaggedError<TopicNotFound>()("TopicNotFound", {
  topic: Schema.String
}) {
  override get message(): string {
    return `kafka topic ${this.topic} does not exist; create it first`
  }
}

/**
 * A stored position points at records the topic no longer holds (retention
 * deleted them, or the topic was recreated). Resuming there would silently
 * skip or repeat input, so the input refuses (R11).
 *
 * @example
 * ```ts
 * import { KafkaError } from "@sluice/kafka"
 * new KafkaError.OffsetOutOfRange({ topic: "events", partition: 0, offset: 10, start: 50, end: 90 }).message
 * ```
 * @since 0.1.0
 * @category errors
 */
export class OffsetOutOfRange extends Schema.TaggedError<OffsetOutOfRange>()("OffsetOutOfRange", {
  topic: Schema.String,
  partition: Schema.Number,
  offset: Schema.Number,
  start: Schema.Number,
  end: Schema.Number
}) {
  override get message(): string {
    return `kafka topic ${this.topic} partition ${this.partition} has no offset ${this.offset}: ` +
      `it holds offsets ${this.start} to ${this.end - 1}; the records between were deleted or the topic was recreated`
  }
}

/**
 * A record's value does not decode with the input's schema. The record stays
 * in the topic, so every rerun stops at it: the message says how to go on.
 *
 * @example
 * ```ts
 * import { KafkaError } from "@sluice/kafka"
 * new KafkaError.RecordDecodeError({ topic: "events", partition: 0, offset: 7, issue: "Expected number" }).message
 * ```
 * @since 0.1.0
 * @category errors
 */
export class RecordDecodeError extends Schema.TaggedError<RecordDecodeError>()("RecordDecodeError", {
  topic: Schema.String,
  partition: Schema.Number,
  offset: Schema.Number,
  issue: Schema.String
}) {
  override get message(): string {
    return `record ${this.topic}/${this.partition}@${this.offset} does not decode with the input's schema: ` +
      `${this.issue}\nevery rerun stops at this record: read the topic with KafkaInput.withErrors to send ` +
      `records that do not decode to an error flow and go on, or change the schema to accept it`
  }
}

/**
 * The broker refused records as too large (`MESSAGE_TOO_LARGE`): a record
 * batch may not be larger than the topic's `max.message.bytes` (its default
 * is the broker's `message.max.bytes`, 1 MiB). The broker does not say which
 * record: `key` and `bytes` are those of the largest record of the request
 * (`bytes`: its key and value), the one that does not fit, unless the
 * request's records only add up to too much.
 *
 * @example
 * ```ts
 * import { KafkaError } from "@sluice/kafka"
 * new KafkaError.RecordTooLarge({
 *   topic: "counts",
 *   key: "ada",
 *   bytes: 2_000_000,
 *   records: 1,
 *   limitBytes: 1_048_588
 * }).message
 * ```
 * @since 0.1.0
 * @category errors
 */
export class RecordTooLarge extends Schema.TaggedError<RecordTooLarge>()("RecordTooLarge", {
  topic: Schema.String,
  /** The largest record's key as UTF-8 text, `null` when it has none. */
  key: Schema.NullOr(Schema.String),
  bytes: Schema.Number,
  /** How many records the refused request held for the topic. */
  records: Schema.Number,
  /** The topic's `max.message.bytes`, when it could be read. */
  limitBytes: Schema.optional(Schema.Number)
}) {
  override get message(): string {
    const limit = this.limitBytes === undefined ? "" : ` (${this.limitBytes} bytes)`
    const key = this.key === null ? "without a key" : `for key ${JSON.stringify(this.key)}`
    const size = `${this.bytes} bytes of key and value`
    const what = this.limitBytes === undefined || this.bytes + recordBatchOverhead > this.limitBytes
      ? `the record ${key} (${size}) is larger than topic ${this.topic} accepts`
      : `${this.records} records sent together to topic ${this.topic} are larger than it accepts ` +
        `(the largest, ${key}, has ${size})`
    return `${what}: its max.message.bytes is the limit${limit}; raise max.message.bytes on the topic ` +
      `(the broker's message.max.bytes sets it for topics without their own), or write smaller values`
  }
}

/** What a record batch of one record adds to its key and value, about: batch header and record framing. */
const recordBatchOverhead = 61 + 21

/**
 * Any error of the Kafka connectors.
 *
 * @since 0.1.0
 * @category models
 */
export type KafkaError = KafkaUnavailable | TopicNotFound | OffsetOutOfRange | RecordDecodeError | RecordTooLarge

/**
 * A one-line description of an error thrown by kafkajs, with the Kafka error
 * type (such as `INVALID_PRODUCER_EPOCH`) when the broker sent one.
 *
 * @example
 * ```ts
 * import { KafkaError } from "@sluice/kafka"
 * KafkaError.describeCause(new Error("Connection refused")) // "Connection refused"
 * ```
 * @since 0.1.0
 * @category errors
 */
export const describeCause = (cause: unknown): string => {
  const type = protocolErrorType(cause)
  const message = StoreKit.describeCause(cause)
  return type !== undefined && !message.includes(type) ? `${message} (${type})` : message
}

/**
 * The Kafka protocol error type (such as `INVALID_PRODUCER_EPOCH`) somewhere
 * in the cause chain of an error thrown by kafkajs, which wraps the broker's
 * answer in retry errors.
 *
 * @example
 * ```ts
 * import { KafkaError } from "@sluice/kafka"
 * KafkaError.protocolErrorType({ type: "INVALID_PRODUCER_EPOCH" }) // "INVALID_PRODUCER_EPOCH"
 * ```
 * @since 0.1.0
 * @category errors
 */
export const protocolErrorType = (cause: unknown): string | undefined => {
  for (let current = cause, depth = 0; current !== null && typeof current === "object" && depth < 8; depth++) {
    const { type } = current as { readonly type?: unknown }
    if (typeof type === "string") return type
    current = (current as { readonly cause?: unknown }).cause
  }
  return undefined
}
