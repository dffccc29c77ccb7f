import { assert } from "@effect/vitest"
import { Dataflow, DataflowError, Epoch } from "@sluice/core"
import type { RecoveryStore } from "@sluice/core"
import { Cause, Effect, Exit, Option, Schema } from "effect"
import type { Layer } from "effect"
import { readResumeEpoch, readState } from "./StoreFixture.js"
import { Crash, type Emitted, wordcount } from "./TestFlows.js"

type Pair = readonly [string, number]

export interface RunRecord {
  readonly resumeEpoch: number
  readonly counts: Array<Emitted<Pair>>
  readonly totals: Array<Emitted<Pair>>
  readonly crashed: boolean
}

export interface CrashRuns {
  readonly runs: ReadonlyArray<RunRecord>
  readonly state: Map<string, number>
  readonly totalsState: Map<string, number>
}

/**
 * Runs wordcount over `lines`, crashing each run after the given number of
 * input lines, until a run finishes.
 */
export const runWithCrashes = (
  layer: () => Layer.Layer<RecoveryStore.RecoveryStore, unknown>,
  lines: ReadonlyArray<string>,
  epochSize: number,
  crashes: ReadonlyArray<number>,
  options: Pick<Dataflow.RunOptions, "restore"> = {}
): Effect.Effect<CrashRuns, unknown> =>
  Effect.gen(function*() {
    const runs: Array<RunRecord> = []
    for (let attempt = 0;; attempt++) {
      const counts: Array<Emitted<Pair>> = []
      const totals: Array<Emitted<Pair>> = []
      const resumeEpoch = yield* readResumeEpoch(layer(), "wordcount")
      const flow = wordcount({ lines, counts, totals, crashAfterItems: crashes[attempt] })
      const exit = yield* Dataflow.run(flow, { ...options, epoch: Epoch.everyItems(epochSize) }).pipe(
        Effect.provide(layer()),
        Effect.exit
      )
      if (Exit.isSuccess(exit)) {
        assert.strictEqual(exit.value.resumeEpoch, resumeEpoch)
        runs.push({ resumeEpoch, counts, totals, crashed: false })
        break
      }
      const failure = Cause.failureOption(exit.cause)
      if (
        Option.isNone(failure) || !(failure.value instanceof DataflowError.StepFailed) ||
        !(failure.value.cause instanceof Crash)
      ) {
        return yield* Effect.die(new Error(`unexpected failure: ${Cause.pretty(exit.cause)}`))
      }
      runs.push({ resumeEpoch, counts, totals, crashed: true })
    }
    const state = yield* readState(layer(), "wordcount", "count", Schema.Number)
    const totalsRaw = yield* readState(layer(), "wordcount", "totals", Schema.Tuple(Schema.Number, Schema.Boolean))
    const totalsState = new Map([...totalsRaw].map(([k, [v]]) => [k, v]))
    return { runs, state, totalsState }
  })

const byEpoch = <A>(emitted: ReadonlyArray<Emitted<A>>): Map<number, Array<A>> => {
  const out = new Map<number, Array<A>>()
  for (const { epoch, item } of emitted) {
    const list = out.get(epoch) ?? []
    list.push(item)
    out.set(epoch, list)
  }
  return out
}

/**
 * R5: for every run, the output of each epoch is a prefix of the clean run's
 * output of that epoch, and complete where the epoch committed; every epoch is
 * complete in some run; and a repeated epoch is one at or after the resume
 * epoch of the run that repeats it.
 */
export const assertOutputAtLeastOnce = <A>(
  clean: ReadonlyArray<Emitted<A>>,
  runs: ReadonlyArray<{ readonly resumeEpoch: number; readonly emitted: ReadonlyArray<Emitted<A>> }>
) => {
  const cleanByEpoch = byEpoch(clean)
  const covered = new Set<number>()
  runs.forEach((run, i) => {
    const produced = byEpoch(run.emitted)
    const nextResume = runs[i + 1]?.resumeEpoch ?? Infinity
    for (const [epoch, items] of produced) {
      assert.isAtLeast(epoch, run.resumeEpoch, `run ${i} produced epoch ${epoch} before its resume epoch`)
      const expected = cleanByEpoch.get(epoch) ?? []
      assert.deepStrictEqual(
        items,
        expected.slice(0, items.length),
        `run ${i} epoch ${epoch} differs from the clean run`
      )
      if (epoch < nextResume) {
        assert.deepStrictEqual(items, expected, `run ${i} committed epoch ${epoch} without all its output`)
        covered.add(epoch)
      }
    }
  })
  for (const epoch of cleanByEpoch.keys()) assert.isTrue(covered.has(epoch), `epoch ${epoch} output lost`)
}

/**
 * R4 and R5 for a word count run through crashes, against a clean run: the
 * same state (and the engine-free expectation), and every output at least once
 * with repeats only from incomplete epochs.
 */
export const assertMatchesCleanRun = (clean: CrashRuns, crashed: CrashRuns, expected: Map<string, number>) => {
  assert.deepStrictEqual(crashed.state, expected)
  assert.deepStrictEqual(crashed.state, clean.state)
  assert.deepStrictEqual(crashed.totalsState, clean.totalsState)
  assertOutputAtLeastOnce(
    clean.runs[0].counts,
    crashed.runs.map((r) => ({ resumeEpoch: r.resumeEpoch, emitted: r.counts }))
  )
  assertOutputAtLeastOnce(
    clean.runs[0].totals,
    crashed.runs.map((r) => ({ resumeEpoch: r.resumeEpoch, emitted: r.totals }))
  )
}
