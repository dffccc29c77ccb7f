import { assert, describe, it } from "@effect/vitest"
import { Dataflow, DataflowError, Epoch, RecoveryStore } from "@sluice/core"
import { Cause, Effect, Exit, Option, Schema } from "effect"
import { readResumeEpoch, readState, type StoreFixture } from "../../StoreFixture.js"
import { wordcount } from "../../TestFlows.js"

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  assert.isTrue(Exit.isFailure(exit))
  const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
  assert.isTrue(Option.isSome(failure), "expected a typed failure")
  return Option.getOrThrow(failure)
}

export const r07Guards = (fixture: StoreFixture) =>
  describe(`R7 guarded store (${fixture.name})`, () => {
    it.scoped("R7: a store of another dataflow refuses to resume and is left unchanged", () =>
      Effect.gen(function*() {
        const store = yield* fixture.fresh()
        yield* Dataflow.run(wordcount({ lines: ["a b", "a"], counts: [] }), { epoch: Epoch.everyItems(1) }).pipe(
          Effect.provide(store.layer())
        )
        const exit = yield* Dataflow.run(wordcount({ id: "other", lines: ["x"], counts: [] })).pipe(
          Effect.provide(store.layer()),
          Effect.exit
        )
        const error = failureOf(exit)
        assert.instanceOf(error, DataflowError.RecoveryMismatch)
        assert.strictEqual(
          (error as DataflowError.RecoveryMismatch).message,
          "recovery store was written with dataflowId wordcount, this run has other; " +
            "point the run at this dataflow's own store, or delete the store to start fresh"
        )
        // two one-line epochs and the empty epoch that closes the input
        assert.strictEqual(yield* readResumeEpoch(store.layer(), "wordcount"), 4)
        assert.deepStrictEqual(
          yield* readState(store.layer(), "wordcount", "count", Schema.Number),
          new Map([["a", 2], ["b", 1]])
        )
      }))

    it.scoped("R7: a store written with another worker count refuses to resume", () =>
      Effect.gen(function*() {
        const store = yield* fixture.fresh()
        yield* Dataflow.run(wordcount({ lines: ["a"], counts: [] })).pipe(Effect.provide(store.layer()))
        const exit = yield* Effect.gen(function*() {
          const s = yield* RecoveryStore.RecoveryStore
          return yield* s.open({ dataflowId: "wordcount", workerIndex: 0, workerCount: 3 })
        }).pipe(Effect.scoped, Effect.provide(store.layer()), Effect.exit)
        const error = failureOf(exit)
        assert.instanceOf(error, DataflowError.RecoveryMismatch)
        assert.include((error as DataflowError.RecoveryMismatch).message, "workerCount 1, this run has 3")
        assert.strictEqual(yield* readResumeEpoch(store.layer(), "wordcount"), 2)
      }))
  })
