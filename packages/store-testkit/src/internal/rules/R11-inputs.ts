import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Dataflow, DataflowError, Epoch, Input, Output } from "@sluice/core"
import { Cause, Effect, Exit, Option, Ref, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { StoreFixture } from "../../StoreFixture.js"
import { crashAfter } from "../../TestFlows.js"

/** Two partitions of numbered items; a partition records where each open started. */
const shards = (sizes: Record<string, number>, opened: Array<string>) =>
  Input.partitioned({
    partitions: Object.keys(sizes),
    open: (partition, resumeFrom: Option.Option<number>) => {
      const start = Option.getOrElse(resumeFrom, () => -1) + 1
      opened.push(`${partition}@${start}`)
      return Stream.range(start, sizes[partition] - 1).pipe(Stream.map((i) => [`${partition}${i}`, i] as const))
    }
  })

const collectFlow = (id: string, input: Input.Input<string>, ref: Ref.Ref<Array<string>>, crashAt?: number) =>
  Dataflow.make(id).pipe(
    Dataflow.input("in", input),
    Dataflow.map("crash", crashAfter(crashAt)),
    Dataflow.output("out", Output.collect(ref))
  )

export const r11Inputs = (fixture: StoreFixture) =>
  describe(`R11 inputs (${fixture.name})`, () => {
    it.scoped("R11: each partition resumes after the position stored with the last completed epoch", () =>
      Effect.gen(function*() {
        const store = yield* fixture.fresh()
        const opened: Array<string> = []
        const first = yield* Ref.make<Array<string>>([])
        const exit = yield* Dataflow.run(collectFlow("shards", shards({ a: 30, b: 20 }, opened), first, 33), {
          epoch: Epoch.everyItems(10)
        }).pipe(Effect.provide(store.layer()), Effect.exit)
        assert.isTrue(Exit.isFailure(exit))
        const second = yield* Ref.make<Array<string>>([])
        yield* Dataflow.run(collectFlow("shards", shards({ a: 30, b: 20 }, opened), second), {
          epoch: Epoch.everyItems(10)
        }).pipe(Effect.provide(store.layer()))
        const committed = (yield* Ref.get(first)).slice(0, 30)
        const all = [...committed, ...(yield* Ref.get(second))].sort()
        const expected = [
          ...Array.from({ length: 30 }, (_, i) => `a${i}`),
          ...Array.from({ length: 20 }, (_, i) => `b${i}`)
        ]
        assert.deepStrictEqual(all, expected.sort())
        // the second run opened each partition after what epochs 1-3 had read of it
        const reopened = opened.slice(2)
        const positions = reopened.map((o) => Number(o.split("@")[1]))
        assert.strictEqual(positions.reduce((a, b) => a + b, 0), 30)
      }))

    it.scoped("R11: an input that cannot resume is refused on resume, unless replay is accepted", () =>
      Effect.gen(function*() {
        const store = yield* fixture.fresh()
        const input = Input.fromStream(Stream.make("x", "y", "z"))
        const first = yield* Ref.make<Array<string>>([])
        yield* Dataflow.run(collectFlow("stream", input, first)).pipe(Effect.provide(store.layer()))
        const exit = yield* Dataflow.run(collectFlow("stream", input, first)).pipe(
          Effect.provide(store.layer()),
          Effect.exit
        )
        assert.isTrue(Exit.isFailure(exit))
        const error = Exit.isFailure(exit) ? Option.getOrThrow(Cause.failureOption(exit.cause)) : undefined
        assert.instanceOf(error, DataflowError.InputNotResumable)
        assert.strictEqual(
          (error as DataflowError.InputNotResumable).message,
          "input in cannot resume at epoch 2: it has no stored positions; pass replayUnresumableInputs: true to replay it from its start"
        )
        const replayed = yield* Ref.make<Array<string>>([])
        yield* Dataflow.run(collectFlow("stream", input, replayed), { replayUnresumableInputs: true }).pipe(
          Effect.provide(store.layer())
        )
        assert.deepStrictEqual(yield* Ref.get(replayed), ["x", "y", "z"])
      }))

    it.scoped("R11: a file input resumes by byte offset and then reads lines appended since", () =>
      Effect.gen(function*() {
        const store = yield* fixture.fresh()
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-file-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
        const file = path.join(dir, "in.txt")
        fs.writeFileSync(file, "héllo\r\nwörld\nthree\nfour\n")
        const first = yield* Ref.make<Array<string>>([])
        const exit = yield* Dataflow.run(collectFlow("file", Input.fromFile(file, { chunkBytes: 7 }), first, 3), {
          epoch: Epoch.everyItems(2)
        }).pipe(Effect.provide(store.layer()), Effect.provide(NodeContext.layer), Effect.exit)
        assert.isTrue(Exit.isFailure(exit))
        fs.appendFileSync(file, "five\nsix")
        const second = yield* Ref.make<Array<string>>([])
        yield* Dataflow.run(collectFlow("file", Input.fromFile(file, { chunkBytes: 7 }), second), {
          epoch: Epoch.everyItems(2)
        }).pipe(Effect.provide(store.layer()), Effect.provide(NodeContext.layer))
        assert.deepStrictEqual((yield* Ref.get(first)).slice(0, 2), ["héllo", "wörld"])
        assert.deepStrictEqual(yield* Ref.get(second), ["three", "four", "five", "six"])
      }))

    it.scoped("R11: a file input's position carries its file: a replaced file refuses to resume unless told to restart", () =>
      Effect.gen(function*() {
        const store = yield* fixture.fresh()
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-file-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
        const file = path.join(dir, "in.txt")
        fs.writeFileSync(file, "one\ntwo\n")
        const run = (input: Input.Input<string>, ref: Ref.Ref<Array<string>>) =>
          Dataflow.run(collectFlow("replaced", input, ref), { epoch: Epoch.everyItems(1) }).pipe(
            Effect.provide(store.layer()),
            Effect.provide(NodeContext.layer),
            Effect.exit
          )
        const first = yield* Ref.make<Array<string>>([])
        assert.isTrue(Exit.isSuccess(yield* run(Input.fromFile(file), first)))
        fs.writeFileSync(`${file}.next`, "uno\ndos\n")
        fs.renameSync(`${file}.next`, file)
        const refused = yield* run(Input.fromFile(file), first)
        const error = Exit.isFailure(refused) ? Option.getOrThrow(Cause.failureOption(refused.cause)) : undefined
        assert.instanceOf(error, DataflowError.StepFailed)
        assert.instanceOf((error as DataflowError.StepFailed).cause, DataflowError.InputFileChanged)
        const restarted = yield* Ref.make<Array<string>>([])
        assert.isTrue(Exit.isSuccess(yield* run(Input.fromFile(file, { onReplaced: "restart" }), restarted)))
        assert.deepStrictEqual(yield* Ref.get(restarted), ["uno", "dos"])
      }))
  })
