import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Dataflow, DataflowError, Input, Output, RecoveryStore } from "@sluice/core"
import { Cause, Effect, Exit, Option, Ref } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const linesOf = (file: string, chunkBytes: number) =>
  Effect.gen(function*() {
    const seen = yield* Ref.make<Array<string>>([])
    const flow = Dataflow.make("read").pipe(
      Dataflow.input("lines", Input.fromFile(file, { chunkBytes })),
      Dataflow.output(
        "out",
        Output.make(() => Effect.succeed({ write: (items) => Ref.update(seen, (s) => [...s, ...items]) }))
      )
    )
    yield* Dataflow.run(flow).pipe(Effect.provide(RecoveryStore.layerMemory()), Effect.provide(NodeContext.layer))
    return yield* Ref.get(seen)
  })

const tempFile = (content: string | Uint8Array) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-input-"))
      const file = path.join(dir, "in.txt")
      fs.writeFileSync(file, content)
      return file
    }),
    (file) => Effect.sync(() => fs.rmSync(path.dirname(file), { recursive: true, force: true }))
  )

describe("Input.fromFile", () => {
  it.scoped("a line spread over thousands of chunks comes back whole, with the lines around it", () =>
    Effect.gen(function*() {
      const long = "x".repeat(4_000_000)
      const file = yield* tempFile(`first\r\n${long}\nlast`)
      const lines = yield* linesOf(file, 1024)
      assert.deepStrictEqual(lines.map((l) => l.length), [5, long.length, 4])
      assert.strictEqual(lines[1], long)
    }))

  it.scoped("multi-byte characters cut by a chunk boundary decode whole", () =>
    Effect.gen(function*() {
      const file = yield* tempFile("ääää🦀\nñ\n")
      assert.deepStrictEqual(yield* linesOf(file, 3), ["ääää🦀", "ñ"])
    }))

  it.scoped("without a FileSystem in context the run fails naming the step and the layer to provide", () =>
    Effect.gen(function*() {
      const file = yield* tempFile("a\n")
      const flow = Dataflow.make("no-fs").pipe(
        Dataflow.input("lines", Input.fromFile(file)),
        Dataflow.output("out", Output.console())
      )
      const exit = yield* Dataflow.run(flow).pipe(Effect.provide(RecoveryStore.layerMemory()), Effect.exit)
      const error = Exit.isFailure(exit) ? Option.getOrThrow(Cause.failureOption(exit.cause)) : undefined
      assert.instanceOf(error, DataflowError.StepFailed)
      assert.strictEqual((error as DataflowError.StepFailed).stepId, "lines")
      assert.include((error as DataflowError.StepFailed).message, "NodeContext.layer")
    }))
})
