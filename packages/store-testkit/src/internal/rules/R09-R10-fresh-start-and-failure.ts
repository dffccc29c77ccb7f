import { assert, describe, it } from "@effect/vitest"
import { Dataflow, DataflowError, Epoch, Input, Output } from "@sluice/core"
import { Cause, Effect, Exit, Option, Schema, Stream } from "effect"
import { readResumeEpoch, readState, type StoreFixture } from "../../StoreFixture.js"
import { type Emitted, expectedCounts, wordcount } from "../../TestFlows.js"

const failureOf = (exit: Exit.Exit<unknown, unknown>): DataflowError.StepFailed => {
  assert.isTrue(Exit.isFailure(exit))
  const error = Exit.isFailure(exit) ? Option.getOrThrow(Cause.failureOption(exit.cause)) : undefined
  assert.instanceOf(error, DataflowError.StepFailed)
  return error as DataflowError.StepFailed
}

export const r09r10FreshStartAndFailure = (fixture: StoreFixture) =>
  describe(`R9 fresh start, R10 failure (${fixture.name})`, () => {
    it.scoped("R9: a new store starts from epoch 1 and reads all input", () =>
      Effect.gen(function*() {
        const lines = ["a b", "b"]
        const first = yield* fixture.fresh()
        yield* Dataflow.run(wordcount({ lines, counts: [] })).pipe(Effect.provide(first.layer()))
        const second = yield* fixture.fresh()
        const counts: Array<Emitted<readonly [string, number]>> = []
        const summary = yield* Dataflow.run(wordcount({ lines, counts })).pipe(Effect.provide(second.layer()))
        assert.strictEqual(summary.resumeEpoch, 1)
        assert.strictEqual(summary.items, 2)
        assert.deepStrictEqual(
          yield* readState(second.layer(), "wordcount", "count", Schema.Number),
          expectedCounts(lines)
        )
      }))

    it.scoped("R10: a throwing keyed step fails with StepFailed naming step, key and epoch, and rolls the epoch back", () =>
      Effect.gen(function*() {
        const store = yield* fixture.fresh()
        const flow = Dataflow.make("fails").pipe(
          Dataflow.input("in", Input.fromIterable(["a", "b", "c", "boom", "d"])),
          Dataflow.keyBy("key", (s) => s),
          Dataflow.statefulMap("check", {
            state: Schema.Number,
            init: () => 0,
            step: (n, v: string) => {
              if (v === "boom") throw new Error("cannot count boom")
              return [n + 1, n + 1]
            }
          }),
          Dataflow.output("out", Output.sink(() => Effect.void))
        )
        const error = failureOf(
          yield* Dataflow.run(flow, { epoch: Epoch.everyItems(3) }).pipe(Effect.provide(store.layer()), Effect.exit)
        )
        assert.strictEqual(error.stepId, "check")
        assert.strictEqual(error.key, "boom")
        assert.strictEqual(error.epoch, 2)
        assert.strictEqual(error.message, "step check failed in epoch 2 at key boom: cannot count boom")
        assert.strictEqual(yield* readResumeEpoch(store.layer(), "fails"), 2)
        assert.deepStrictEqual(
          yield* readState(store.layer(), "fails", "check", Schema.Number),
          new Map([["a", 1], ["b", 1], ["c", 1]])
        )
      }))

    it.scoped("R10: failing effects of inputs, mapEffect and outputs name their step", () =>
      Effect.gen(function*() {
        const store = yield* fixture.fresh()
        const failingInput = Dataflow.make("input-fails").pipe(
          Dataflow.input("source", Input.fromStream(Stream.concat(Stream.make(1, 2), Stream.fail("disk gone")))),
          Dataflow.output("out", Output.sink(() => Effect.void))
        )
        const inputError = failureOf(yield* Dataflow.run(failingInput).pipe(Effect.provide(store.layer()), Effect.exit))
        assert.strictEqual(inputError.message, "step source failed in epoch 1 at key 0: disk gone")

        const other = yield* fixture.fresh()
        const failingEffect = Dataflow.make("effect-fails").pipe(
          Dataflow.input("in", Input.fromIterable([1, 2, 3])),
          Dataflow.mapEffect("lookup", (n: number) =>
            n === 2 ? Effect.fail(new Error("no such id 2")) : Effect.succeed(n)),
          Dataflow.output(
            "out",
            Output.sink(() =>
              Effect.void
            )
          )
        )
        const effectError = failureOf(
          yield* Dataflow.run(failingEffect).pipe(Effect.provide(other.layer()), Effect.exit)
        )
        assert.strictEqual(effectError.message, "step lookup failed in epoch 1: no such id 2")

        const third = yield* fixture.fresh()
        const failingOutput = Dataflow.make("output-fails").pipe(
          Dataflow.input("in", Input.fromIterable([1])),
          Dataflow.output("db", Output.sink(() => Effect.die(new Error("connection reset"))))
        )
        const outputError = failureOf(
          yield* Dataflow.run(failingOutput).pipe(Effect.provide(third.layer()), Effect.exit)
        )
        assert.strictEqual(outputError.message, "step db failed in epoch 1: connection reset")
        assert.strictEqual(yield* readResumeEpoch(third.layer(), "output-fails"), 1)
      }))
  })
