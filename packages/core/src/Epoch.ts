/**
 * Epoch policies: how a worker cuts its input into epochs. An epoch is the unit
 * of recovery: its state writes, input positions and progress commit together.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"

/**
 * How epochs are cut.
 *
 * @since 0.1.0
 * @category models
 */
export type EpochPolicy =
  | { readonly _tag: "Interval"; readonly duration: Duration.Duration }
  | { readonly _tag: "EveryItems"; readonly items: number }

/**
 * Close an epoch every `duration` of time read from Effect's `Clock` (so
 * `TestClock` drives it in tests), also while the input is idle. An input
 * that hands over a large batch at once (a Kafka fetch, a file's backlog) is
 * cut inside the batch once the epoch has run `duration`, so an epoch's length
 * does not grow with the input's batches.
 *
 * @example
 * ```ts
 * import { Epoch } from "@sluice/core"
 * const policy = Epoch.interval("5 seconds")
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const interval = (duration: Duration.DurationInput = "10 seconds"): EpochPolicy => ({
  _tag: "Interval",
  duration: Duration.decode(duration)
})

/**
 * Close an epoch after every `items` input items (counted over all inputs and
 * partitions of a worker). Deterministic, for tests and benchmarks.
 *
 * @example
 * ```ts
 * import { Epoch } from "@sluice/core"
 * const policy = Epoch.everyItems(10_000)
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const everyItems = (items: number): EpochPolicy => {
  if (!Number.isInteger(items) || items < 1) {
    throw new RangeError(`Epoch.everyItems needs a whole number of items of at least 1, got ${items}`)
  }
  return { _tag: "EveryItems", items }
}

/**
 * The policy used when a run names none: every 10 seconds.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultPolicy: EpochPolicy = interval("10 seconds")
