import { assert, describe, it } from "@effect/vitest"
import { Dataflow, Epoch, Input, Output } from "@sluice/core"
import { Effect, Exit, Schema } from "effect"
import { readState, type StoreFixture } from "../../StoreFixture.js"
import { crashAfter } from "../../TestFlows.js"

const range = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}${i}`)

/** Two inputs merged, then counted per source: state and positions must agree at every commit. */
const mergedCount = (crashAt: number | undefined, flushes: Array<number>) => {
  const df = Dataflow.make("merged")
  const a = df.pipe(Dataflow.input("a", Input.fromIterable(range(37, "a"))))
  const b = df.pipe(Dataflow.input("b", Input.fromIterable(range(23, "b"))))
  // a diamond on `a`: the barrier reaches `both` twice from a and once from b
  const { falses, trues } = a.pipe(Dataflow.branch("a-even", (s) => Number(s.slice(1)) % 2 === 0))
  return Dataflow.merge("both", [trues, b, falses]).pipe(
    Dataflow.map("crash", crashAfter(crashAt)),
    Dataflow.keyBy("source", (s) => s[0]),
    Dataflow.statefulMap("count", { state: Schema.Number, init: () => 0, step: (n, _) => [n + 1, n + 1] }),
    Dataflow.output(
      "out",
      Output.make(() =>
        Effect.succeed({
          write: () => Effect.void,
          beforeCommit: ({ epoch }) => Effect.sync(() => flushes.push(epoch))
        })
      )
    )
  )
}

export const r02Barrier = (fixture: StoreFixture) =>
  describe(`R2 barrier alignment (${fixture.name})`, () => {
    it.scoped("R2: at every committed epoch the merged state counts exactly the items the inputs' positions cover", () =>
      Effect.gen(function*() {
        for (const crashAt of [1, 7, 13, 29, 44, 59]) {
          const store = yield* fixture.fresh()
          const exit = yield* Dataflow.run(mergedCount(crashAt, []), { epoch: Epoch.everyItems(5) }).pipe(
            Effect.provide(store.layer()),
            Effect.exit
          )
          assert.isTrue(Exit.isFailure(exit))
          const state = yield* readState(store.layer(), "merged", "count", Schema.Number)
          const a = yield* readState(store.layer(), "merged", "a", Schema.Number)
          const b = yield* readState(store.layer(), "merged", "b", Schema.Number)
          assert.strictEqual(state.get("a") ?? 0, a.get("0") ?? 0, `crash at ${crashAt}: input a`)
          assert.strictEqual(state.get("b") ?? 0, b.get("0") ?? 0, `crash at ${crashAt}: input b`)
          // and the resumed run completes both inputs exactly once
          yield* Dataflow.run(mergedCount(undefined, []), { epoch: Epoch.everyItems(5) }).pipe(
            Effect.provide(store.layer())
          )
          const final = yield* readState(store.layer(), "merged", "count", Schema.Number)
          assert.deepStrictEqual(final, new Map([["a", 37], ["b", 23]]))
        }
      }))

    it.scoped("R2: a step with several upstream paths passes each epoch's barrier on once", () =>
      Effect.gen(function*() {
        const store = yield* fixture.fresh()
        const flushes: Array<number> = []
        const summary = yield* Dataflow.run(mergedCount(undefined, flushes), { epoch: Epoch.everyItems(10) }).pipe(
          Effect.provide(store.layer())
        )
        assert.deepStrictEqual(flushes, Array.from({ length: summary.lastEpoch }, (_, i) => i + 1))
      }))
  })
