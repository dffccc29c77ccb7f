/**
 * Rescales killed with SIGKILL in a child process (`rescaleChild.ts`): at
 * seeded random moments and inside the commits of the new workers' shares.
 * After each kill a run without `rescale: true` is refused and changes no
 * byte of the store, and a rerun with `rescale: true` (of the old count or the
 * new one, in turn) ends with the state and outputs of a rescale never killed.
 *
 * Used by SqliteRescaleCrash.test.ts and by the soak script, so it asserts
 * with node:assert.
 */
import { DataflowError, RecoveryStore } from "@sluice/core"
// the test kit's modules one by one: its index brings vitest, and the soak script runs outside vitest
import {
  expectedRescaleOutputs,
  expectedRescaleState,
  readRescaledLayout,
  RESCALE_DATAFLOW,
  rescaleTo,
  runRescaleChild,
  writeRescaleLayout
} from "@sluice/store-testkit/RescaleRuns"
import * as TestSeed from "@sluice/store-testkit/TestSeed"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import assert from "node:assert/strict"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { SqliteRecovery } from "../../src/index.js"
import { readOutputs, storeContents } from "../fixtures/storeFiles.js"

const packageDirectory = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..")
const childScript = path.join(packageDirectory, "test", "crash", "rescaleChild.ts")
const KEYS = 1500
const FROM = 2
const TO = 3
const decoder = new TextDecoder()

/** After a kill: a rerun with `rescale: true` ends with the state and outputs of an uninterrupted rescale. */
const assertRerunFinishes = (directory: string, rerunWith: number, what: string) =>
  Effect.gen(function*() {
    const backend = yield* SqliteRecovery.backend({ directory })
    const rerun = yield* Effect.exit(rescaleTo(backend, rerunWith))
    assert.ok(Exit.isSuccess(rerun), `${what}, rerun with ${rerunWith}: ${rerun}`)
    assert.deepEqual(yield* readRescaledLayout(backend, rerunWith), expectedRescaleState(FROM, KEYS), what)
    const outputs = (yield* readOutputs(directory, "out")).map((record) => decoder.decode(record.value)).sort()
    assert.deepEqual(outputs, expectedRescaleOutputs(FROM), what)
    assert.ok(!fs.existsSync(path.join(directory, "rescale-plan")), `${what}: the plan is left`)
  })

/** A run without `rescale: true` refuses a store with a plan and leaves every byte of it as it was. */
const assertRefusalChangesNothing = (directory: string, what: string) =>
  Effect.gen(function*() {
    const before = yield* storeContents(directory)
    const backend = yield* SqliteRecovery.backend({ directory })
    const exit = yield* RecoveryStore.make(backend).open({
      dataflowId: RESCALE_DATAFLOW,
      workerIndex: 0,
      workerCount: TO
    })
      .pipe(Effect.scoped, Effect.exit)
    const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
    assert.ok(Option.getOrUndefined(failure) instanceof DataflowError.RescaleUnfinished, `${what}: ${exit}`)
    assert.deepEqual(yield* storeContents(directory), before, `${what}: the refused run changed the store`)
  })

/** A fresh directory with the old layout, removed after `f` unless it fails (then it stays for a look). */
const withOldLayout = <A, E>(f: (directory: string) => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-rescale-"))
    yield* writeRescaleLayout(yield* SqliteRecovery.backend({ directory }), FROM, KEYS)
    const result = yield* f(directory)
    fs.rmSync(directory, { recursive: true, force: true })
    return result
  })

export interface RescaleTrialsReport {
  readonly trials: number
  /** Children that died by SIGKILL (the others finished before their kill came). */
  readonly kills: number
  /** Kills that left the plan stored: the reruns finished a rescale half applied. */
  readonly killedWithPlan: number
}

/**
 * One uninterrupted rescale (to time the kills), then `randomKills` kills at
 * random moments of a rescale and one inside each commit of the new shares.
 */
export const runRescaleTrials = (options: {
  readonly seed: number
  readonly randomKills: number
}): Promise<RescaleTrialsReport> =>
  Effect.runPromise(Effect.gen(function*() {
    const random = TestSeed.random(options.seed)
    const full = yield* withOldLayout((directory) =>
      Effect.gen(function*() {
        const run = yield* runRescaleChild({
          script: childScript,
          args: [directory, String(TO)],
          cwd: packageDirectory
        })
        assert.ok(run.finished, run.output)
        yield* assertRerunFinishes(directory, TO, "uninterrupted")
        return run
      })
    )
    const trials: Array<{ readonly killAfterMs?: number; readonly inCommit?: string }> = [
      ...Array.from({ length: options.randomKills }, () => ({ killAfterMs: Math.floor(random() * full.elapsedMs) })),
      // the new workers' commits of their shares: 1 to 3; statement 1 is inside the transaction
      { inCommit: "1:1" },
      { inCommit: "2:1" },
      { inCommit: "3:0" }
    ]
    let kills = 0
    let killedWithPlan = 0
    for (const [i, trial] of trials.entries()) {
      yield* withOldLayout((directory) =>
        Effect.gen(function*() {
          const run = yield* runRescaleChild({
            script: childScript,
            args: [directory, String(TO)],
            cwd: packageDirectory,
            ...(trial.inCommit === undefined ? {} : { env: { SLUICE_KILL_IN_COMMIT: trial.inCommit } }),
            ...(trial.killAfterMs === undefined ? {} : { killAfterMs: trial.killAfterMs })
          })
          const what = `seed ${options.seed}, trial ${i} (${JSON.stringify(trial)}), store ${directory}`
          assert.ok(run.killed || run.finished, `${what}: ${run.output}`)
          if (run.killed) kills++
          if (run.killed && fs.existsSync(path.join(directory, "rescale-plan"))) {
            killedWithPlan++
            yield* assertRefusalChangesNothing(directory, what)
          }
          yield* assertRerunFinishes(directory, i % 2 === 0 ? FROM : TO, what)
        })
      )
    }
    // the kills inside the commits come after the plan is stored
    assert.ok(killedWithPlan >= 3, `seed ${options.seed}: only ${killedWithPlan} kills left a plan`)
    return { trials: trials.length, kills, killedWithPlan }
  }))
