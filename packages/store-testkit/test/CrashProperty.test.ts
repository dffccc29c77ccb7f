import { describe, it } from "@effect/vitest"
import { assert } from "@effect/vitest"
import { assertMatchesCleanRun, assertOutputAtLeastOnce, runWithCrashes, TestSeed } from "@sluice/store-testkit"
import { expectedCounts } from "@sluice/store-testkit"
import { memoryFixture } from "@sluice/store-testkit"
import { type Event, runWindowsWithCrashes } from "@sluice/store-testkit"
import { Effect, TestContext } from "effect"
import type { Scope } from "effect"
import * as fc from "fast-check"

// One seed for both properties: SLUICE_SEED replays a failure, fast-check adds the shrunk path to its report.
const seed = TestSeed.fromEnvironment()
const check = <Ts>(property: fc.IAsyncProperty<Ts>, numRuns: number) =>
  TestSeed.replayable(seed, "store-testkit", "test/CrashProperty.test.ts", () => fc.assert(property, { numRuns, seed }))

// Watermarks advance with `Clock` time: under the TestClock they depend on event times alone, so a run cannot flake.
const runCase = (body: Effect.Effect<void, unknown, Scope.Scope>) =>
  Effect.runPromise(body.pipe(Effect.scoped, Effect.provide(TestContext.TestContext)))

const word = fc.constantFrom("a", "b", "c", "d", "e", "del:a", "del:c")
const line = fc.array(word, { minLength: 0, maxLength: 4 }).map((words) => words.join(" "))

describe("R4/R5 property: run → crash → resume → finish", () => {
  it("R4/R5: for random input, epoch size and crash points, state equals a clean run's and output is the clean output plus replays of incomplete epochs", async () => {
    await check(
      fc.asyncProperty(
        fc.array(line, { minLength: 0, maxLength: 60 }),
        fc.integer({ min: 1, max: 12 }),
        fc.array(fc.nat({ max: 70 }), { minLength: 1, maxLength: 4 }),
        (lines, epochSize, crashes) =>
          runCase(
            Effect.gen(function*() {
              const clean = yield* memoryFixture.fresh()
              const cleanRun = yield* runWithCrashes(clean.layer, lines, epochSize, [])
              const store = yield* memoryFixture.fresh()
              const result = yield* runWithCrashes(store.layer, lines, epochSize, crashes)
              assertMatchesCleanRun(cleanRun, result, expectedCounts(lines))
            })
          )
      ),
      150
    )
  })

  it("R4/R12: for random events, epoch sizes and crash points, a resumed windowed run closes the windows and reports the late items of a clean run", async () => {
    const event = fc.record({
      user: fc.constantFrom("a", "b", "c"),
      step: fc.integer({ min: 0, max: 4000 }),
      back: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 12000 })),
      value: fc.integer({ min: 1, max: 9 })
    })
    await check(
      fc.asyncProperty(
        fc.array(event, { maxLength: 80 }),
        fc.integer({ min: 1, max: 12 }),
        fc.array(fc.nat({ max: 60 }), { minLength: 1, maxLength: 4 }),
        (drawn, epochSize, crashes) =>
          runCase(
            Effect.gen(function*() {
              let clock = 0
              const events: Array<Event> = drawn.map(({ back, step, user, value }) => {
                clock += step
                return { user, at: Math.max(0, clock - back), value }
              })
              const clean = yield* memoryFixture.fresh()
              const [cleanRun] = yield* runWindowsWithCrashes(clean.layer, events, epochSize, [])
              const store = yield* memoryFixture.fresh()
              const runs = yield* runWindowsWithCrashes(store.layer, events, epochSize, crashes)
              assertOutputAtLeastOnce(
                cleanRun.windows,
                runs.map((r) => ({ resumeEpoch: r.resumeEpoch, emitted: r.windows }))
              )
              assertOutputAtLeastOnce(cleanRun.late, runs.map((r) => ({ resumeEpoch: r.resumeEpoch, emitted: r.late })))
              // every event is in exactly one closed window or late
              const summed = cleanRun.windows.reduce((sum, { item }) => sum + item[1].value, 0)
              const late = cleanRun.late.reduce((sum, { item }) => sum + item[1].value, 0)
              assert.strictEqual(summed + late, events.reduce((sum, e) => sum + e.value, 0))
            })
          )
      ),
      100
    )
  })
})
