import { assert, describe, it } from "@effect/vitest"
import { SqliteRecovery } from "@sluice/recovery-sqlite"
import { countsOf, expectedWords, runPartitionedWordcount } from "@sluice/store-testkit"
import { Effect } from "effect"
import * as fs from "node:fs"
import { NodeWorkers } from "../src/index.js"
import { temporaryDirectory, withOutDir } from "./fixtures/directories.js"

describe("workers on SQLite", () => {
  it.scoped(
    "each worker commits to its own file; a rescale from 2 to 3 workers carries the state",
    () =>
      Effect.gen(function*() {
        const directory = yield* temporaryDirectory("sluice-sqlite-workers-")
        yield* withOutDir("sluice-sqlite-workers-out-")
        const layer = SqliteRecovery.layer({ directory })
        const runWith = (workers: number, perPartition: number, rescale: boolean) =>
          runPartitionedWordcount(layer, { workers, perPartition, rescale, threads: NodeWorkers.layer })
        yield* runWith(2, 300, false)
        assert.deepStrictEqual(fs.readdirSync(directory).filter((f) => f.endsWith(".sqlite3")).sort(), [
          "worker-0.sqlite3",
          "worker-1.sqlite3"
        ])
        assert.deepStrictEqual(yield* countsOf(layer, 2), expectedWords(6, 300))
        const three = yield* runWith(3, 500, true)
        assert.strictEqual(three.items, 6 * 200)
        assert.deepStrictEqual(yield* countsOf(layer, 3), expectedWords(6, 500))
        delete process.env.SLUICE_TEST_ITEMS
      }),
    90_000
  )
})
