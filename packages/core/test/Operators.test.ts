import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Dataflow, Epoch, Input, Output, RecoveryStore } from "@sluice/core"
import { Effect, Option, Ref, Schema } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const runMemory = (flow: Dataflow.Dataflow, epochSize = 3) =>
  Dataflow.run(flow, { epoch: Epoch.everyItems(epochSize) }).pipe(Effect.provide(RecoveryStore.layerMemory()))

describe("stateless operators", () => {
  it.effect("map, flatMap, filter, filterMap and inspect transform whole chunks in order", () =>
    Effect.gen(function*() {
      const ref = yield* Ref.make<Array<string>>([])
      const seen: Array<number> = []
      const flow = Dataflow.make("ops").pipe(
        Dataflow.input("in", Input.fromIterable(["1 2", "x 3", "4"])),
        Dataflow.flatMap("split", (line: string) => line.split(" ")),
        Dataflow.filterMap("parse", (s) => Number.isNaN(Number(s)) ? Option.none() : Option.some(Number(s))),
        Dataflow.inspect("seen", (n) => seen.push(n)),
        Dataflow.filter("not-3", (n) => n !== 3),
        Dataflow.map("show", (n) => `#${n}`),
        Dataflow.output("out", Output.collect(ref))
      )
      yield* runMemory(flow, 1)
      assert.deepStrictEqual(yield* Ref.get(ref), ["#1", "#2", "#4"])
      assert.deepStrictEqual(seen, [1, 2, 3, 4])
    }))

  it.effect("a chunk larger than 1,024 items reaches the next step in pieces of at most 1,024, in order", () =>
    Effect.gen(function*() {
      const chunks: Array<ReadonlyArray<[string, number]>> = []
      // 500 lines of ten words: the input's one chunk of 500 becomes 5,000 words after the split
      const lines = Array.from({ length: 500 }, (_, i) => Array.from({ length: 10 }, (_, j) => `w${i}-${j}`).join(" "))
      const flow = Dataflow.make("pieces").pipe(
        Dataflow.input("in", Input.fromIterable(lines)),
        Dataflow.flatMap("split", (line: string) => line.split(" ")),
        Dataflow.keyBy("key", (word: string) => word),
        Dataflow.statefulMap("count", {
          state: Schema.Number,
          init: () => 0,
          step: (count: number, _word: string) => [count + 1, count + 1]
        }),
        Dataflow.output(
          "out",
          Output.make(() =>
            Effect.succeed({
              write: (items) => Effect.sync(() => chunks.push([...items] as Array<[string, number]>))
            })
          )
        )
      )
      yield* runMemory(flow, 500)
      assert.deepStrictEqual(chunks.map((chunk) => chunk.length), [1024, 1024, 1024, 1024, 904])
      assert.deepStrictEqual(chunks.flat().map(([word]) => word), lines.flatMap((line) => line.split(" ")))
    }))

  it.effect("mapEffect keeps input order while items finish out of order", () =>
    Effect.gen(function*() {
      const ref = yield* Ref.make<Array<number>>([])
      const finished: Array<number> = []
      const flow = Dataflow.make("effects").pipe(
        Dataflow.input("in", Input.fromIterable([5, 1, 4, 2, 3])),
        Dataflow.mapEffect(
          "slow",
          (n: number) =>
            Effect.repeatN(Effect.yieldNow(), n * 3).pipe(
              Effect.zipRight(Effect.sync(() => finished.push(n))),
              Effect.as(n * 10)
            ),
          { concurrency: 5 }
        ),
        Dataflow.output("out", Output.collect(ref))
      )
      yield* runMemory(flow, 5)
      assert.deepStrictEqual(finished, [1, 2, 3, 4, 5])
      assert.deepStrictEqual(yield* Ref.get(ref), [50, 10, 40, 20, 30])
    }))

  it.effect("branch splits by a predicate and both sides reach their outputs", () =>
    Effect.gen(function*() {
      const evens = yield* Ref.make<Array<number>>([])
      const odds = yield* Ref.make<Array<number>>([])
      const df = Dataflow.make("branch")
      const { falses, trues } = df.pipe(
        Dataflow.input("in", Input.fromIterable([1, 2, 3, 4, 5])),
        Dataflow.branch("even", (n: number) => n % 2 === 0)
      )
      trues.pipe(Dataflow.output("evens", Output.collect(evens)))
      falses.pipe(Dataflow.output("odds", Output.collect(odds)))
      yield* runMemory(df)
      assert.deepStrictEqual(yield* Ref.get(evens), [2, 4])
      assert.deepStrictEqual(yield* Ref.get(odds), [1, 3, 5])
    }))

  it.effect("reduce emits the accumulator per item by default, fold with emit: end once per key", () =>
    Effect.gen(function*() {
      const maxima = yield* Ref.make<Array<readonly [string, number]>>([])
      const lists = yield* Ref.make<Array<readonly [string, ReadonlyArray<number>]>>([])
      const keyed = Dataflow.make("aggregates").pipe(
        Dataflow.input("in", Input.fromIterable([["a", 3], ["b", 1], ["a", 7], ["a", 5]] as const)),
        Dataflow.map("pairs", (p) => p as readonly [string, number])
      )
      keyed.pipe(
        Dataflow.reduce("max", { state: Schema.Number, reduce: (a, b) => Math.max(a, b) }),
        Dataflow.output("maxima", Output.collect(maxima))
      )
      keyed.pipe(
        Dataflow.fold("lists", {
          state: Schema.Array(Schema.Number),
          init: (): ReadonlyArray<number> => [],
          fold: (acc, n: number) => [...acc, n],
          emit: "end"
        }),
        Dataflow.output("lists-out", Output.collect(lists))
      )
      yield* runMemory(keyed.dataflow, 2)
      assert.deepStrictEqual(yield* Ref.get(maxima), [["a", 3], ["b", 1], ["a", 7], ["a", 7]])
      assert.deepStrictEqual(yield* Ref.get(lists), [["a", [3, 7, 5]], ["b", [1]]])
    }))
})

describe("outputs", () => {
  it.scoped("toFile appends one line per item, written before each epoch commits", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-out-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const file = path.join(dir, "out.txt")
      const sizes: Array<number> = []
      const flow = Dataflow.make("file-out").pipe(
        Dataflow.input("in", Input.fromIterable([1, 2, 3])),
        Dataflow.output("out", Output.toFile(file, (n: number) => `n=${n}`))
      )
      yield* Dataflow.run(flow, {
        epoch: Epoch.everyItems(2),
        onEpochCommitted: () => Effect.sync(() => sizes.push(fs.readFileSync(file, "utf8").split("\n").length - 1))
      }).pipe(Effect.provide(RecoveryStore.layerMemory()), Effect.provide(NodeContext.layer))
      assert.strictEqual(fs.readFileSync(file, "utf8"), "n=1\nn=2\nn=3\n")
      assert.deepStrictEqual(sizes, [2, 3])
    }))

  it.effect("console prints one line per item", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const original = globalThis.console.log
      globalThis.console.log = (...args: Array<unknown>) => void lines.push(args.join(" "))
      const flow = Dataflow.make("console-out").pipe(
        Dataflow.input("in", Input.fromIterable([["a", 1]] as const)),
        Dataflow.output("out", Output.console((p: readonly [string, number]) => `${p[0]}: ${p[1]}`))
      )
      yield* runMemory(flow).pipe(Effect.ensuring(Effect.sync(() => {
        globalThis.console.log = original
      })))
      assert.deepStrictEqual(lines, ["a: 1"])
    }))
})
