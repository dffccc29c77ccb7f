import { assert, describe, it } from "@effect/vitest"
import { Dataflow, Epoch, Output, RecoveryStore } from "@sluice/core"
import { Effect, Fiber, Queue, TestClock } from "effect"
import { End, queueInput } from "./fixtures/queueInput.js"

describe("epoch policies", () => {
  it.effect("Epoch.interval closes epochs as the Clock advances, also while the input is idle", () =>
    Effect.gen(function*() {
      const queue = yield* Queue.unbounded<string | typeof End>()
      const input = queueInput(queue)
      const committed: Array<readonly [number, number]> = []
      const flow = Dataflow.make("timed").pipe(
        Dataflow.input("in", input),
        Dataflow.output("out", Output.sink(() => Effect.void))
      )
      const fiber = yield* Dataflow.run(flow, {
        epoch: Epoch.interval("10 seconds"),
        onEpochCommitted: (p) => Effect.sync(() => committed.push([p.epoch, p.items]))
      }).pipe(Effect.provide(RecoveryStore.layerMemory()), Effect.fork)
      yield* Queue.offerAll(queue, ["a", "b"])
      yield* TestClock.adjust("10 seconds")
      yield* TestClock.adjust("10 seconds") // idle: an empty epoch still closes
      yield* Queue.offer(queue, "c")
      yield* TestClock.adjust("10 seconds")
      yield* Queue.offer(queue, "end")
      const summary = yield* Fiber.join(fiber)
      assert.deepStrictEqual(committed, [[1, 2], [2, 0], [3, 1], [4, 0]])
      assert.strictEqual(summary.lastEpoch, 4)
    }))

  it("Epoch.everyItems needs a positive whole number", () => {
    assert.throws(() => Epoch.everyItems(0), /at least 1, got 0/)
    assert.deepStrictEqual(Epoch.everyItems(5), { _tag: "EveryItems", items: 5 })
  })
})
