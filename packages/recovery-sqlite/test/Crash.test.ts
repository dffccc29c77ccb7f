import { assert, describe, it } from "@effect/vitest"
import { runCrashTest } from "./crash/harness.js"

describe("crash recovery with real processes", () => {
  it(
    "R1/R4/R5: SIGKILLed at random and inside commits, restarted until done, the run ends with a clean run's state and output",
    async () => {
      const seed = Number(process.env.SLUICE_CRASH_SEED ?? Date.now() % 1_000_000)
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
    },
    180_000
  )
})
