import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { assertOutputAtLeastOnce } from "../../CrashRuns.js"
import { runTimedWithCrashes } from "../../StatefulRuns.js"
import type { StoreFixture } from "../../StoreFixture.js"
import { makeEvents } from "../../WindowRuns.js"

export const r04StatefulTimers = (fixture: StoreFixture) =>
  describe(`R4/R5 with timers: collect, stateful and join with a ttl (${fixture.name})`, () => {
    // the item clock follows event times, so they rise
    const events = makeEvents(150).sort((a, b) => a.at - b.at)
    const scenarios: ReadonlyArray<readonly [string, number, ReadonlyArray<number>]> = [
      ["a crash with batches pending and timers set", 10, [47]],
      ["many crashes with small epochs", 3, [10, 4, 31, 0, 22]]
    ]
    for (const [name, epochSize, crashes] of scenarios) {
      it.scoped(`R4/R5: ${name} ends with the state and output of a clean run`, () =>
        Effect.gen(function*() {
          const clean = yield* runTimedWithCrashes((yield* fixture.fresh()).layer, events, epochSize, [])
          const [cleanRun] = clean.runs
          assert.isAbove(cleanRun.sessions.filter(({ item }) => item[1].includes("idle")).length, 5, "timers fired")
          assert.isAbove(cleanRun.batches.filter(({ item }) => item[1].length < 3).length, 5, "timeouts fired")
          assert.isAbove(cleanRun.pairs.length, 5, "joins completed")
          assert.isAbove(clean.pairs.size, 0, "joins pending at end")
          const crashed = yield* runTimedWithCrashes((yield* fixture.fresh()).layer, events, epochSize, crashes)
          assert.strictEqual(crashed.runs.length, crashes.length + 1)
          assert.deepStrictEqual(crashed.sessions, clean.sessions)
          assert.deepStrictEqual(crashed.pairs, clean.pairs)
          assertOutputAtLeastOnce(
            cleanRun.batches,
            crashed.runs.map((r) => ({ resumeEpoch: r.resumeEpoch, emitted: r.batches }))
          )
          assertOutputAtLeastOnce(
            cleanRun.sessions,
            crashed.runs.map((r) => ({ resumeEpoch: r.resumeEpoch, emitted: r.sessions }))
          )
          assertOutputAtLeastOnce(
            cleanRun.pairs,
            crashed.runs.map((r) => ({ resumeEpoch: r.resumeEpoch, emitted: r.pairs }))
          )
        }))
    }
  })
