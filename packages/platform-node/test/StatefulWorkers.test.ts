import { assert, describe, it } from "@effect/vitest"
import { Dataflow, Epoch, RecoveryStore } from "@sluice/core"
import type * as Flows from "@sluice/store-testkit/StatefulRuns"
import { JOIN_ORDERS, JOIN_PAYMENTS } from "@sluice/store-testkit/StatefulRuns"
import { Effect } from "effect"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { NodeWorkers } from "../src/index.js"

const flows = pathToFileURL(createRequire(import.meta.url).resolve("@sluice/store-testkit/StatefulRuns"))
const countFinal = Dataflow.fromModule<typeof Flows>(flows, "partitionedCountFinal")
const joined = Dataflow.fromModule<typeof Flows>(flows, "partitionedJoin")
const latest = Dataflow.fromModule<typeof Flows>(flows, "partitionedLatestCount")

/** Runs a flow on two worker threads and reads the `[worker, step, key, value]` lines its workers recorded. */
const runOnTwoWorkers = (flow: Dataflow.DataflowModule) =>
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "sluice-stateful-workers-"))),
      (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
    )
    process.env.SLUICE_TEST_OUT = dir
    yield* Dataflow.run(flow, { workers: 2, epoch: Epoch.everyItems(100) }).pipe(
      Effect.provide(NodeWorkers.layer),
      Effect.provide(RecoveryStore.layerMemory())
    )
    return fs.readdirSync(dir).flatMap((f) =>
      fs.readFileSync(path.join(dir, f), "utf8").trim().split("\n").map((l) =>
        JSON.parse(l) as [number, string, string, unknown]
      )
    )
  })

/** The words of `partitionedCountFinal`, counted without the engine. */
const expected = () => {
  const counts = new Map<string, number>()
  for (let p = 0; p < 4; p++) {
    for (let i = 0; i < 300; i++) {
      const w = `w${(p * 31 + i * 7) % 23}`
      counts.set(w, (counts.get(w) ?? 0) + 1)
    }
  }
  return counts
}

describe("stateful operators on several workers", () => {
  it.scoped(
    "emit: \"epoch\" through the exchange: each key's counts from one worker, rising, at most one per epoch, ending at its total",
    () =>
      Effect.gen(function*() {
        const lines = (yield* runOnTwoWorkers(latest)) as Array<[number, string, string, number]>
        const perKey = new Map<string, Array<number>>()
        const workersOfKey = new Map<string, Set<number>>()
        for (const [worker, , key, value] of lines) {
          workersOfKey.set(key, (workersOfKey.get(key) ?? new Set()).add(worker))
          perKey.set(key, [...(perKey.get(key) ?? []), value])
        }
        assert.deepStrictEqual(new Map([...perKey].map(([key, counts]) => [key, counts.at(-1)])), expected())
        for (const [key, counts] of perKey) {
          assert.isTrue(counts.every((n, i) => i === 0 || n > counts[i - 1]), `${key}: counts ${counts} do not rise`)
          // 1,200 words over both workers in epochs of 100 items a worker: at most 7 epochs (the last at end of input)
          assert.isAtMost(counts.length, 7, `${key}: ${counts.length} records`)
        }
        assert.isTrue([...workersOfKey.values()].every((s) => s.size === 1), "a key was emitted by two workers")
      }),
    30_000
  )

  it.scoped(
    "countFinal and collect see each key on one worker: exact totals, batches that add up",
    () =>
      Effect.gen(function*() {
        const lines = (yield* runOnTwoWorkers(countFinal)) as Array<[number, string, string, number]>
        const counts = new Map<string, number>()
        const batched = new Map<string, number>()
        const workersOfKey = new Map<string, Set<number>>()
        for (const [worker, step, key, value] of lines) {
          workersOfKey.set(key, (workersOfKey.get(key) ?? new Set()).add(worker))
          if (step === "count") {
            assert.isFalse(counts.has(key), `key ${key} counted twice`)
            counts.set(key, value)
          } else {
            assert.isAtMost(value, 4)
            batched.set(key, (batched.get(key) ?? 0) + value)
          }
        }
        assert.deepStrictEqual(counts, expected())
        assert.deepStrictEqual(batched, expected())
        assert.isTrue([...workersOfKey.values()].every((s) => s.size === 1), "a key was kept on two workers")
        assert.deepStrictEqual(new Set([...workersOfKey.values()].map((s) => [...s][0])), new Set([0, 1]))
      }),
    30_000
  )

  it.scoped(
    "join sees every side of a key on one worker; redistribute spreads one partition over both workers",
    () =>
      Effect.gen(function*() {
        const lines = yield* runOnTwoWorkers(joined)
        const rows = new Map<string, Array<unknown>>()
        const workersOfKey = new Map<string, number>()
        const spread = new Map<number, Array<number>>()
        for (const [worker, step, key, value] of lines) {
          if (step === "spread") {
            spread.set(worker, [...(spread.get(worker) ?? []), value as number])
            continue
          }
          assert.strictEqual(workersOfKey.get(key) ?? worker, worker, `key ${key} joined on two workers`)
          workersOfKey.set(key, worker)
          rows.set(key, [...(rows.get(key) ?? []), value])
        }
        // the product of each order with its payments, computed without the engine
        const expected = new Map<string, Array<unknown>>()
        for (let k = 0; k < JOIN_PAYMENTS; k++) {
          const order = k % JOIN_ORDERS
          expected.set(`o${order}`, [...(expected.get(`o${order}`) ?? []), [order, k]])
        }
        const sorted = (m: Map<string, Array<unknown>>) =>
          new Map([...m].map(([key, values]) => [key, values.map((v) => JSON.stringify(v)).sort()]))
        assert.deepStrictEqual(sorted(rows), sorted(expected))
        assert.deepStrictEqual(new Set(workersOfKey.values()), new Set([0, 1]))
        const all = [...spread.values()].flat().sort((a, b) => a - b)
        assert.deepStrictEqual(all, Array.from({ length: 400 }, (_, i) => i))
        // round robin: each worker gets half, give or take a chunk's remainder
        for (const worker of [0, 1]) assert.approximately(spread.get(worker)?.length ?? 0, 200, 10)
      }),
    30_000
  )
})
