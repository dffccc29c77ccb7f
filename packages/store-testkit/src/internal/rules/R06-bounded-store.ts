import { assert, describe, it } from "@effect/vitest"
import { Dataflow, Epoch } from "@sluice/core"
import { Effect } from "effect"
import type { StoreFixture } from "../../StoreFixture.js"
import { wordcount } from "../../TestFlows.js"

export const r06BoundedStore = (fixture: StoreFixture) =>
  describe(`R6 bounded store (${fixture.name})`, () => {
    it.scoped("R6: many epochs over a fixed key set keep the store at the size of its live keys", () =>
      Effect.gen(function*() {
        const store = yield* fixture.fresh()
        const keys = Array.from({ length: 10 }, (_, i) => `k${i}`)
        const lines = Array.from({ length: 300 }, () => keys.join(" "))
        yield* Dataflow.run(wordcount({ lines, counts: [] }), { epoch: Epoch.everyItems(1) }).pipe(
          Effect.provide(store.layer())
        )
        // 10 live keys and one input position, after 300 epochs each rewriting all of them
        assert.strictEqual(yield* store.storedVersions(), 11)
      }))

    it.scoped("R6: tombstones are collected once the epoch that wrote them is complete", () =>
      Effect.gen(function*() {
        const store = yield* fixture.fresh()
        const keys = Array.from({ length: 50 }, (_, i) => `k${i}`)
        const lines = [keys.join(" "), keys.map((k) => `del:${k}`).join(" "), "z"]
        yield* Dataflow.run(wordcount({ lines, counts: [] }), { epoch: Epoch.everyItems(1) }).pipe(
          Effect.provide(store.layer())
        )
        assert.strictEqual(yield* store.storedVersions(), 2) // z and the input position
      }))
  })
