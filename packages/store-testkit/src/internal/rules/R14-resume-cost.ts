import { assert, describe, it } from "@effect/vitest"
import { Dataflow, Epoch, RecoveryStore } from "@sluice/core"
import { Effect, Layer, Stream } from "effect"
import type { StoreFixture } from "../../StoreFixture.js"
import { wordcount } from "../../TestFlows.js"

/** Wraps a store so every snapshot read on resume is counted. */
const counting = (layer: Layer.Layer<RecoveryStore.RecoveryStore, unknown>, reads: { count: number }) =>
  Layer.effect(
    RecoveryStore.RecoveryStore,
    Effect.map(RecoveryStore.RecoveryStore, (store) => ({
      ...store,
      open: (options: Parameters<typeof store.open>[0]) =>
        Effect.map(store.open(options), (worker) => ({
          ...worker,
          snapshots: (stepId: string) =>
            worker.snapshots(stepId).pipe(Stream.tap(() => Effect.sync(() => reads.count++)))
        }))
    }))
  ).pipe(Layer.provide(layer))

export const r14ResumeCost = (fixture: StoreFixture) =>
  describe(`R14 resume cost (${fixture.name})`, () => {
    it.scoped("R14: resume reads one snapshot per live key, none for deleted keys or old epochs", () =>
      Effect.gen(function*() {
        const store = yield* fixture.fresh()
        const keys = Array.from({ length: 200 }, (_, i) => `k${i}`)
        const lines = [
          ...Array.from({ length: 20 }, () => keys.join(" ")),
          keys.slice(0, 150).map((k) => `del:${k}`).join(" ")
        ]
        yield* Dataflow.run(wordcount({ lines, counts: [] }), { epoch: Epoch.everyItems(1) }).pipe(
          Effect.provide(store.layer())
        )
        const reads = { count: 0 }
        yield* Dataflow.run(wordcount({ lines, counts: [] }), { epoch: Epoch.everyItems(1) }).pipe(
          Effect.provide(counting(store.layer(), reads))
        )
        // 50 live keys and one input position
        assert.strictEqual(reads.count, 51)
      }))
  })
