import { assert, describe, it } from "@effect/vitest"
import { Dataflow, Epoch, Input, Output } from "@sluice/core"
import { Effect, Exit, Schema } from "effect"
import type { StoreFixture } from "../../StoreFixture.js"
import { crashAfter, makeLines } from "../../TestFlows.js"

const encoder = new TextEncoder()
const EPOCH_LINES = 7

const latestCounts = (lines: ReadonlyArray<string>, crashAt: number | undefined) =>
  Dataflow.make("latest-per-epoch").pipe(
    Dataflow.input("lines", Input.fromIterable(lines)),
    Dataflow.map("crash", crashAfter(crashAt)),
    Dataflow.flatMap("split", (line: string) => line.split(" ").filter((w) => w.length > 0)),
    Dataflow.keyBy("key", (w) => w),
    Dataflow.fold("count", { state: Schema.Number, init: () => 0, fold: (n, _w: string) => n + 1, emit: "epoch" }),
    Dataflow.output(
      "counts",
      Output.transactional("counts", ([word, n]: readonly [string, number]) => ({
        key: encoder.encode(word),
        value: encoder.encode(String(n))
      }))
    )
  )

/** Each epoch's changed words with their running count, in key order: what `emit: "epoch"` promises. */
const expectedRecords = (lines: ReadonlyArray<string>): Array<string> => {
  const counts = new Map<string, number>()
  const records: Array<string> = []
  for (let start = 0; start < lines.length; start += EPOCH_LINES) {
    const changed = new Set<string>()
    for (const line of lines.slice(start, start + EPOCH_LINES)) {
      for (const word of line.split(" ").filter((w) => w.length > 0)) {
        counts.set(word, (counts.get(word) ?? 0) + 1)
        changed.add(word)
      }
    }
    for (const word of [...changed].sort()) records.push(`${word}=${counts.get(word)}`)
  }
  return records
}

export const r05LatestPerEpoch = (fixture: StoreFixture) =>
  describe(`R5 latest-per-epoch output is exactly-once (${fixture.name})`, () => {
    it.scoped("R5: a run killed and resumed commits exactly the records of a failure-free run, one per changed key per epoch", () =>
      Effect.gen(function*() {
        const lines = makeLines(80, 5).map((l) => l.replaceAll("del:", ""))
        const runAll = (crashPoints: ReadonlyArray<number>) =>
          Effect.gen(function*() {
            const store = yield* fixture.fresh()
            const readOutputs = store.readOutputs
            assert.isDefined(readOutputs, `${fixture.name} cannot read transactional outputs`)
            // crash points count items of each run; they add up to less than the input, so each one fires
            for (const crashAt of [...crashPoints, undefined]) {
              const exit = yield* Dataflow.run(latestCounts(lines, crashAt), {
                epoch: Epoch.everyItems(EPOCH_LINES)
              }).pipe(Effect.provide(store.layer()), Effect.exit)
              assert.strictEqual(Exit.isSuccess(exit), crashAt === undefined, `run with a crash at ${crashAt}`)
            }
            const records = yield* readOutputs!("counts")
            return records.map(({ key, value }) => `${key}=${value}`)
          })
        const clean = yield* runAll([])
        assert.deepStrictEqual(clean, expectedRecords(lines))
        // crashes mid-epoch, on an epoch boundary (14), and before the resumed run completes an epoch (3)
        const crashed = yield* runAll([10, 14, 3, 30, 20])
        assert.deepStrictEqual(crashed, clean)
      }))
  })
