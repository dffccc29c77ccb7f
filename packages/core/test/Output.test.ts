import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Dataflow, DataflowError, Epoch, Input, Output, RecoveryStore } from "@sluice/core"
import { Effect, Exit } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** The memory store over `handle`, whose commit of `failAt` fails once: a crash after the epoch's output was written. */
const crashingAt = (handle: RecoveryStore.MemoryHandle, failAt: number): RecoveryStore.Backend => {
  const memory = RecoveryStore.memoryBackend(handle)
  let failed = false
  return {
    name: "crashing",
    open: (options) =>
      Effect.map(memory.open(options), (worker) => ({
        ...worker,
        commit: (epoch, writes, outputs) => {
          if (epoch !== failAt || failed) return worker.commit(epoch, writes, outputs)
          failed = true
          return Effect.fail(
            new DataflowError.StoreUnavailable({ store: "crashing", reason: "killed", cause: undefined })
          )
        }
      }))
  }
}

describe("Output.toFile", () => {
  it.scoped("an epoch whose commit fails after its lines were written is written once, by the run that resumes", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-out-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const file = path.join(dir, "out.txt")
      const flow = Dataflow.make("file-once").pipe(
        Dataflow.input("in", Input.fromIterable([1, 2, 3, 4, 5])),
        Dataflow.output("out", Output.toFile(file, (n: number) => `n=${n}`))
      )
      const handle = RecoveryStore.makeMemoryHandle()
      const crashed = yield* Dataflow.run(flow, { epoch: Epoch.everyItems(2) }).pipe(
        Effect.provide(RecoveryStore.layer(crashingAt(handle, 2))),
        Effect.provide(NodeContext.layer),
        Effect.exit
      )
      assert.isTrue(Exit.isFailure(crashed))
      // the crashed epoch's lines reached the file before its commit failed
      assert.strictEqual(fs.readFileSync(file, "utf8"), "n=1\nn=2\nn=3\nn=4\n")
      yield* Dataflow.run(flow, { epoch: Epoch.everyItems(2) }).pipe(
        Effect.provide(RecoveryStore.layerMemory(handle)),
        Effect.provide(NodeContext.layer)
      )
      assert.strictEqual(fs.readFileSync(file, "utf8"), "n=1\nn=2\nn=3\nn=4\nn=5\n")
    }))

  it.scoped("a fresh store starts the file empty: the file is the dataflow's output, not a log to add to", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-out-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const file = path.join(dir, "out.txt")
      fs.writeFileSync(file, "left by a run whose first epoch never committed\n")
      const flow = Dataflow.make("file-fresh").pipe(
        Dataflow.input("in", Input.fromIterable(["a"])),
        Dataflow.output("out", Output.toFile(file))
      )
      yield* Dataflow.run(flow).pipe(Effect.provide(RecoveryStore.layerMemory()), Effect.provide(NodeContext.layer))
      assert.strictEqual(fs.readFileSync(file, "utf8"), "a\n")
    }))

  it.scoped("a resumed run with no stored length for the file (a renamed step, a rescaled store) keeps the file", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-out-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const file = path.join(dir, "out.txt")
      const handle = RecoveryStore.makeMemoryHandle()
      const flow = (outputId: string, items: ReadonlyArray<string>) =>
        Dataflow.make("file-kept").pipe(
          Dataflow.input("in", Input.fromIterable(items)),
          Dataflow.output(outputId, Output.toFile(file))
        )
      const run = (outputId: string, items: ReadonlyArray<string>) =>
        Dataflow.run(flow(outputId, items)).pipe(
          Effect.provide(RecoveryStore.layerMemory(handle)),
          Effect.provide(NodeContext.layer)
        )
      yield* run("out", ["a"])
      yield* run("renamed", ["a", "b"])
      assert.strictEqual(fs.readFileSync(file, "utf8"), "a\nb\n")
    }))
})
