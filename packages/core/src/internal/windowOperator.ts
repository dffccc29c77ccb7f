import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { DataflowError } from "../DataflowError.js"
import type { EpochTransaction } from "../RecoveryStore.js"
import type { WindowClock, Windowed, WindowPolicy } from "../Window.js"
import { byKey, KeyedStateOperator, type RunContext } from "./operators.js"
import * as StateCodec from "./stateCodec.js"

/** How a window step combines values. @internal */
export interface WindowAggregate {
  /** Absent for `reduceWindow`: the first value is the accumulator. */
  readonly init: (() => unknown) | undefined
  readonly fold: (acc: any, value: any) => unknown
  /** Combines two accumulators when sessions merge. */
  readonly merge: ((a: any, b: any) => unknown) | undefined
}

interface OpenWindow {
  start: number
  end: number
  acc: unknown
}

/**
 * The state of one key: its clock (largest event time seen, and the `Clock`
 * time it was seen at) and its open windows, ordered by start.
 */
interface KeyWindows {
  maxTimestamp: number | null
  seenAt: number
  windows: Array<OpenWindow>
}

/** The snapshot schema of a key's windows, around the step's accumulator schema. @internal */
export const keyWindowsSchema = <S, I>(acc: Schema.Schema<S, I>) =>
  Schema.Struct({
    maxTimestamp: Schema.NullOr(Schema.Number),
    seenAt: Schema.Number,
    windows: Schema.Array(Schema.Struct({ start: Schema.Number, end: Schema.Number, acc }))
  })

/**
 * A keyed window step. Port 0 emits `[key, { window, value }]` as windows
 * close; port 1 emits `[key, item]` for items older than the key's watermark.
 *
 * @internal
 */
export class WindowOperator extends KeyedStateOperator {
  private readonly lateness: number

  constructor(
    stepId: string,
    context: RunContext,
    accSchema: Schema.Schema<any, any>,
    readonly clock: WindowClock<unknown>,
    readonly policy: WindowPolicy,
    readonly aggregate: WindowAggregate
  ) {
    super(stepId, context, StateCodec.make(keyWindowsSchema(accSchema)) as StateCodec.StateCodec<unknown>, false)
    this.lateness = clock._tag === "EventClock" ? Duration.toMillis(clock.lateness) : 0
  }

  /** Idle keys' windows close with time at every barrier: every key is restored at resume. */
  override get restoresLazily(): boolean {
    return false
  }

  private watermark(state: KeyWindows, now: number): number {
    if (this.clock._tag === "SystemClock") return now
    return state.maxTimestamp === null ? -Infinity : state.maxTimestamp - this.lateness + (now - state.seenAt)
  }

  push(_slot: number, items: ReadonlyArray<unknown>): Effect.Effect<void, DataflowError> {
    return Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const closed: Array<readonly [string, Windowed<unknown>]> = []
      const late: Array<readonly [string, unknown]> = []
      let key: string | undefined
      try {
        const pairs = items as ReadonlyArray<readonly [string, unknown]>
        for (let i = 0; i < pairs.length; i++) {
          key = pairs[i][0]
          const value = pairs[i][1]
          let entry = this.entries.get(key)
          const state: KeyWindows = (entry?.state as KeyWindows | undefined) ??
            { maxTimestamp: null, seenAt: now, windows: [] }
          const timestamp = this.clock._tag === "SystemClock" ? now : this.clock.timestamp(value).getTime()
          if (timestamp < this.watermark(state, now)) {
            late.push([key, value])
            continue
          }
          if (state.maxTimestamp === null || timestamp > state.maxTimestamp) {
            state.maxTimestamp = timestamp
            state.seenAt = now
          }
          this.assign(state, timestamp, value)
          if (entry === undefined) {
            this.set(key, undefined, state)
            entry = this.entries.get(key)!
          } else this.markDirty(key, entry)
          this.closeDue(key, state, now, closed)
        }
      } catch (error) {
        return Effect.fail(this.failed(error, key))
      }
      return Effect.zipRight(this.emit(0, closed), this.emit(1, late))
    })
  }

  private assign(state: KeyWindows, timestamp: number, value: unknown): void {
    const { fold, init } = this.aggregate
    const policy = this.policy
    if (policy._tag === "Tumbling") {
      // the per-item path: no closure, no allocation for a window that is open
      const start = policy.alignTo + Math.floor((timestamp - policy.alignTo) / policy.length) * policy.length
      const windows = state.windows
      for (let i = 0; i < windows.length; i++) {
        if (windows[i].start === start) {
          windows[i].acc = fold(windows[i].acc, value)
          return
        }
      }
      const acc = init === undefined ? value : fold(init(), value)
      insertByStart(windows, { start, end: start + policy.length, acc })
      return
    }
    const add = (window: OpenWindow | undefined, start: number, end: number) => {
      if (window !== undefined) window.acc = fold(window.acc, value)
      else insertByStart(state.windows, { start, end, acc: init === undefined ? value : fold(init(), value) })
    }
    switch (policy._tag) {
      case "Sliding": {
        const last = Math.floor((timestamp - policy.alignTo) / policy.offset)
        const first = Math.floor((timestamp - policy.length - policy.alignTo) / policy.offset) + 1
        for (let k = first; k <= last; k++) {
          const start = policy.alignTo + k * policy.offset
          add(state.windows.find((w) => w.start === start), start, start + policy.length)
        }
        break
      }
      case "Session": {
        // sessions within `gap` of the item join it, and through it each other
        const touching = state.windows.filter((w) => timestamp >= w.start - policy.gap && timestamp < w.end)
        if (touching.length === 0) {
          add(undefined, timestamp, timestamp + policy.gap)
          break
        }
        const merged = touching[0]
        for (const other of touching.slice(1)) {
          if (this.aggregate.merge === undefined) {
            throw new Error("session windows that merge need a merge function for their accumulators")
          }
          merged.acc = this.aggregate.merge(merged.acc, other.acc)
          merged.end = Math.max(merged.end, other.end)
          state.windows.splice(state.windows.indexOf(other), 1)
        }
        merged.start = Math.min(merged.start, timestamp)
        merged.end = Math.max(merged.end, timestamp + policy.gap)
        merged.acc = fold(merged.acc, value)
        break
      }
    }
  }

  /** Emits and forgets the key's windows whose end the watermark has reached. */
  private closeDue(
    key: string,
    state: KeyWindows,
    now: number,
    closed: Array<readonly [string, Windowed<unknown>]>,
    all = false
  ): boolean {
    const watermark = all ? Infinity : this.watermark(state, now)
    // runs per item: find out without allocating that nothing is due
    let anyDue = false
    for (let i = 0; i < state.windows.length; i++) {
      if (state.windows[i].end <= watermark) {
        anyDue = true
        break
      }
    }
    if (!anyDue) return false
    // sessions may end out of start order, so filter rather than cut a prefix
    const due = state.windows.filter((w) => w.end <= watermark)
    state.windows = state.windows.filter((w) => w.end > watermark)
    due.sort((a, b) => a.end - b.end || a.start - b.start)
    for (const w of due) {
      closed.push([key, { window: { start: new Date(w.start), end: new Date(w.end) }, value: w.acc }])
    }
    return true
  }

  private closeAll(now: number, all: boolean): Array<readonly [string, Windowed<unknown>]> {
    const closed: Array<readonly [string, Windowed<unknown>]> = []
    for (const [key, entry] of this.entries) {
      const state = entry.state as KeyWindows
      if (state.windows.length > 0 && this.closeDue(key, state, now, closed, all)) this.markDirty(key, entry)
    }
    // key order, not the map's: after a resume the map is in the store's order (stable: windows stay by end)
    return closed.sort(byKey)
  }

  /** Idle keys' watermarks advance with time: close what became due before snapshotting (R12). */
  override barrier(slot: number, transaction: EpochTransaction): Effect.Effect<void, DataflowError> {
    return Effect.flatMap(
      Clock.currentTimeMillis,
      (now) => Effect.zipRight(this.emit(0, this.closeAll(now, false)), super.barrier(slot, transaction))
    )
  }

  /** At end of input every open window closes and emits. */
  override end(_slot: number): Effect.Effect<void, DataflowError> {
    return Effect.flatMap(
      Clock.currentTimeMillis,
      (now) => Effect.zipRight(this.emit(0, this.closeAll(now, true)), this.forwardEnd())
    )
  }
}

const insertByStart = (windows: Array<OpenWindow>, window: OpenWindow): void => {
  let i = windows.length
  while (i > 0 && windows[i - 1].start > window.start) i--
  windows.splice(i, 0, window)
}
