import { assert, describe, it } from "@effect/vitest"
import { Dataflow, Epoch, Input, Output } from "@sluice/core"
import { Effect, Schema } from "effect"
import { readResumeEpoch, readState, type StoreFixture } from "../../StoreFixture.js"
import { type Emitted, expectedCounts, wordcount } from "../../TestFlows.js"

export const r01Snapshot = (fixture: StoreFixture) =>
  describe(`R1 snapshot at every epoch end (${fixture.name})`, () => {
    it.scoped("R1: a completed epoch's state and positions commit together; a partial epoch leaves nothing", () =>
      Effect.gen(function*() {
        const store = yield* fixture.fresh()
        const lines = ["a b", "a", "c a", "b", "d"]
        const counts: Array<Emitted<readonly [string, number]>> = []
        // epochs of 2 lines: epoch 1 = lines 0-1 commits, epoch 2 fails after line 2
        const exit = yield* Dataflow.run(wordcount({ lines, counts, crashAfterItems: 3 }), {
          epoch: Epoch.everyItems(2)
        }).pipe(Effect.provide(store.layer()), Effect.exit)
        assert.isTrue(exit._tag === "Failure")
        assert.strictEqual(yield* readResumeEpoch(store.layer(), "wordcount"), 2)
        const state = yield* readState(store.layer(), "wordcount", "count", Schema.Number)
        assert.deepStrictEqual(state, expectedCounts(lines.slice(0, 2)))
        const position = yield* readState(store.layer(), "wordcount", "lines", Schema.Number)
        assert.deepStrictEqual(position, new Map([["0", 2]]))
      }))

    it.scoped("R1: only keys changed in an epoch are written", () =>
      Effect.gen(function*() {
        const store = yield* fixture.fresh()
        const writes: Array<number> = []
        // epoch 1 touches a, b, c; epoch 2 touches only a; epoch 3 only b and c
        const lines = ["a", "b", "c", "a", "a", "a", "b", "c", "b"]
        const flow = wordcount({ lines, counts: [] })
        yield* Dataflow.run(flow, {
          epoch: Epoch.everyItems(3),
          onEpochCommitted: (p) => Effect.sync(() => writes.push(p.snapshots))
        }).pipe(Effect.provide(store.layer()))
        // state writes + one input position per epoch; the final empty epoch writes nothing
        assert.deepStrictEqual(writes, [3 + 1, 1 + 1, 2 + 1, 0])
      }))

    it.scoped("R1: a deleted key writes a tombstone, and the resumed run starts it afresh", () =>
      Effect.gen(function*() {
        const store = yield* fixture.fresh()
        const counts: Array<Emitted<readonly [string, number]>> = []
        const first = ["a", "a", "del:a", "b"]
        yield* Dataflow.run(wordcount({ lines: first, counts }), { epoch: Epoch.everyItems(2) }).pipe(
          Effect.provide(store.layer())
        )
        const state = yield* readState(store.layer(), "wordcount", "count", Schema.Number)
        assert.deepStrictEqual(state, new Map([["b", 1]]))
        const more: Array<Emitted<readonly [string, number]>> = []
        yield* Dataflow.run(wordcount({ lines: [...first, "a"], counts: more }), { epoch: Epoch.everyItems(2) }).pipe(
          Effect.provide(store.layer())
        )
        assert.deepStrictEqual(more.map((e) => e.item), [["a", 1]])
      }))

    it.scoped("R1: outputs flush before the epoch commits, once per epoch", () =>
      Effect.gen(function*() {
        const store = yield* fixture.fresh()
        const flushed: Array<number> = []
        const flow = Dataflow.make("flush").pipe(
          Dataflow.input("in", Input.fromIterable([1, 2, 3, 4, 5])),
          Dataflow.output(
            "out",
            Output.make<number>(() =>
              Effect.succeed({
                write: () => Effect.void,
                beforeCommit: ({ epoch }) => Effect.sync(() => flushed.push(epoch))
              })
            )
          )
        )
        const summary = yield* Dataflow.run(flow, { epoch: Epoch.everyItems(2) }).pipe(Effect.provide(store.layer()))
        assert.deepStrictEqual(flushed, [1, 2, 3])
        assert.strictEqual(summary.lastEpoch, 3)
      }))
  })
