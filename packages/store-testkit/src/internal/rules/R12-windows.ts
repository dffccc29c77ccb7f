import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { assertOutputAtLeastOnce } from "../../CrashRuns.js"
import type { StoreFixture } from "../../StoreFixture.js"
import { makeEvents, runWindowsWithCrashes } from "../../WindowRuns.js"

export const r12Windows = (fixture: StoreFixture) =>
  describe(`R12 windows and clocks (${fixture.name})`, () => {
    const events = makeEvents(150)
    const scenarios: ReadonlyArray<readonly [string, number, ReadonlyArray<number>]> = [
      ["a crash in the middle of open windows", 10, [47]],
      ["crashes on epoch boundaries", 20, [40, 20]],
      ["many crashes with small epochs", 3, [10, 4, 31, 0, 22]]
    ]
    for (const [name, epochSize, crashes] of scenarios) {
      it.scoped(`R12: ${name} produces the windows and late items of a clean run`, () =>
        Effect.gen(function*() {
          const clean = yield* fixture.fresh()
          const [cleanRun] = yield* runWindowsWithCrashes(clean.layer, events, epochSize, [])
          assert.isAbove(cleanRun.windows.length, 20)
          assert.isAbove(cleanRun.late.length, 0, "the events include late ones")
          const crashed = yield* fixture.fresh()
          const runs = yield* runWindowsWithCrashes(crashed.layer, events, epochSize, crashes)
          assert.strictEqual(runs.length, crashes.length + 1)
          assertOutputAtLeastOnce(
            cleanRun.windows,
            runs.map((r) => ({ resumeEpoch: r.resumeEpoch, emitted: r.windows }))
          )
          assertOutputAtLeastOnce(cleanRun.late, runs.map((r) => ({ resumeEpoch: r.resumeEpoch, emitted: r.late })))
        }))
    }
  })
