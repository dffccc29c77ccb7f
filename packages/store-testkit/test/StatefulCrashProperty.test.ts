import { assert, describe, it } from "@effect/vitest"
import { assertOutputAtLeastOnce, type Event, memoryFixture, runTimedWithCrashes } from "@sluice/store-testkit"
import { Effect } from "effect"
import * as fc from "fast-check"

describe("R4/R5 property with timers: collect, stateful and join through crashes", () => {
  it("for random events, epoch sizes and crash points, timers fire where a clean run's do: same state, output at least once", async () => {
    const event = fc.record({
      user: fc.constantFrom("a", "b", "c"),
      step: fc.integer({ min: 0, max: 6000 }),
      value: fc.integer({ min: 1, max: 9 })
    })
    await fc.assert(
      fc.asyncProperty(
        fc.array(event, { maxLength: 80 }),
        fc.integer({ min: 1, max: 12 }),
        fc.array(fc.nat({ max: 60 }), { minLength: 1, maxLength: 4 }),
        (drawn, epochSize, crashes) =>
          Effect.runPromise(
            Effect.gen(function*() {
              let clock = 0
              const events: Array<Event> = drawn.map(({ step, user, value }) => ({ user, at: clock += step, value }))
              const clean = yield* runTimedWithCrashes((yield* memoryFixture.fresh()).layer, events, epochSize, [])
              const crashed = yield* runTimedWithCrashes(
                (yield* memoryFixture.fresh()).layer,
                events,
                epochSize,
                crashes
              )
              assert.deepStrictEqual(crashed.sessions, clean.sessions)
              assert.deepStrictEqual(crashed.pairs, clean.pairs)
              const [cleanRun] = clean.runs
              const batches = crashed.runs.map((r) => ({ resumeEpoch: r.resumeEpoch, emitted: r.batches }))
              assertOutputAtLeastOnce(cleanRun.batches, batches)
              const sessions = crashed.runs.map((r) => ({ resumeEpoch: r.resumeEpoch, emitted: r.sessions }))
              assertOutputAtLeastOnce(cleanRun.sessions, sessions)
              const pairs = crashed.runs.map((r) => ({ resumeEpoch: r.resumeEpoch, emitted: r.pairs }))
              assertOutputAtLeastOnce(cleanRun.pairs, pairs)
              // every value is in exactly one batch of the clean run
              const batched = cleanRun.batches.flatMap(({ item }) => item[1])
              assert.strictEqual(batched.length, events.length)
            }).pipe(Effect.scoped)
          )
      ),
      { numRuns: 100 }
    )
  })
})
