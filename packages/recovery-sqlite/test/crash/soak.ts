// Hundreds of kills: rounds of the crash test with fresh inputs and epoch
// sizes until the kills add up.
//   pnpm --filter @sluice/recovery-sqlite soak [-- --kills 300] [--seed 42]   (or SLUICE_SEED=42)
import { TestSeed } from "@sluice/store-testkit"
import { runCrashTest } from "./harness.js"

const argument = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(`--${name}`)
  return at >= 0 ? Number(process.argv[at + 1]) : fallback
}

const target = argument("kills", 300)
let seed = argument("seed", TestSeed.fromEnvironment())
const started = Date.now()
let kills = 0
let commitKills = 0
let round = 0
while (kills < target) {
  round++
  const epochItems = [1, 7, 20, 64, 250][round % 5]
  const report = await runCrashTest({
    lines: 60_000,
    epochItems,
    inputSeed: seed,
    randomSeed: seed * 31 + 7,
    maxDelayMs: 120,
    kills: 40,
    commitKillShare: 0.25
  })
  kills += report.kills
  commitKills += report.commitKills
  console.log(
    `round ${round} (seed ${seed}, epochs of ${epochItems}): ${report.kills} kills, ${report.commitKills} inside commits, ` +
      `${report.epochs} epochs, ${(report.elapsedMs / 1000).toFixed(1)} s; total ${kills} kills`
  )
  seed++
}
console.log(
  `soak passed: ${kills} kills (${commitKills} inside commits) in ${round} rounds, ${
    ((Date.now() - started) / 1000).toFixed(0)
  } s`
)
