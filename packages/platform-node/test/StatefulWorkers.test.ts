import { assert, describe, it } from "@effect/vitest"
import { Dataflow, Epoch, RecoveryStore } from "@sluice/core"
import type * as Flows from "@sluice/store-testkit/StatefulRuns"
import { Effect } from "effect"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { NodeWorkers } from "../src/index.js"

const flows = pathToFileURL(createRequire(import.meta.url).resolve("@sluice/store-testkit/StatefulRuns"))
const countFinal = Dataflow.fromModule<typeof Flows>(flows, "partitionedCountFinal")

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
    "countFinal and collect see each key on one worker: exact totals, batches that add up",
    () =>
      Effect.gen(function*() {
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "sluice-stateful-workers-"))),
          (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
        )
        process.env.SLUICE_TEST_OUT = dir
        yield* Dataflow.run(countFinal, { workers: 2, epoch: Epoch.everyItems(100) }).pipe(
          Effect.provide(NodeWorkers.layer),
          Effect.provide(RecoveryStore.layerMemory())
        )
        const lines = fs.readdirSync(dir).flatMap((f) =>
          fs.readFileSync(path.join(dir, f), "utf8").trim().split("\n").map((l) =>
            JSON.parse(l) as [number, string, string, number]
          )
        )
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
})
