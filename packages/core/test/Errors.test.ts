import { assert, describe, it } from "@effect/vitest"
import { Dataflow, DataflowError, Epoch, Input, Output, RecoveryStore } from "@sluice/core"
import { Cause, Effect, Exit, Option } from "effect"

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  assert.isTrue(Exit.isFailure(exit))
  return Option.getOrThrow(Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none())
}

const run = (flow: Dataflow.Dataflow, handle = RecoveryStore.makeMemoryHandle()) =>
  Dataflow.run(flow).pipe(Effect.provide(RecoveryStore.layerMemory(handle)), Effect.exit)

describe("build-time errors", () => {
  it.effect("a step id used twice fails with DuplicateStepId before anything runs", () =>
    Effect.gen(function*() {
      const handle = RecoveryStore.makeMemoryHandle()
      const flow = Dataflow.make("dup").pipe(
        Dataflow.input("in", Input.fromIterable([1])),
        Dataflow.map("step", (n) => n),
        Dataflow.map("step", (n) => n),
        Dataflow.output("out", Output.console())
      )
      const error = failureOf(yield* run(flow, handle))
      assert.instanceOf(error, DataflowError.DuplicateStepId)
      assert.strictEqual(error.message, "dataflow dup uses step id step more than once; give each step a unique id")
      assert.isUndefined(handle.meta, "the store was not touched")
    }))

  it.effect("a dataflow without input or without output fails with InvalidDataflow", () =>
    Effect.gen(function*() {
      const noInput = failureOf(yield* run(Dataflow.make("empty")))
      assert.strictEqual(noInput.message, "dataflow empty has no input; add one with Dataflow.input")
      const dangling = Dataflow.make("dangling")
      dangling.pipe(Dataflow.input("in", Input.fromIterable([1])))
      const noOutput = failureOf(yield* run(dangling))
      assert.strictEqual(noOutput.message, "dataflow dangling has no output; add one with Dataflow.output")
    }))

  it("merge refuses flows of two dataflows", () => {
    const a = Dataflow.make("a").pipe(Dataflow.input("in", Input.fromIterable([1])))
    const b = Dataflow.make("b").pipe(Dataflow.input("in", Input.fromIterable([1])))
    assert.throws(() => Dataflow.merge("both", [a, b]), "Dataflow.merge both mixes flows of dataflows a and b")
  })
})

describe("store errors", () => {
  const flow = () =>
    Dataflow.make("wc").pipe(
      Dataflow.input("in", Input.fromIterable([1])),
      Dataflow.output("out", Output.console(String))
    )

  it.effect("a store of a newer schema version fails with StoreVersionUnsupported and is left as it is", () =>
    Effect.gen(function*() {
      const handle = RecoveryStore.makeMemoryHandle()
      handle.meta = { dataflowId: "wc", workerCount: 1, schemaVersion: 99, createdAt: 0 }
      const error = failureOf(yield* run(flow(), handle))
      assert.instanceOf(error, DataflowError.StoreVersionUnsupported)
      assert.strictEqual(
        error.message,
        "recovery store has schema version 99, this sluice reads up to version 1; upgrade sluice to resume it"
      )
      assert.strictEqual(handle.meta?.schemaVersion, 99)
      assert.deepStrictEqual(handle.stats().completedEpochs, [])
    }))

  it.effect("R1: a commit that fails leaves nothing of its epoch and fails the run with the store's error", () =>
    Effect.gen(function*() {
      const handle = RecoveryStore.makeMemoryHandle()
      const memory = RecoveryStore.memoryBackend(handle)
      const failing: RecoveryStore.Backend = {
        name: "flaky",
        open: (options) =>
          Effect.map(memory.open(options), (worker) => ({
            ...worker,
            commit: (epoch, writes, outputs) =>
              epoch === 2
                ? Effect.fail(
                  new DataflowError.StoreUnavailable({ store: "flaky", reason: "disk full", cause: undefined })
                )
                : worker.commit(epoch, writes, outputs)
          }))
      }
      const flow = Dataflow.make("wc").pipe(
        Dataflow.input("in", Input.fromIterable(["a", "b", "c"])),
        Dataflow.keyBy("key", (s) => s),
        Dataflow.output("out", Output.sink(() => Effect.void))
      )
      const exit = yield* Dataflow.run(flow, { epoch: Epoch.everyItems(1) }).pipe(
        Effect.provide(RecoveryStore.layer(failing)),
        Effect.exit
      )
      const error = failureOf(exit)
      assert.instanceOf(error, DataflowError.StoreUnavailable)
      assert.strictEqual(error.message, "recovery store flaky: disk full")
      assert.deepStrictEqual(handle.stats().completedEpochs, [{ workerIndex: 0, epoch: 1 }])
    }))

  it("every error class says what was found and what to do", () => {
    assert.strictEqual(
      new DataflowError.StoreCorrupt({ store: "./state/worker-0.sqlite3", reason: "file is not a database" }).message,
      "recovery store ./state/worker-0.sqlite3 is not a readable sluice store: file is not a database; move it away to start fresh"
    )
    assert.strictEqual(
      new DataflowError.StoreUnavailable({
        store: "sqlite ./state",
        reason: "locked by another process",
        cause: new Error("SQLITE_BUSY")
      }).message,
      "recovery store sqlite ./state: locked by another process: SQLITE_BUSY"
    )
  })
})
