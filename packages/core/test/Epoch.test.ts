import { assert, describe, it } from "@effect/vitest"
import { Dataflow, Epoch, Input, Output, RecoveryStore } from "@sluice/core"
import { Chunk, Effect, Fiber, Queue, TestClock } from "effect"
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

  it.effect("Epoch.interval cuts an epoch inside a large batch once its interval has passed", () =>
    Effect.gen(function*() {
      // one batch of 3,000 items (as a Kafka fetch or a backlog hands over), every hundred taking 100 ms
      // of Clock time: 300 ms epochs must not grow to the batch's 3 s
      const committed: Array<number> = []
      const seen: Array<number> = []
      const flow = Dataflow.make("backlog").pipe(
        Dataflow.input("in", Input.fromIterable(Array.from({ length: 3_000 }, (_, i) => i))),
        Dataflow.mapEffect(
          "slow",
          (n: number) => Effect.as(n % 100 === 99 ? TestClock.adjust("100 millis") : Effect.void, n)
        ),
        Dataflow.output("out", Output.sink((items: Chunk.Chunk<number>) => Effect.sync(() => seen.push(...items))))
      )
      yield* Dataflow.run(flow, {
        epoch: Epoch.interval("300 millis"),
        onEpochCommitted: (p) => Effect.sync(() => committed.push(p.items))
      }).pipe(Effect.provide(RecoveryStore.layerMemory()))
      assert.strictEqual(seen.length, 3_000)
      assert.deepStrictEqual(seen, [...seen].sort((a, b) => a - b))
      assert.strictEqual(committed.reduce((a, b) => a + b, 0), 3_000)
      // cut where the interval has passed, give or take the items pushed between two looks at the clock
      // (1,024): before, the whole batch was one epoch
      assert.isAtLeast(committed.filter((items) => items > 0).length, 3)
      assert.isAtMost(Math.max(...committed), 1_024)
    }))

  it("Epoch.everyItems needs a positive whole number", () => {
    assert.throws(() => Epoch.everyItems(0), /at least 1, got 0/)
    assert.deepStrictEqual(Epoch.everyItems(5), { _tag: "EveryItems", items: 5 })
  })
})
