import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { assertMatchesCleanRun, runWithCrashes } from "../../CrashRuns.js"
import type { StoreFixture } from "../../StoreFixture.js"
import { expectedCounts, makeLines } from "../../TestFlows.js"

export const r04r05CrashEquivalence = (fixture: StoreFixture) =>
  describe(`R4 same state as a clean run, R5 at-least-once output (${fixture.name})`, () => {
    const lines = makeLines(120, 7)
    const scenarios: ReadonlyArray<readonly [string, number, ReadonlyArray<number>]> = [
      ["one crash mid-epoch", 10, [37]],
      ["crashes on epoch boundaries", 10, [20, 30]],
      ["a crash before the first epoch completes", 25, [3, 60]],
      ["many crashes with one-line epochs", 1, [5, 1, 17, 0, 40]]
    ]
    for (const [name, epochSize, crashes] of scenarios) {
      it.scoped(`R4/R5: ${name}`, () =>
        Effect.gen(function*() {
          const clean = yield* fixture.fresh()
          const cleanRun = yield* runWithCrashes(clean.layer, lines, epochSize, [])
          const crashed = yield* fixture.fresh()
          const result = yield* runWithCrashes(crashed.layer, lines, epochSize, crashes)
          assert.strictEqual(result.runs.length, crashes.length + 1)
          assertMatchesCleanRun(cleanRun, result, expectedCounts(lines))
        }))
    }

    it.scoped("R4/R5: a key whose last change committed before the crash still emits at end of input after the resume", () =>
      Effect.gen(function*() {
        // one-line epochs, crash after two lines: `a` changes only in epochs 1 and 2, which the resumed run does not redo
        const lines = ["a b", "a b", "b", "b", "b"]
        const clean = yield* fixture.fresh()
        const cleanRun = yield* runWithCrashes(clean.layer, lines, 1, [])
        assert.deepStrictEqual(cleanRun.runs[0].totals.map(({ item }) => item), [["a", 2], ["b", 5]])
        const crashed = yield* fixture.fresh()
        const result = yield* runWithCrashes(crashed.layer, lines, 1, [2])
        assert.strictEqual(result.runs[1].resumeEpoch, 3, "the crash did not come after epoch 2 committed")
        assertMatchesCleanRun(cleanRun, result, expectedCounts(lines))
      }))
  })
