/**
 * The store errors of one Kafka store, named after it.
 */
import { DataflowError, StoreKit } from "@sluice/core"
import { KafkaError } from "@sluice/kafka"

/** @internal */
export interface StoreErrors {
  readonly store: string
  /** A failed request: `reason` says which, the cause travels as one line of text (it crosses worker threads). */
  readonly unavailable: (reason: string) => (cause: unknown) => DataflowError.StoreUnavailable
  readonly corrupt: (reason: string) => DataflowError.StoreCorrupt
}

/**
 * Sluice's own errors describe themselves; a kafkajs error gets the Kafka
 * error type the broker answered with.
 *
 * @internal
 */
export const describe = (cause: unknown): string =>
  typeof cause === "object" && cause !== null && "_tag" in cause
    ? StoreKit.describeCause(cause)
    : KafkaError.describeCause(cause)

/** @internal */
export const storeErrors = (topicPrefix: string): StoreErrors => {
  const store = `kafka ${topicPrefix}`
  return {
    store,
    unavailable: (reason) => (cause) => new DataflowError.StoreUnavailable({ store, reason, cause: describe(cause) }),
    corrupt: (reason) => new DataflowError.StoreCorrupt({ store, reason })
  }
}
