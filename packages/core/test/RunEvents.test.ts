import { assert, describe, it } from "@effect/vitest"
import { Dataflow, DataflowError, Epoch, Input, Metrics, Output, RecoveryStore, RunEvents } from "@sluice/core"
import { Effect, Layer, Metric, PubSub, Queue, Schema } from "effect"

const words = Array.from({ length: 50 }, (_, i) => `w${i % 5}`)

const countFlow = (id: string, failAt?: string) =>
  Dataflow.make(id).pipe(
    Dataflow.input("words", Input.fromIterable(words)),
    Dataflow.map("check", (word: string) => {
      if (word === failAt) throw new Error(`refusing ${word}`)
      return word
    }),
    Dataflow.keyBy("key", (word) => word),
    Dataflow.map("one", ([word]) => [word, 1] as const),
    Dataflow.reduce("count", { state: Schema.Number, reduce: (a, b) => a + b }),
    Dataflow.output("out", Output.sink(() => Effect.void))
  )

const eventsOf = <A, E>(run: Effect.Effect<A, E, RecoveryStore.RecoveryStore | RunEvents.RunEvents>) =>
  Effect.gen(function*() {
    const hub = yield* RunEvents.RunEvents
    const subscription = yield* PubSub.subscribe(hub)
    const exit = yield* Effect.exit(run)
    return { exit, events: yield* Queue.takeAll(subscription) }
  }).pipe(Effect.scoped, Effect.provide(Layer.merge(RunEvents.layer, RecoveryStore.layerMemory())))

describe("RunEvents", () => {
  it.effect("a run reports its start, each committed epoch with what each step did, and its end", () =>
    Effect.gen(function*() {
      const { events, exit } = yield* eventsOf(Dataflow.run(countFlow("told"), { epoch: Epoch.everyItems(20) }))
      assert.strictEqual(exit._tag, "Success")
      const list = [...events]
      const started = list[0]
      assert.strictEqual(started._tag, "RunStarted")
      assert.deepStrictEqual(started._tag === "RunStarted" && [started.resumeEpoch, started.workerCount], [1, 1])
      const epochs = list.filter((e): e is RunEvents.EpochCommitted => e._tag === "EpochCommitted")
      assert.deepStrictEqual(epochs.map((e) => e.epoch), epochs.map((_, i) => i + 1))
      assert.deepStrictEqual(epochs.map((e) => e.items), [20, 20, 10])
      assert.strictEqual(epochs[epochs.length - 1].totalItems, words.length)
      const inOf = (stepId: string) =>
        epochs.flatMap((e) => e.steps).filter((s) => s.stepId === stepId).reduce((n, s) => n + s.itemsIn, 0)
      assert.deepStrictEqual(["words", "check", "key", "one", "count"].map(inOf), [50, 50, 50, 50, 50])
      // a reduce emits an update per item; the output writes what reaches it
      assert.strictEqual(inOf("out"), 50)
      assert.deepStrictEqual(epochs[0].workers.map((w) => [w.workerIndex, w.items]), [[0, 20]])
      // five words changed in the first epoch, plus the input's position
      assert.strictEqual(epochs[0].snapshotWrites, 6)
      const last = list[list.length - 1]
      assert.deepStrictEqual(last._tag === "RunFinished" && [last.lastEpoch, last.items], [epochs.length, 50])
      const committed = yield* Metric.value(Metrics.epochCommitted.pipe(Metric.tagged("dataflow", "told")))
      assert.strictEqual(committed.value, epochs.length)
    }))

  it.effect("a failing run reports the DataflowError's message", () =>
    Effect.gen(function*() {
      const { events, exit } = yield* eventsOf(Dataflow.run(countFlow("fails", "w3"), { epoch: Epoch.everyItems(20) }))
      assert.strictEqual(exit._tag, "Failure")
      const failed = [...events].find((e): e is RunEvents.RunFailed => e._tag === "RunFailed")
      assert.isDefined(failed)
      assert.strictEqual(failed!.errorTag, "StepFailed")
      const expected = new DataflowError.StepFailed({ stepId: "check", epoch: 1, cause: new Error("refusing w3") })
      assert.strictEqual(failed!.message, expected.message)
    }))
})
