// Hundreds of kills: rounds of the crash test with fresh inputs and epoch
// sizes, each followed by rescales killed at random moments and inside their
// commits, until the kills add up.
//   pnpm soak [-- --kills 300] [--seed 42]   (or SLUICE_SEED=42)
import * as TestSeed from "@sluice/store-testkit/TestSeed"
import { runCrashTest } from "./harness.js"
import { runRescaleTrials } from "./rescaleTrials.js"

const argument = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(`--${name}`)
  return at >= 0 ? Number(process.argv[at + 1]) : fallback
}

const target = argument("kills", 300)
let seed = argument("seed", TestSeed.fromEnvironment())
const started = Date.now()
let kills = 0
let commitKills = 0
let rescaleKills = 0
let replacements = 0
let rescaleKillsWithPlan = 0
let round = 0
while (kills < target) {
  round++
  const epochItems = [1, 7, 20, 64, 250][round % 5]
  // every other round reads a file, and runs once on a replaced one after every fourth kill
  const fromFile = round % 2 === 0
  const report = await runCrashTest({
    lines: 60_000,
    epochItems,
    inputSeed: seed,
    randomSeed: seed * 31 + 7,
    maxDelayMs: fromFile ? 700 : 120,
    kills: 40,
    commitKillShare: 0.25,
    ...(fromFile ? { replaceFileEvery: 4 } : {})
  })
  replacements += report.replacements
  const rescales = await runRescaleTrials({ seed, randomKills: 5 })
  kills += report.kills + rescales.kills
  commitKills += report.commitKills
  rescaleKills += rescales.kills
  rescaleKillsWithPlan += rescales.killedWithPlan
  console.log(
    `round ${round} (seed ${seed}, epochs of ${epochItems}): ${report.kills} kills, ${report.commitKills} inside commits, ` +
      `${report.replacements} runs on a replaced file, ${report.epochs} epochs, ${
        (report.elapsedMs / 1000).toFixed(1)
      } s; ` +
      `${rescales.kills} rescales killed ` +
      `(${rescales.killedWithPlan} after the plan was stored); total ${kills} kills`
  )
  seed++
}
console.log(
  `soak passed: ${kills} kills (${commitKills} inside epoch commits, ${rescaleKills} of rescales, ` +
    `${rescaleKillsWithPlan} of them after the plan was stored), ${replacements} runs on a replaced input file ` +
    `(each failed naming it) in ${round} rounds, ${((Date.now() - started) / 1000).toFixed(0)} s`
)
