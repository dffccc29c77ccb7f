import { assert, describe, it } from "@effect/vitest"
import { DataflowError, RecoveryStore } from "@sluice/core"
import {
  expectedRescaleOutputs,
  expectedRescaleState,
  readRescaledLayout,
  RESCALE_DATAFLOW,
  rescaleTo,
  runRescaleChild,
  TestSeed,
  writeRescaleLayout
} from "@sluice/store-testkit"
import { Cause, Effect, Exit, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { SqliteRecovery } from "../src/index.js"
import { readOutputs, storeContents, tempDirectory } from "./fixtures/SqliteFixture.js"

const packageDirectory = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const childScript = path.join(packageDirectory, "test", "crash", "rescaleChild.ts")
const KEYS = 1500
const decoder = new TextDecoder()

/** After a kill: a rerun with `rescale: true` ends with the state and outputs of an uninterrupted rescale. */
const assertRerunFinishes = (directory: string, from: number, rerunWith: number, what: string) =>
  Effect.gen(function*() {
    const backend = yield* SqliteRecovery.backend({ directory })
    const rerun = yield* Effect.exit(rescaleTo(backend, rerunWith))
    assert.isTrue(Exit.isSuccess(rerun), `${what}, rerun with ${rerunWith}: ${rerun}`)
    assert.deepStrictEqual(yield* readRescaledLayout(backend, rerunWith), expectedRescaleState(from, KEYS), what)
    const outputs = (yield* readOutputs(directory, "out")).map((record) => decoder.decode(record.value)).sort()
    assert.deepStrictEqual(outputs, expectedRescaleOutputs(from), what)
    assert.isFalse(fs.existsSync(path.join(directory, "rescale-plan")), `${what}: the plan is left`)
  })

/** A run without `rescale: true` refuses a store with a plan and leaves every byte of it as it was. */
const assertRefusalChangesNothing = (directory: string, workerCount: number) =>
  Effect.gen(function*() {
    const before = yield* storeContents(directory)
    const backend = yield* SqliteRecovery.backend({ directory })
    const exit = yield* RecoveryStore.make(backend).open({ dataflowId: RESCALE_DATAFLOW, workerIndex: 0, workerCount })
      .pipe(Effect.scoped, Effect.exit)
    assert.isTrue(Exit.isFailure(exit))
    const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
    assert.instanceOf(Option.getOrUndefined(failure), DataflowError.RescaleUnfinished)
    assert.deepStrictEqual(yield* storeContents(directory), before)
  })

describe("SQLite rescale under SIGKILL", () => {
  it.scoped(
    "a rescale killed at random moments and inside its commits is finished by a rerun of either count",
    () =>
      Effect.gen(function*() {
        const seed = TestSeed.fromEnvironment()
        const random = TestSeed.random(seed)
        // an uninterrupted child first: how long a rescale takes, to kill inside it
        const clean = yield* tempDirectory
        yield* writeRescaleLayout(yield* SqliteRecovery.backend({ directory: clean }), 2, KEYS)
        const full = yield* runRescaleChild({ script: childScript, args: [clean, "3"], cwd: packageDirectory })
        assert.isTrue(full.finished, full.output)
        yield* assertRerunFinishes(clean, 2, 3, "uninterrupted")

        const trials: Array<{ readonly killAfterMs?: number; readonly inCommit?: string }> = [
          ...Array.from({ length: 4 }, () => ({ killAfterMs: Math.floor(random() * full.elapsedMs) })),
          // the new workers' commits of their shares: 1 to 3; statement 1 is inside the transaction
          { inCommit: "1:1" },
          { inCommit: "2:1" },
          { inCommit: "3:0" }
        ]
        let killedWithPlan = 0
        for (const [i, trial] of trials.entries()) {
          yield* Effect.scoped(Effect.gen(function*() {
            const directory = yield* tempDirectory
            yield* writeRescaleLayout(yield* SqliteRecovery.backend({ directory }), 2, KEYS)
            const run = yield* runRescaleChild({
              script: childScript,
              args: [directory, "3"],
              cwd: packageDirectory,
              ...(trial.inCommit === undefined ? {} : { env: { SLUICE_KILL_IN_COMMIT: trial.inCommit } }),
              ...(trial.killAfterMs === undefined ? {} : { killAfterMs: trial.killAfterMs })
            })
            const what = `seed ${seed}, trial ${i} (${JSON.stringify(trial)})`
            assert.isTrue(run.killed || run.finished, `${what}: ${run.output}`)
            if (run.killed && fs.existsSync(path.join(directory, "rescale-plan"))) {
              killedWithPlan++
              yield* assertRefusalChangesNothing(directory, 3)
            }
            yield* assertRerunFinishes(directory, 2, i % 2 === 0 ? 2 : 3, what)
          }))
        }
        // the kills inside the commits come after the plan is stored
        assert.isAtLeast(killedWithPlan, 3)
      }),
    300_000
  )

  it.scoped("a kill inside the plan's write leaves rescale-plan.tmp, which is never read", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const backend = yield* SqliteRecovery.backend({ directory })
      yield* writeRescaleLayout(backend, 2)
      // the plan's bytes cut off halfway, as a kill between write and rename leaves them
      fs.writeFileSync(path.join(directory, "rescale-plan.tmp"), "{\"meta\":{\"dataflowId\":\"res")
      const before = yield* storeContents(directory)
      // the old layout resumes as if nothing happened; another count is a plain mismatch
      const exit = yield* RecoveryStore.make(backend).open({
        dataflowId: RESCALE_DATAFLOW,
        workerIndex: 0,
        workerCount: 3
      }).pipe(Effect.scoped, Effect.exit)
      assert.isTrue(Exit.isFailure(exit))
      const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      assert.instanceOf(Option.getOrUndefined(failure), DataflowError.RecoveryMismatch)
      assert.deepStrictEqual(yield* storeContents(directory), before)
      assert.deepStrictEqual(yield* rescaleTo(backend, 3), Option.some(2))
      assert.deepStrictEqual(yield* readRescaledLayout(backend, 3), expectedRescaleState(2))
      assert.isFalse(fs.existsSync(path.join(directory, "rescale-plan.tmp")))
    }))
})
