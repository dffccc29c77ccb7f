import { assert, describe, it } from "@effect/vitest"
import { Dataflow, Epoch, RecoveryStore } from "@sluice/core"
import { Effect, Stream } from "effect"
import { runWithCrashes } from "../../CrashRuns.js"
import { runTimedWithCrashes } from "../../StatefulRuns.js"
import type { StoreFixture } from "../../StoreFixture.js"
import { type Emitted, expectedCounts, makeLines, wordcount } from "../../TestFlows.js"
import { makeEvents, runWindowsWithCrashes } from "../../WindowRuns.js"

const lazy = { restore: "lazy" } as const

/** What a lazy resume asked of the backend: keys read per call, and steps whose snapshots were streamed whole. */
interface Reads {
  readonly keyReads: Array<{ readonly stepId: string; readonly keys: ReadonlyArray<string> }>
  readonly streamed: Array<string>
  readsKeys: boolean
}

/** Wraps a backend to record the reads of R16. */
const recordingReads = (backend: RecoveryStore.Backend, reads: Reads): RecoveryStore.Backend => ({
  ...backend,
  open: (options) =>
    Effect.map(backend.open(options), (worker) => {
      reads.readsKeys = worker.readKeys !== undefined
      const readKeys = worker.readKeys
      return {
        ...worker,
        readSnapshots: (stepId, atOrBefore) =>
          Stream.suspend(() => {
            reads.streamed.push(stepId)
            return worker.readSnapshots(stepId, atOrBefore)
          }),
        ...(readKeys === undefined ? {} : {
          readKeys: (stepId: string, keys: ReadonlyArray<string>, atOrBefore: number) =>
            Effect.suspend(() => {
              reads.keyReads.push({ stepId, keys })
              return readKeys(stepId, keys, atOrBefore)
            })
        })
      }
    })
})

/**
 * R16: a resume with `restore: "lazy"` is invisible in results: through the
 * same crashes, every run emits what the eager run emits and the store ends
 * with the same state. Steps that can (`statefulMap`, `fold`) read a key on
 * its first item; steps with timers (windows, `notifyAt`, a TTL, `collect`)
 * load at resume; a store without `readKeys` restores eagerly.
 */
export const r16LazyRestore = (fixture: StoreFixture) =>
  describe(`R16 lazy restore (${fixture.name})`, () => {
    it.scoped("R16: word count with deletes and a fold at end, through crashes, lazily as eagerly", () =>
      Effect.gen(function*() {
        // a vocabulary larger than a resumed run touches: the fold at end must reach keys no item brought back
        const lines = makeLines(60, 3, 150)
        const crashes = [17, 9, 23]
        const eager = yield* runWithCrashes((yield* fixture.fresh()).layer, lines, 4, crashes)
        const lazily = yield* runWithCrashes((yield* fixture.fresh()).layer, lines, 4, crashes, lazy)
        assert.strictEqual(lazily.runs.length, crashes.length + 1)
        assert.deepStrictEqual(lazily.runs, eager.runs)
        assert.deepStrictEqual(lazily.state, expectedCounts(lines))
        assert.deepStrictEqual(lazily.totalsState, eager.totalsState)
      }))

    it.scoped("R16: windows through crashes, lazily as eagerly", () =>
      Effect.gen(function*() {
        const events = makeEvents(80, 11)
        const crashes = [21, 30]
        const eager = yield* runWindowsWithCrashes((yield* fixture.fresh()).layer, events, 3, crashes)
        const lazily = yield* runWindowsWithCrashes((yield* fixture.fresh()).layer, events, 3, crashes, lazy)
        assert.strictEqual(lazily.length, crashes.length + 1)
        assert.isAbove(lazily.flatMap((run) => run.windows).length, 0)
        assert.deepStrictEqual(lazily, eager)
      }))

    it.scoped("R16: timers, sessions with onEof and a join with a TTL through crashes, lazily as eagerly", () =>
      Effect.gen(function*() {
        const events = makeEvents(90, 7)
        const crashes = [25, 40]
        const eager = yield* runTimedWithCrashes((yield* fixture.fresh()).layer, events, 5, crashes)
        const lazily = yield* runTimedWithCrashes((yield* fixture.fresh()).layer, events, 5, crashes, lazy)
        assert.strictEqual(lazily.runs.length, crashes.length + 1)
        assert.deepStrictEqual(lazily.runs, eager.runs)
        assert.deepStrictEqual(lazily.sessions, eager.sessions)
        assert.deepStrictEqual(lazily.pairs, eager.pairs)
      }))

    it.scoped("R16: a lazy resume reads each key once, on its first item, and a deleted key never", () =>
      Effect.gen(function*() {
        const opened = yield* fixture.fresh()
        if (opened.backend === undefined) return
        const backend = yield* opened.backend()
        const reads: Reads = { keyReads: [], streamed: [], readsKeys: false }
        const layer = () => RecoveryStore.layer(recordingReads(backend, reads))
        // five keys with state; the resumed run deletes k1, then sees it again, and meets k9 for the first time
        const first = ["k0 k1 k2 k3 k4", "k0 k1"]
        yield* Dataflow.run(wordcount({ lines: first, counts: [] }), { epoch: Epoch.everyItems(1) }).pipe(
          Effect.provide(layer())
        )
        reads.streamed.length = 0
        const lines = [...first, "k1 k9", "del:k1 k0", "k1 k1 k9"]
        const counts: Array<Emitted<readonly [string, number]>> = []
        yield* Dataflow.run(wordcount({ lines, counts }), { ...lazy, epoch: Epoch.everyItems(1) }).pipe(
          Effect.provide(layer())
        )
        assert.deepStrictEqual(
          counts.map((e) => e.item),
          [["k1", 3], ["k9", 1], ["k1", 0], ["k0", 3], ["k1", 1], ["k1", 2], ["k9", 2]]
        )
        if (!reads.readsKeys) {
          // the eager fallback streams the step whole
          assert.include(reads.streamed, "count")
          return
        }
        assert.notInclude(reads.streamed, "count", "a lazy step streamed its snapshots at resume")
        // one read per line (a chunk), of the keys new to the run; k1 deleted in the run is not read again
        const read = reads.keyReads.filter((r) => r.stepId === "count").map((r) => r.keys)
        assert.deepStrictEqual(read, [["k1", "k9"], ["k0"]], "keys are read once, per chunk, on their first item")
      }))
  })
