import { assert, describe, it } from "@effect/vitest"
import { Dataflow, Epoch } from "@sluice/core"
import { Effect } from "effect"
import type { StoreFixture } from "../../StoreFixture.js"
import { type Emitted, wordcount } from "../../TestFlows.js"
import { makeEvents, runWindowsWithCrashes } from "../../WindowRuns.js"

type Pair = readonly [string, number]

export const r13Continuation = (fixture: StoreFixture) =>
  describe(`R13 continuation (${fixture.name})`, () => {
    it.scoped("R13: test_continuation_with_no_new_input — a finished dataflow run again produces nothing", () =>
      Effect.gen(function*() {
        const store = yield* fixture.fresh()
        const lines = ["a b", "b c"]
        const counts: Array<Emitted<Pair>> = []
        const totals: Array<Emitted<Pair>> = []
        yield* Dataflow.run(wordcount({ lines, counts, totals }), { epoch: Epoch.everyItems(1) }).pipe(
          Effect.provide(store.layer())
        )
        // totals count how often each word's count was emitted
        assert.deepStrictEqual(totals.map((e) => e.item).sort(), [["a", 1], ["b", 2], ["c", 1]])
        const again: Array<Emitted<Pair>> = []
        const againTotals: Array<Emitted<Pair>> = []
        const summary = yield* Dataflow.run(wordcount({ lines, counts: again, totals: againTotals }), {
          epoch: Epoch.everyItems(1)
        }).pipe(Effect.provide(store.layer()))
        assert.strictEqual(summary.items, 0)
        assert.deepStrictEqual(again, [])
        assert.deepStrictEqual(againTotals, [])
      }))

    it.scoped("R13: more input continues from the stored state and processes only the new items", () =>
      Effect.gen(function*() {
        const store = yield* fixture.fresh()
        const lines = ["a b", "b c"]
        yield* Dataflow.run(wordcount({ lines, counts: [], totals: [] }), { epoch: Epoch.everyItems(1) }).pipe(
          Effect.provide(store.layer())
        )
        const counts: Array<Emitted<Pair>> = []
        const totals: Array<Emitted<Pair>> = []
        const summary = yield* Dataflow.run(wordcount({ lines: [...lines, "b d"], counts, totals }), {
          epoch: Epoch.everyItems(1)
        }).pipe(Effect.provide(store.layer()))
        assert.strictEqual(summary.items, 1)
        assert.deepStrictEqual(counts.map((e) => e.item), [["b", 3], ["d", 1]])
        // totals emit at end the keys that changed since they were last emitted
        assert.deepStrictEqual(totals.map((e) => e.item).sort(), [["b", 3], ["d", 1]])
      }))

    it.scoped("R13: a finished windowed flow run again emits no window and no late item", () =>
      Effect.gen(function*() {
        const store = yield* fixture.fresh()
        const events = makeEvents(60)
        // one-item epochs: the last epoch touches one key, the others' windows close only at end of input
        const [first] = yield* runWindowsWithCrashes(store.layer, events, 1, [])
        assert.isAbove(new Set(first.windows.map(({ item }) => item[0])).size, 1, "windows of several keys close")
        assert.isAbove(first.late.length, 0, "the events include late ones")
        const [again] = yield* runWindowsWithCrashes(store.layer, events, 1, [])
        assert.isAbove(again.resumeEpoch, events.length, "the second run resumed inside the input")
        assert.deepStrictEqual(again.windows, [], "windows closed in the finished run were emitted again")
        assert.deepStrictEqual(again.late, [])
      }))
  })
