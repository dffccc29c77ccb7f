import { Dataflow, DataflowError, Epoch, Input, Window } from "@sluice/core"
import type { RecoveryStore } from "@sluice/core"
import { Cause, Effect, Exit, Option, Schema } from "effect"
import type { Layer } from "effect"
import { readResumeEpoch } from "./StoreFixture.js"
import { Crash, crashAfter, type Emitted, recordingOutput } from "./TestFlows.js"

export interface Event {
  readonly user: string
  readonly at: number
  readonly value: number
}

export const EventSchema = Schema.Struct({ user: Schema.String, at: Schema.Number, value: Schema.Number })

export type WindowOut = readonly [string, { readonly start: number; readonly end: number; readonly value: number }]

/**
 * Per-user event-time tumbling sums over 10 s windows with 3 s of lateness,
 * and the late events alongside.
 */
export const windowedSums = (options: {
  readonly events: ReadonlyArray<Event>
  readonly windows: Array<Emitted<WindowOut>>
  readonly late: Array<Emitted<readonly [string, Event]>>
  readonly crashAfterItems?: number | undefined
}) => {
  const sums = Dataflow.make("windowed").pipe(
    Dataflow.input("events", Input.fromIterable(options.events)),
    Dataflow.map("crash", crashAfter(options.crashAfterItems)),
    Dataflow.keyBy("user", (e) => e.user),
    Dataflow.foldWindow("sums", {
      clock: Window.eventClock({ timestamp: (e: Event) => new Date(e.at), lateness: "3 seconds" }),
      window: Window.tumbling({ length: "10 seconds", alignTo: new Date(0) }),
      state: Schema.Number,
      init: () => 0,
      fold: (sum, e) => sum + e.value
    })
  )
  sums.late.pipe(Dataflow.output("late-out", recordingOutput(options.late)))
  return sums.pipe(
    Dataflow.map(
      "plain",
      ([user, w]): WindowOut => [user, { start: w.window.start.getTime(), end: w.window.end.getTime(), value: w.value }]
    ),
    Dataflow.output("windows-out", recordingOutput(options.windows))
  )
}

export interface WindowRun {
  readonly resumeEpoch: number
  readonly windows: Array<Emitted<WindowOut>>
  readonly late: Array<Emitted<readonly [string, Event]>>
}

/** Runs `windowedSums` through the given crashes until it finishes. */
export const runWindowsWithCrashes = (
  layer: () => Layer.Layer<RecoveryStore.RecoveryStore, unknown>,
  events: ReadonlyArray<Event>,
  epochSize: number,
  crashes: ReadonlyArray<number>,
  options: Pick<Dataflow.RunOptions, "restore"> = {}
): Effect.Effect<Array<WindowRun>, unknown> =>
  Effect.gen(function*() {
    const runs: Array<WindowRun> = []
    for (let attempt = 0;; attempt++) {
      const resumeEpoch = yield* readResumeEpoch(layer(), "windowed")
      const run: WindowRun = { resumeEpoch, windows: [], late: [] }
      runs.push(run)
      const exit = yield* Dataflow.run(
        windowedSums({ events, windows: run.windows, late: run.late, crashAfterItems: crashes[attempt] }),
        { ...options, epoch: Epoch.everyItems(epochSize) }
      ).pipe(Effect.provide(layer()), Effect.exit)
      if (Exit.isSuccess(exit)) return runs
      const failure = Cause.failureOption(exit.cause)
      if (
        Option.isNone(failure) || !(failure.value instanceof DataflowError.StepFailed) ||
        !(failure.value.cause instanceof Crash)
      ) {
        return yield* Effect.die(new Error(`unexpected failure: ${Cause.pretty(exit.cause)}`))
      }
    }
  })

/** Events of a few users with timestamps that mostly rise, some out of order, some late. */
export const makeEvents = (count: number, seed = 5): Array<Event> => {
  let x = seed
  // the high bits of the generator: its low bits repeat with short periods
  const next = () => (x = (x * 1103515245 + 12345) % 2147483648) >>> 12
  const events: Array<Event> = []
  let clock = 0
  for (let i = 0; i < count; i++) {
    clock += next() % 1500
    const jitter = next() % 7 === 0 ? -(next() % 9000) : 0
    events.push({ user: `u${next() % 4}`, at: Math.max(0, clock + jitter), value: 1 + (next() % 9) })
  }
  return events
}
