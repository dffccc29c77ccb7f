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
 * not fix.
 *
 * @example
 * ```ts
 * import { KafkaError } from "@sluice/kafka"
 * const error = new KafkaError.KafkaUnavailable({
 *   brokers: ["127.0.0.1:9092"],
 *   operation: "connect",
 *   cause: new Error("Connection refused")
 * })
 * error.message // "kafka at 127.0.0.1:9092: connect failed: Connection refused"
 * ```
 * @since 0.1.0
 * @category errors
 */
export class KafkaUnavailable extends Schema.TaggedError<KafkaUnavailable>()("KafkaUnavailable", {
  brokers: Schema.Array(Schema.String),
  operation: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    return `kafka at ${this.brokers.join(",")}: ${this.operation} failed: ${describeCause(this.cause)}`
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
 * Any error of the Kafka connectors.
 *
 * @since 0.1.0
 * @category models
 */
export type KafkaError = KafkaUnavailable | TopicNotFound | OffsetOutOfRange | RecordDecodeError

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
