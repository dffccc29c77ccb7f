import { assert, describe, it } from "@effect/vitest"
import { Dataflow, DataflowError, Epoch, Input, Output } from "@sluice/core"
import { Cause, Effect, Exit, Option, Schema } from "effect"
import type { StoreFixture } from "../../StoreFixture.js"
import { Crash, crashAfter, expectedCounts, makeLines } from "../../TestFlows.js"

const encoder = new TextEncoder()

const countsTo = (lines: ReadonlyArray<string>, crashAt: number | undefined) =>
  Dataflow.make("exactly-once").pipe(
    Dataflow.input("lines", Input.fromIterable(lines)),
    Dataflow.map("crash", crashAfter(crashAt)),
    Dataflow.flatMap("split", (line: string) => line.split(" ").filter((w) => w.length > 0 && !w.startsWith("del:"))),
    Dataflow.keyBy("key", (w) => w),
    Dataflow.statefulMap("count", { state: Schema.Number, init: () => 0, step: (n, _w) => [n + 1, n + 1] }),
    Dataflow.output(
      "counts",
      Output.transactional("counts", ([word, n]: readonly [string, number]) => ({
        key: encoder.encode(word),
        value: encoder.encode(String(n))
      }))
    )
  )

export const r05ExactlyOnce = (fixture: StoreFixture) =>
  describe(`R5 transactional output is exactly-once (${fixture.name})`, () => {
    it.scoped("R5: across crashes every committed output record appears once, none is lost, none is seen uncommitted", () =>
      Effect.gen(function*() {
        const store = yield* fixture.fresh()
        const readOutputs = store.readOutputs
        assert.isDefined(readOutputs, `${fixture.name} cannot read transactional outputs`)
        const lines = makeLines(80, 3).map((l) => l.replaceAll("del:", ""))
        let crashes = 0
        // crash points count items of each run; they add up to less than the input, so each one fires
        for (const crashAt of [13, 20, 9, 25, undefined]) {
          const exit = yield* Dataflow.run(countsTo(lines, crashAt), { epoch: Epoch.everyItems(7) }).pipe(
            Effect.provide(store.layer()),
            Effect.exit
          )
          if (crashAt !== undefined) {
            assert.isTrue(Exit.isFailure(exit))
            const error = Exit.isFailure(exit) ? Option.getOrThrow(Cause.failureOption(exit.cause)) : undefined
            assert.instanceOf(error, DataflowError.StepFailed)
            assert.instanceOf((error as DataflowError.StepFailed).cause, Crash)
            crashes++
          } else assert.isTrue(Exit.isSuccess(exit))
          // committed records are always a prefix of the clean sequence: nothing from an incomplete epoch
          const seen = yield* readOutputs!("counts")
          const perWord = new Map<string, Array<number>>()
          for (const { key, value } of seen) perWord.set(key!, [...(perWord.get(key!) ?? []), Number(value)])
          for (const [word, values] of perWord) {
            assert.deepStrictEqual(values, values.map((_, i) => i + 1), `${word} counts repeat or skip`)
          }
        }
        assert.strictEqual(crashes, 4)
        const final = yield* readOutputs!("counts")
        const last = new Map(final.map(({ key, value }) => [key!, Number(value)]))
        assert.deepStrictEqual(last, expectedCounts(lines))
        const total = [...expectedCounts(lines).values()].reduce((a, b) => a + b, 0)
        assert.strictEqual(final.length, total)
      }))
  })
