import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { assertOutputAtLeastOnce } from "../../CrashRuns.js"
import type { StoreFixture } from "../../StoreFixture.js"
import { type Event, makeEvents, runWindowsWithCrashes } from "../../WindowRuns.js"

const lateTimes = (late: ReadonlyArray<{ readonly item: readonly [string, Event] }>) =>
  late.map(({ item }) => item[1].at)

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

    it.scoped("R12: a key's clock survives a resume — an event older than the watermark before the crash is late after it", () =>
      Effect.gen(function*() {
        // the watermark after u@20000 is 17000 (3 s of lateness), so u@15000 is late; the TestClock stands still
        const events: ReadonlyArray<Event> = [{ user: "u", at: 20_000, value: 1 }, { user: "u", at: 15_000, value: 2 }]
        const clean = yield* fixture.fresh()
        const [cleanRun] = yield* runWindowsWithCrashes(clean.layer, events, 1, [])
        assert.deepStrictEqual(lateTimes(cleanRun.late), [15_000])
        const crashed = yield* fixture.fresh()
        const runs = yield* runWindowsWithCrashes(crashed.layer, events, 1, [1])
        assert.deepStrictEqual(runs.map((r) => r.resumeEpoch), [1, 2], "the first event's epoch did not commit")
        assert.deepStrictEqual(lateTimes(runs[1].late), [15_000], "the resumed key's clock started again")
        assert.deepStrictEqual(
          runs.flatMap((r) => r.windows.map(({ item }) => item)),
          cleanRun.windows.map(({ item }) => item)
        )
      }))
  })
