import { assert, describe, it } from "@effect/vitest"
import { RecoveryStore } from "@sluice/core"
import { Dataflow, Epoch } from "@sluice/core"
import { Chunk, Effect, Stream } from "effect"
import { readResumeEpoch, type StoreFixture } from "../../StoreFixture.js"
import { type Emitted, wordcount } from "../../TestFlows.js"

const commitEpochs = (workerIndex: number, workerCount: number, epochs: number) =>
  Effect.gen(function*() {
    const store = yield* RecoveryStore.RecoveryStore
    const worker = yield* store.open({ dataflowId: "workers", workerIndex, workerCount })
    for (let epoch = worker.resumeEpoch; epoch < worker.resumeEpoch + epochs; epoch++) {
      yield* worker.transaction(epoch, (tx) => Effect.sync(() => tx.write("step", `k${workerIndex}`, String(epoch))))
    }
  }).pipe(Effect.scoped)

export const r03Resume = (fixture: StoreFixture) =>
  describe(`R3 resume point (${fixture.name})`, () => {
    it.scoped("R3: a fresh store resumes at epoch 1", () =>
      Effect.gen(function*() {
        const store = yield* fixture.fresh()
        assert.strictEqual(yield* readResumeEpoch(store.layer(), "wordcount"), 1)
      }))

    it.scoped("R3: a finished run resumes one past its last epoch and reads no input again", () =>
      Effect.gen(function*() {
        const store = yield* fixture.fresh()
        const lines = ["a", "b", "c", "d", "e"]
        const first = yield* Dataflow.run(wordcount({ lines, counts: [] }), { epoch: Epoch.everyItems(2) }).pipe(
          Effect.provide(store.layer())
        )
        assert.strictEqual(first.lastEpoch, 3)
        assert.strictEqual(yield* readResumeEpoch(store.layer(), "wordcount"), 4)
        const counts: Array<Emitted<readonly [string, number]>> = []
        const second = yield* Dataflow.run(wordcount({ lines, counts }), { epoch: Epoch.everyItems(2) }).pipe(
          Effect.provide(store.layer())
        )
        assert.strictEqual(second.resumeEpoch, 4)
        assert.strictEqual(second.items, 0)
        assert.deepStrictEqual(counts, [])
      }))

    it.scoped("R3: the resume epoch is one past the minimum over workers", () =>
      Effect.gen(function*() {
        const store = yield* fixture.fresh()
        const layer = store.layer()
        yield* commitEpochs(0, 2, 5).pipe(Effect.provide(layer))
        yield* commitEpochs(1, 2, 3).pipe(Effect.provide(layer))
        const resume = yield* Effect.gen(function*() {
          const s = yield* RecoveryStore.RecoveryStore
          return (yield* s.open({ dataflowId: "workers", workerIndex: 0, workerCount: 2 })).resumeEpoch
        }).pipe(Effect.scoped, Effect.provide(layer))
        assert.strictEqual(resume, 4)
      }))

    it.scoped("R3: a worker that never completed an epoch holds every worker at epoch 1", () =>
      Effect.gen(function*() {
        const store = yield* fixture.fresh()
        const layer = store.layer()
        yield* commitEpochs(0, 2, 4).pipe(Effect.provide(layer))
        const worker = yield* Effect.gen(function*() {
          const s = yield* RecoveryStore.RecoveryStore
          const w = yield* s.open({ dataflowId: "workers", workerIndex: 0, workerCount: 2 })
          const snapshots = yield* Stream.runCollect(w.snapshots("step"))
          return { resumeEpoch: w.resumeEpoch, snapshots: Chunk.toReadonlyArray(snapshots) }
        }).pipe(Effect.scoped, Effect.provide(layer))
        // bytewax #181: worker 0's epochs 1-4 are redone, so none of their state may be seen
        assert.deepStrictEqual(worker.snapshots, [])
        assert.strictEqual(worker.resumeEpoch, 1)
      }))

    it("R3: resumeEpochOf takes the minimum and counts missing workers as 0", () => {
      assert.strictEqual(RecoveryStore.resumeEpochOf([], 1), 1)
      assert.strictEqual(RecoveryStore.resumeEpochOf([{ workerIndex: 0, epoch: 9 }], 1), 10)
      assert.strictEqual(
        RecoveryStore.resumeEpochOf([{ workerIndex: 0, epoch: 9 }, { workerIndex: 1, epoch: 4 }], 2),
        5
      )
      assert.strictEqual(RecoveryStore.resumeEpochOf([{ workerIndex: 1, epoch: 4 }], 2), 1)
    })
  })
