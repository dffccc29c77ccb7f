/**
 * Windows and clocks for keyed, time-based aggregation.
 *
 * A clock gives each item a timestamp and each key a watermark: the time up to
 * which the key's input is taken as complete. A window policy assigns items to
 * windows; a window closes and emits when the watermark passes its end. Items
 * older than the watermark are late and go to a separate flow. Open windows,
 * their accumulators and the clock's state are snapshotted like any other
 * state (R12).
 *
 * Named `Window` so that nothing here shadows `effect/Clock`, which drives the
 * clocks (`TestClock` in tests).
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"

/**
 * Processing time: an item's timestamp is the `Clock` time when it is
 * processed, and the watermark is the current time.
 *
 * @since 0.1.0
 * @category models
 */
export interface SystemClock {
  readonly _tag: "SystemClock"
}

/**
 * Event time: an item's timestamp is read from the item; the watermark of a
 * key is the largest timestamp seen minus `lateness`, and it advances with
 * `Clock` time while the key's input is idle.
 *
 * @since 0.1.0
 * @category models
 */
export interface EventClock<in V> {
  readonly _tag: "EventClock"
  readonly timestamp: (item: V) => Date
  readonly lateness: Duration.Duration
}

/**
 * @since 0.1.0
 * @category models
 */
export type WindowClock<V> = SystemClock | EventClock<V>

/**
 * @since 0.1.0
 * @category models
 */
export type WindowPolicy =
  | { readonly _tag: "Tumbling"; readonly length: number; readonly alignTo: number }
  | { readonly _tag: "Sliding"; readonly length: number; readonly offset: number; readonly alignTo: number }
  | { readonly _tag: "Session"; readonly gap: number }

/**
 * The bounds of a window: `start` inclusive, `end` exclusive.
 *
 * @since 0.1.0
 * @category models
 */
export interface WindowBounds {
  readonly start: Date
  readonly end: Date
}

/**
 * What a window step emits for each closed window.
 *
 * @since 0.1.0
 * @category models
 */
export interface Windowed<S> {
  readonly window: WindowBounds
  readonly value: S
}

/**
 * Processing-time clock.
 *
 * @example
 * ```ts
 * import { Window } from "@sluice/core"
 * const clock = Window.systemClock()
 * ```
 * @since 0.1.0
 * @category clocks
 */
export const systemClock = (): SystemClock => ({ _tag: "SystemClock" })

/**
 * Event-time clock with a watermark of the largest timestamp seen minus
 * `lateness`.
 *
 * @example
 * ```ts
 * import { Window } from "@sluice/core"
 * const clock = Window.eventClock({ timestamp: (e: { at: Date }) => e.at, lateness: "5 seconds" })
 * ```
 * @since 0.1.0
 * @category clocks
 */
export const eventClock = <V>(options: {
  readonly timestamp: (item: V) => Date
  readonly lateness: Duration.DurationInput
}): EventClock<V> => ({
  _tag: "EventClock",
  timestamp: options.timestamp,
  lateness: Duration.decode(options.lateness)
})

const millis = (name: string, duration: Duration.DurationInput): number => {
  const ms = Duration.toMillis(Duration.decode(duration))
  if (!(ms > 0) || !Number.isFinite(ms)) throw new RangeError(`Window ${name} must be a positive duration`)
  return ms
}

/**
 * Fixed-length windows that do not overlap: `[alignTo + k·length, alignTo + (k+1)·length)`.
 *
 * @example
 * ```ts
 * import { Window } from "@sluice/core"
 * const window = Window.tumbling({ length: "10 seconds", alignTo: new Date(0) })
 * ```
 * @since 0.1.0
 * @category windows
 */
export const tumbling = (options: {
  readonly length: Duration.DurationInput
  readonly alignTo?: Date
}): WindowPolicy => ({
  _tag: "Tumbling",
  length: millis("length", options.length),
  alignTo: options.alignTo?.getTime() ?? 0
})

/**
 * Fixed-length windows starting every `offset`; with `offset < length` they
 * overlap and an item belongs to several.
 *
 * @example
 * ```ts
 * import { Window } from "@sluice/core"
 * const window = Window.sliding({ length: "1 minute", offset: "10 seconds", alignTo: new Date(0) })
 * ```
 * @since 0.1.0
 * @category windows
 */
export const sliding = (options: {
  readonly length: Duration.DurationInput
  readonly offset: Duration.DurationInput
  readonly alignTo?: Date
}): WindowPolicy => ({
  _tag: "Sliding",
  length: millis("length", options.length),
  offset: millis("offset", options.offset),
  alignTo: options.alignTo?.getTime() ?? 0
})

/**
 * Per-key sessions: a session holds items less than `gap` apart and ends `gap`
 * after its last item. An item that bridges two sessions merges them.
 *
 * @example
 * ```ts
 * import { Window } from "@sluice/core"
 * const window = Window.session({ gap: "30 minutes" })
 * ```
 * @since 0.1.0
 * @category windows
 */
export const session = (options: { readonly gap: Duration.DurationInput }): WindowPolicy => ({
  _tag: "Session",
  gap: millis("gap", options.gap)
})
