import { r01Snapshot } from "./internal/rules/R01-snapshot.js"
import { r02Barrier } from "./internal/rules/R02-barrier.js"
import { r03Resume } from "./internal/rules/R03-resume.js"
import { r04r05CrashEquivalence } from "./internal/rules/R04-R05-crash-equivalence.js"
import { r04StatefulTimers } from "./internal/rules/R04-stateful-timers.js"
import { r05ExactlyOnce } from "./internal/rules/R05-exactly-once.js"
import { r05LatestPerEpoch } from "./internal/rules/R05-latest-per-epoch.js"
import { r06BoundedStore } from "./internal/rules/R06-bounded-store.js"
import { r07Guards } from "./internal/rules/R07-guards.js"
import { r08StateCodecs } from "./internal/rules/R08-state-codecs.js"
import { r09r10FreshStartAndFailure } from "./internal/rules/R09-R10-fresh-start-and-failure.js"
import { r11Inputs } from "./internal/rules/R11-inputs.js"
import { r12Windows } from "./internal/rules/R12-windows.js"
import { r13Continuation } from "./internal/rules/R13-continuation.js"
import { r14ResumeCost } from "./internal/rules/R14-resume-cost.js"
import { r15CrashSafeRescale } from "./internal/rules/R15-crash-safe-rescale.js"
import { r16LazyRestore } from "./internal/rules/R16-lazy-restore.js"
import type { StoreFixture } from "./StoreFixture.js"

/**
 * The behaviour every recovery store must show, rule by rule of SEMANTICS.md, and
 * rescaling that survives a kill at any of its steps, and lazy restore.
 * Each backend's tests call this with a fixture of their store.
 */
export const recoverySuite = (fixture: StoreFixture) => {
  r01Snapshot(fixture)
  r02Barrier(fixture)
  r03Resume(fixture)
  r04r05CrashEquivalence(fixture)
  r04StatefulTimers(fixture)
  r05ExactlyOnce(fixture)
  r05LatestPerEpoch(fixture)
  r06BoundedStore(fixture)
  r07Guards(fixture)
  r08StateCodecs(fixture)
  r09r10FreshStartAndFailure(fixture)
  r11Inputs(fixture)
  r12Windows(fixture)
  r13Continuation(fixture)
  r14ResumeCost(fixture)
  r15CrashSafeRescale(fixture)
  r16LazyRestore(fixture)
}
