import { assert, describe, it } from "@effect/vitest"
import { Dataflow, DataflowError, Epoch, Input, Output, RecoveryStore } from "@sluice/core"
import { Chunk, Effect, Schema } from "effect"

type Record = readonly [epoch: number, key: string, value: unknown]

/** An output that records each item with the epoch it was written in. */
const epochOutput = (records: Array<Record>): Output.Output<Dataflow.Keyed<unknown>> =>
  Output.make(() =>
    Effect.succeed({
      write: (items, context) =>
        Effect.sync(() => {
          for (const [key, value] of Chunk.toReadonlyArray(items)) records.push([context.epoch, key, value])
        })
    })
  )

/** Epochs of three words: `b a b | a c a | b`. */
const words = ["b", "a", "b", "a", "c", "a", "b"]

const run = <A>(build: (keyed: Dataflow.Flow<Dataflow.Keyed<string>>) => Dataflow.Flow<Dataflow.Keyed<A>>) =>
  Effect.gen(function*() {
    const records: Array<Record> = []
    const keyed = Dataflow.make("latest").pipe(
      Dataflow.input("in", Input.fromIterable(words)),
      Dataflow.keyBy("key", (word: string) => word)
    )
    build(keyed).pipe(Dataflow.output("out", epochOutput(records)))
    yield* Dataflow.run(keyed.dataflow, { epoch: Epoch.everyItems(3) }).pipe(
      Effect.provide(RecoveryStore.layerMemory())
    )
    return records
  })

/** Each changed key's count at each epoch's close, in key order; the last epoch's at end of input. */
const countsPerEpoch: ReadonlyArray<Record> = [
  [1, "a", 1],
  [1, "b", 2],
  [2, "a", 3],
  [2, "c", 1],
  [3, "b", 3]
]

describe("emit: \"epoch\" (latest per epoch)", () => {
  it.effect("fold emits each changed key's accumulator once per epoch, in key order, inside the epoch", () =>
    Effect.gen(function*() {
      const records = yield* run((keyed) =>
        keyed.pipe(
          Dataflow.fold("count", { state: Schema.Number, init: () => 0, fold: (n, _w: string) => n + 1, emit: "epoch" })
        )
      )
      assert.deepStrictEqual(records, countsPerEpoch)
    }))

  it.effect("reduce with a ttl (run as stateful logic) emits the same as without", () =>
    Effect.gen(function*() {
      const records = yield* run((keyed) =>
        keyed.pipe(
          Dataflow.map("ones", ([word]) => [word, 1] as const),
          Dataflow.reduce("count", { state: Schema.Number, reduce: (a, b) => a + b, emit: "epoch", ttl: "1 hour" })
        )
      )
      assert.deepStrictEqual(records, countsPerEpoch)
    }))

  it.effect("statefulMap emits the last emission of each key, also of a key it discards", () =>
    Effect.gen(function*() {
      const records = yield* run((keyed) =>
        keyed.pipe(
          Dataflow.statefulMap("count", {
            state: Schema.Number,
            init: () => 0,
            // "c" is discarded as soon as it is seen, yet its emission stands
            step: (n: number, word: string) => [word === "c" ? undefined : n + 1, `${word}${n + 1}`] as const,
            emit: "epoch"
          })
        )
      )
      assert.deepStrictEqual(records, [[1, "a", "a1"], [1, "b", "b2"], [2, "a", "a3"], [2, "c", "c1"], [3, "b", "b3"]])
    }))

  it.effect("statefulFlatMap emits the last item a key emitted in the epoch; a key that emitted none, nothing", () =>
    Effect.gen(function*() {
      const records = yield* run((keyed) =>
        keyed.pipe(
          Dataflow.statefulFlatMap("odd", {
            state: Schema.Number,
            init: () => 0,
            // the first, third, … item of a key emits two items, the others none
            step: (n: number, word: string) => [n + 1, n % 2 === 0 ? [`${word}${n + 1}`, `${word}${n + 1}!`] : []],
            emit: "epoch"
          })
        )
      )
      // epoch 1: a1, b1 then nothing for b's second; epoch 2: a's second emits nothing, its third a3; epoch 3: b3
      assert.deepStrictEqual(records, [[1, "a", "a1!"], [1, "b", "b1!"], [2, "a", "a3!"], [2, "c", "c1!"], [
        3,
        "b",
        "b3!"
      ]])
    }))

  it.effect("stateful: onEof emissions join the last epoch's, before it closes", () =>
    Effect.gen(function*() {
      const records = yield* run((keyed) =>
        keyed.pipe(
          Dataflow.stateful("seen", {
            state: Schema.Number,
            onItem: (n: number | undefined, _w: string) => ({ state: (n ?? 0) + 1, emit: [(n ?? 0) + 1] }),
            onEof: (n) => ({ state: undefined, emit: [-n] }),
            emit: "epoch"
          })
        )
      )
      assert.deepStrictEqual(records, [[1, "a", 1], [1, "b", 2], [2, "a", 3], [2, "c", 1], [3, "a", -3], [
        3,
        "b",
        -3
      ], [3, "c", -1]])
    }))

  it.effect("emit: \"each\" is unchanged: every update, in input order", () =>
    Effect.gen(function*() {
      const records = yield* run((keyed) =>
        keyed.pipe(Dataflow.fold("count", { state: Schema.Number, init: () => 0, fold: (n, _w: string) => n + 1 }))
      )
      assert.deepStrictEqual(records.map(([, key, value]) => [key, value]), [
        ["b", 1],
        ["a", 1],
        ["b", 2],
        ["a", 2],
        ["c", 1],
        ["a", 3],
        ["b", 3]
      ])
    }))
})

describe("a keyBy fused into the keyed step after it", () => {
  it.effect("keys raw items as the keyBy would, and a keyBy read twice still makes pairs for both", () =>
    Effect.gen(function*() {
      const fused: Array<Record> = []
      const shared: Array<Record> = []
      const seen: Array<Record> = []
      const flow = Dataflow.make("fusion")
      const lines = flow.pipe(Dataflow.input("in", Input.fromIterable(words)))
      lines.pipe(
        Dataflow.keyBy("key", (word: string) => word.toUpperCase()),
        Dataflow.statefulMap("count", {
          state: Schema.Number,
          init: () => 0,
          step: (n: number, word: string) => [n + 1, `${word}${n + 1}`] as const
        }),
        Dataflow.output("fused", epochOutput(fused))
      )
      const twice = lines.pipe(Dataflow.keyBy("key2", (word: string) => `k${word}`))
      twice.pipe(
        Dataflow.reduce("concat", { state: Schema.String, reduce: (a: string, b: string) => a + b }),
        Dataflow.output("shared", epochOutput(shared))
      )
      twice.pipe(Dataflow.output("pairs", epochOutput(seen)))
      yield* Dataflow.run(flow, { epoch: Epoch.everyItems(3) }).pipe(Effect.provide(RecoveryStore.layerMemory()))
      assert.deepStrictEqual(fused.map(([, key, value]) => `${key}:${value}`), [
        "B:b1",
        "A:a1",
        "B:b2",
        "A:a2",
        "C:c1",
        "A:a3",
        "B:b3"
      ])
      assert.deepStrictEqual(shared.map(([, key, value]) => `${key}:${value}`), [
        "kb:b",
        "ka:a",
        "kb:bb",
        "ka:aa",
        "kc:c",
        "ka:aaa",
        "kb:bbb"
      ])
      assert.deepStrictEqual(seen.map(([, key, value]) => `${key}:${value}`), words.map((w) => `k${w}:${w}`))
    }))

  it.effect("a key function that throws fails the keyBy step, as without fusion", () =>
    Effect.gen(function*() {
      const flow = Dataflow.make("fusion-failure")
      flow.pipe(
        Dataflow.input("in", Input.fromIterable(words)),
        Dataflow.keyBy("key", (word: string) => {
          if (word === "c") throw new Error("no key for c")
          return word
        }),
        Dataflow.fold("count", { state: Schema.Number, init: () => 0, fold: (n, _w: string) => n + 1 }),
        Dataflow.output("out", epochOutput([]))
      )
      const error = yield* Dataflow.run(flow, { epoch: Epoch.everyItems(3) }).pipe(
        Effect.provide(RecoveryStore.layerMemory()),
        Effect.flip
      )
      assert.instanceOf(error, DataflowError.StepFailed)
      const failed = error as DataflowError.StepFailed
      assert.strictEqual(failed.stepId, "key")
      assert.strictEqual(failed.key, undefined)
      assert.strictEqual(failed.epoch, 2)
    }))
})
