import { assert, describe, it } from "@effect/vitest"
import { TestSeed } from "@sluice/store-testkit"
import { runCrashTest } from "./crash/harness.js"

describe("crash recovery with real processes", () => {
  it(
    "R1/R4/R5: SIGKILLed at random and inside commits, restarted until done, the run ends with a clean run's state and output",
    () => {
      // the seed fixes the input, the kill delays and which kills land inside commits; where a delay lands in
      // the child's work still depends on the machine's speed
      const seed = TestSeed.fromEnvironment()
      return TestSeed.replayable(seed, "recovery-sqlite", "test/Crash.test.ts", async () => {
        const report = await runCrashTest({
          lines: 60_000,
          epochItems: 20,
          inputSeed: seed,
          randomSeed: seed,
          maxDelayMs: 100,
          kills: 30,
          commitKillShare: 0.25
        })
        console.log(
          `crash test (seed ${seed}): ${report.kills} kills, ${report.commitKills} inside commits, ` +
            `${report.runs} runs over ${report.epochs} epochs in ${(report.elapsedMs / 1000).toFixed(1)} s`
        )
        assert.isAtLeast(report.kills, 20)
        assert.isAtLeast(report.commitKills, 1)
      })
    },
    180_000
  )

  it(
    "R4/R5 on a file input: killed at random, and between kills run once on a replaced file, which fails naming " +
      "it and changes nothing; the run ends with a clean run's state and output",
    () => {
      const seed = TestSeed.fromEnvironment()
      return TestSeed.replayable(seed, "recovery-sqlite", "test/Crash.test.ts", async () => {
        const report = await runCrashTest({
          // enough input that a run is not done before its kill: a run that ends ends the loop (faster Nodes and
          // faster releases too: with commits on the store's thread, 200,000 lines were done after 4 kills)
          lines: 500_000,
          epochItems: 100,
          inputSeed: seed,
          randomSeed: seed + 1,
          // later kills than above: the file input's child starts slower, and a replaced file needs a stored position
          maxDelayMs: 700,
          kills: 12,
          commitKillShare: 0.25,
          replaceFileEvery: 3
        })
        console.log(
          `file crash test (seed ${seed}): ${report.kills} kills, ${report.replacements} runs on a replaced file, ` +
            `${report.runs} runs over ${report.epochs} epochs in ${(report.elapsedMs / 1000).toFixed(1)} s`
        )
        assert.isAtLeast(report.kills, 6)
        assert.isAtLeast(report.replacements, 1)
      })
    },
    180_000
  )
})
