import { assert, describe, expect, it } from "@effect/vitest"
import { DataflowError, RecoveryStore } from "@sluice/core"
import {
  expectedRescaleState,
  readRescaledLayout,
  RESCALE_DATAFLOW,
  rescaleTo,
  TestSeed,
  writeRescaleLayout
} from "@sluice/store-testkit"
import { Cause, Effect, Exit, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { SqliteRecovery } from "../src/index.js"
import { runRescaleTrials } from "./crash/rescaleTrials.js"
import { storeContents, tempDirectory } from "./fixtures/SqliteFixture.js"

describe("SQLite rescale under SIGKILL", () => {
  it(
    "a rescale killed at random moments and inside its commits is finished by a rerun of either count",
    async () => {
      const report = await runRescaleTrials({ seed: TestSeed.fromEnvironment(), randomKills: 4 })
      expect(report.trials).toBe(7)
      expect(report.killedWithPlan).toBeGreaterThanOrEqual(3)
    },
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
