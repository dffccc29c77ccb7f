import { assert, describe, it } from "@effect/vitest"
import { Dataflow, Epoch, RecoveryStore } from "@sluice/core"
import { countsOf, expectedWords, mergedParityCount, partitionedWordcount } from "@sluice/store-testkit"
import { Effect, Exit, Layer } from "effect"
import { NodeWorkers } from "../src/index.js"
import { withOutDir } from "./fixtures/directories.js"

const PER_PARTITION = 500

/** Sets the variables the worker flows read (threads copy the environment when they start) for one run. */
const withEnvironment = <A, E, R>(variables: Record<string, string>, run: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => Object.assign(process.env, variables)),
    () => run,
    () =>
      Effect.sync(() => {
        for (const name of Object.keys(variables)) delete process.env[name]
      })
  )

const onTwoThreads = (
  flow: typeof mergedParityCount,
  layer: Layer.Layer<RecoveryStore.RecoveryStore>,
  variables: Record<string, string> = {},
  options: Pick<Dataflow.RunOptions, "restore"> = {}
) =>
  withEnvironment(
    { SLUICE_TEST_ITEMS: String(PER_PARTITION), ...variables },
    Dataflow.run(flow, { ...options, workers: 2, epoch: Epoch.everyItems(50) }).pipe(
      Effect.provide(Layer.merge(layer, NodeWorkers.layer))
    )
  )

describe("recovery on two worker threads", () => {
  for (const crashAfter of [700, 1000, 1300]) {
    it.scoped(
      `R2: a merge of a local and an exchanged path, crashed after ${crashAfter} items per worker and resumed, counts as a clean run`,
      () =>
        Effect.gen(function*() {
          const handle = RecoveryStore.makeMemoryHandle()
          const layer = RecoveryStore.layerMemory(handle)
          const crashed = yield* Effect.exit(
            onTwoThreads(mergedParityCount, layer, { SLUICE_TEST_FAIL_AFTER: String(crashAfter) })
          )
          assert.isTrue(Exit.isFailure(crashed), "the injected crash did not fire")
          const resumed = yield* onTwoThreads(mergedParityCount, layer)
          assert.isAbove(resumed.resumeEpoch, 1, "no epoch committed before the crash")
          // an epoch whose exchanged items the merge let through after its barrier lost them in the crash
          assert.deepStrictEqual(yield* countsOf(layer, 2, "merged-parity"), expectedWords(6, PER_PARTITION))
        }),
      60_000
    )
  }

  it.scoped(
    "lazy restore: a crashed run resumed lazily reads keys through the coordinator and counts as a clean run",
    () =>
      Effect.gen(function*() {
        const handle = RecoveryStore.makeMemoryHandle()
        const memory = RecoveryStore.memoryBackend(handle)
        const keyReads: Array<number> = []
        const layer = RecoveryStore.layer({
          ...memory,
          open: (options) =>
            Effect.map(memory.open(options), (worker) => ({
              ...worker,
              readKeys: (stepId: string, keys: ReadonlyArray<string>, atOrBefore: number) =>
                Effect.suspend(() => {
                  keyReads.push(options.workerIndex)
                  return worker.readKeys!(stepId, keys, atOrBefore)
                })
            }))
        })
        const crashed = yield* Effect.exit(
          onTwoThreads(mergedParityCount, layer, { SLUICE_TEST_FAIL_AFTER: "1000" })
        )
        assert.isTrue(Exit.isFailure(crashed), "the injected crash did not fire")
        assert.deepStrictEqual(keyReads, [])
        const resumed = yield* onTwoThreads(mergedParityCount, layer, {}, { restore: "lazy" })
        assert.isAbove(resumed.resumeEpoch, 1, "no epoch committed before the crash")
        assert.sameMembers([...new Set(keyReads)], [0, 1], "each worker read its keys")
        assert.deepStrictEqual(yield* countsOf(layer, 2, "merged-parity"), expectedWords(6, PER_PARTITION))
      }),
    60_000
  )

  it.scoped(
    "R3: with one worker several epochs ahead in the store, a run resumes after the worker furthest behind",
    () =>
      Effect.gen(function*() {
        yield* withOutDir("sluice-recovery-threads-")
        const handle = RecoveryStore.makeMemoryHandle()
        const layer = RecoveryStore.layerMemory(handle)
        const first = yield* onTwoThreads(partitionedWordcount, layer, { SLUICE_TEST_ITEMS: "300" })
        // worker 0 alone completes four more epochs, with state no run produced: what a resume must not see
        yield* Effect.gen(function*() {
          const store = yield* RecoveryStore.RecoveryStore
          const worker = yield* store.open({ dataflowId: "parallel-wordcount", workerIndex: 0, workerCount: 2 })
          assert.strictEqual(worker.resumeEpoch, first.lastEpoch + 1)
          for (let epoch = worker.resumeEpoch; epoch < worker.resumeEpoch + 4; epoch++) {
            yield* worker.transaction(epoch, (tx) =>
              Effect.sync(() => {
                for (const word of expectedWords(6, 300).keys()) {
                  tx.write("count", word, "1000000")
                }
              }))
          }
        }).pipe(Effect.scoped, Effect.provide(layer))
        assert.deepStrictEqual(
          handle.stats().completedEpochs.map((p) => [p.workerIndex, p.epoch]).sort(),
          [[0, first.lastEpoch + 4], [1, first.lastEpoch]]
        )
        const second = yield* onTwoThreads(partitionedWordcount, layer)
        assert.strictEqual(second.resumeEpoch, first.lastEpoch + 1)
        assert.strictEqual(second.items, 6 * (PER_PARTITION - 300))
        assert.deepStrictEqual(yield* countsOf(layer, 2), expectedWords(6, PER_PARTITION))
      }),
    60_000
  )
})
