import { assert, describe, it } from "@effect/vitest"
import { Dataflow, DataflowError, Epoch, Input, Output } from "@sluice/core"
import { Cause, Effect, Exit, Option, Ref, Schema } from "effect"
import { readResumeEpoch, type StoreFixture } from "../../StoreFixture.js"

const lastSeen = <S, I>(
  state: Schema.Schema<S, I>,
  init: () => S,
  next: (s: S, v: string) => S,
  lines: Array<string>,
  ref: Ref.Ref<Array<readonly [string, S]>>
) =>
  Dataflow.make("codec").pipe(
    Dataflow.input("in", Input.fromIterable(lines)),
    Dataflow.keyBy("key", (s) => s.split("=")[0]),
    Dataflow.statefulMap("seen", {
      state,
      init,
      step: (s, v) => {
        const n = next(s, v)
        return [n, n]
      }
    }),
    Dataflow.output("out", Output.collect(ref))
  )

export const r08StateCodecs = (fixture: StoreFixture) =>
  describe(`R8 state codecs (${fixture.name})`, () => {
    it.scoped("R8: state round-trips through its schema's encoding across a resume", () =>
      Effect.gen(function*() {
        const store = yield* fixture.fresh()
        const State = Schema.Struct({ at: Schema.Date, values: Schema.Array(Schema.String) })
        type State = typeof State.Type
        const next = (s: State, v: string): State => ({
          at: new Date(Date.UTC(2024, 0, s.values.length + 1)),
          values: [...s.values, v]
        })
        const init = (): State => ({ at: new Date(0), values: [] })
        const ref = yield* Ref.make<Array<readonly [string, State]>>([])
        yield* Dataflow.run(lastSeen(State, init, next, ["a=1", "a=2"], ref), { epoch: Epoch.everyItems(1) }).pipe(
          Effect.provide(store.layer())
        )
        const after = yield* Ref.make<Array<readonly [string, State]>>([])
        yield* Dataflow.run(lastSeen(State, init, next, ["a=1", "a=2", "a=3"], after), { epoch: Epoch.everyItems(1) })
          .pipe(Effect.provide(store.layer()))
        const [[key, state]] = yield* Ref.get(after)
        assert.strictEqual(key, "a")
        assert.instanceOf(state.at, Date)
        assert.strictEqual(state.at.toISOString(), "2024-01-03T00:00:00.000Z")
        assert.deepStrictEqual(state.values, ["a=1", "a=2", "a=3"])
      }))

    it.scoped("R8: state that no longer decodes fails the resume naming step, key and issue, and changes nothing", () =>
      Effect.gen(function*() {
        const store = yield* fixture.fresh()
        const ref = yield* Ref.make<Array<readonly [string, number]>>([])
        yield* Dataflow.run(lastSeen(Schema.Number, () => 0, (n) => n + 1, ["a=1", "b=1"], ref), {
          epoch: Epoch.everyItems(1)
        }).pipe(Effect.provide(store.layer()))
        const strings = yield* Ref.make<Array<readonly [string, string]>>([])
        const exit = yield* Dataflow.run(
          lastSeen(Schema.String, () => "", (s, v) => s + v, ["a=1", "b=1", "c"], strings)
        )
          .pipe(Effect.provide(store.layer()), Effect.exit)
        assert.isTrue(Exit.isFailure(exit))
        const error = Exit.isFailure(exit) ? Option.getOrThrow(Cause.failureOption(exit.cause)) : undefined
        assert.instanceOf(error, DataflowError.StateDecodeError)
        const decodeError = error as DataflowError.StateDecodeError
        assert.strictEqual(decodeError.stepId, "seen")
        assert.include(["a", "b"], decodeError.key)
        assert.match(
          decodeError.message,
          /^snapshot of step seen at key [ab] does not decode with the step's state schema: Expected string, actual 1/
        )
        assert.deepStrictEqual(yield* Ref.get(strings), [])
        assert.strictEqual(yield* readResumeEpoch(store.layer(), "codec"), 4)
      }))
  })
