import { assert, describe, it } from "@effect/vitest"
import { Dataflow, DataflowError, Epoch, Input, Output, RecoveryStore } from "@sluice/core"
import { Cause, Effect, Exit, Option, Schema, Stream } from "effect"

type Pair = readonly [string, number]

/** What a backend was asked on resume: steps streamed whole, and the keys read per `readKeys` call. */
interface Reads {
  readonly streamed: Array<string>
  readonly keyReads: Array<ReadonlyArray<string>>
}

/** The memory backend over `handle`, recording reads; without `readKeys` when `withReadKeys` is false. */
const recordingMemory = (handle: RecoveryStore.MemoryHandle, reads: Reads, withReadKeys: boolean) => {
  const inner = RecoveryStore.memoryBackend(handle)
  const backend: RecoveryStore.Backend = {
    name: "recording memory",
    open: (options) =>
      Effect.map(inner.open(options), ({ readKeys, ...worker }): RecoveryStore.BackendWorker => ({
        ...worker,
        readSnapshots: (stepId, atOrBefore) =>
          Stream.suspend(() => {
            reads.streamed.push(stepId)
            return worker.readSnapshots(stepId, atOrBefore)
          }),
        ...(withReadKeys && readKeys !== undefined
          ? {
            readKeys: (stepId, keys, atOrBefore) =>
              Effect.suspend(() => {
                reads.keyReads.push(keys)
                return readKeys(stepId, keys, atOrBefore)
              })
          }
          : {})
      }))
  }
  return RecoveryStore.layer(backend)
}

class Crash extends Error {}

/**
 * Per key: a running sum (`statefulMap`), a sum emitted at end of input
 * (`fold`), and the last value emitted by `onEof`; each item is a chunk of
 * its own line of `key:value` pairs. The run fails after `crashAfter` lines.
 */
const sums = (lines: ReadonlyArray<string>, out: Array<readonly [string, Pair]>, crashAfter?: number) => {
  let seen = 0
  const keyed = Dataflow.make("sums").pipe(
    Dataflow.input("lines", Input.fromIterable(lines)),
    Dataflow.map("crash", (line: string) => {
      if (crashAfter !== undefined && ++seen > crashAfter) throw new Crash()
      return line
    }),
    Dataflow.flatMap("split", (line: string) => line.split(" ")),
    Dataflow.map("pair", (word: string) => [word.split(":")[0], Number(word.split(":")[1])] as const)
  )
  const record = (step: string) =>
    Output.sink((items: Iterable<Pair>) =>
      Effect.sync(() => {
        for (const item of items) out.push([step, item])
      })
    )
  keyed.pipe(
    Dataflow.statefulMap("running", {
      state: Schema.Number,
      init: () => 0,
      step: (sum, n: number) => [sum + n, sum + n]
    }),
    Dataflow.output("running-out", record("running"))
  )
  keyed.pipe(
    Dataflow.fold("total", { state: Schema.Number, init: () => 0, fold: (sum, n: number) => sum + n, emit: "end" }),
    Dataflow.output("total-out", record("total"))
  )
  keyed.pipe(
    Dataflow.stateful("last", {
      state: Schema.Number,
      onItem: (_, n: number) => ({ state: n, emit: [] }),
      onEof: (last) => ({ state: last, emit: [last] })
    }),
    Dataflow.output("last-out", record("last"))
  )
  return keyed.dataflow
}

/** Eight keys in the first lines; after the crash, lines that touch only `a` and `b`. */
const lines = [
  "a:1 b:2 c:3 d:4",
  "e:5 f:6 g:7 h:8",
  "a:1 c:1 e:1 g:1",
  "a:2 b:2",
  "b:3 a:3",
  "a:4"
]

/** Runs `sums` once crashing after three lines and once to the end; returns the second run's outputs. */
const crashAndResume = (layer: () => ReturnType<typeof recordingMemory>, restore: "eager" | "lazy") =>
  Effect.gen(function*() {
    const first: Array<readonly [string, Pair]> = []
    const crashed = yield* Dataflow.run(sums(lines, first, 3), { epoch: Epoch.everyItems(1) }).pipe(
      Effect.provide(layer()),
      Effect.exit
    )
    assert.isTrue(Exit.isFailure(crashed), "the first run crashes")
    const resumed: Array<readonly [string, Pair]> = []
    const summary = yield* Dataflow.run(sums(lines, resumed), { restore, epoch: Epoch.everyItems(1) }).pipe(
      Effect.provide(layer())
    )
    assert.strictEqual(summary.resumeEpoch, 4)
    return resumed
  })

describe("lazy restore", () => {
  it.effect("a lazy resume emits what an eager one does, at end of input for keys it never saw again", () =>
    Effect.gen(function*() {
      const eagerReads: Reads = { streamed: [], keyReads: [] }
      const eagerHandle = RecoveryStore.makeMemoryHandle()
      const eager = yield* crashAndResume(() => recordingMemory(eagerHandle, eagerReads, true), "eager")
      const lazyReads: Reads = { streamed: [], keyReads: [] }
      const lazyHandle = RecoveryStore.makeMemoryHandle()
      const lazy = yield* crashAndResume(() => recordingMemory(lazyHandle, lazyReads, true), "lazy")
      assert.deepStrictEqual(lazy, eager)
      // the end of input reaches every pending key of the fold and every key of onEof, touched since the resume or not
      assert.deepStrictEqual(
        lazy.filter(([step]) => step === "total").map(([, pair]) => pair),
        [["a", 11], ["b", 7], ["c", 4], ["d", 4], ["e", 6], ["f", 6], ["g", 8], ["h", 8]]
      )
      assert.deepStrictEqual(
        lazy.filter(([step]) => step === "last").map(([, pair]) => pair[0]),
        ["a", "b", "c", "d", "e", "f", "g", "h"]
      )
      assert.deepStrictEqual(eagerHandle.stats(), lazyHandle.stats())
      // each step reads a and b on the resumed run's first line, then nothing more
      assert.deepStrictEqual(lazyReads.keyReads, [["a", "b"], ["a", "b"], ["a", "b"]])
    }))

  it.effect("a lazy run streams whole only the input positions and the steps that visit every key at end", () =>
    Effect.gen(function*() {
      const reads: Reads = { streamed: [], keyReads: [] }
      const handle = RecoveryStore.makeMemoryHandle()
      const layer = () => recordingMemory(handle, reads, true)
      yield* Dataflow.run(sums(lines, [], 3), { epoch: Epoch.everyItems(1) }).pipe(
        Effect.provide(layer()),
        Effect.exit
      )
      reads.streamed.length = 0
      yield* Dataflow.run(sums(lines, []), { restore: "lazy", epoch: Epoch.everyItems(1) }).pipe(
        Effect.provide(layer())
      )
      // "running" is never streamed: it emits nothing at end
      assert.deepStrictEqual(reads.streamed.filter((step) => step !== "running-out" && step !== "total-out").sort(), [
        "last",
        "lines",
        "total"
      ])
    }))

  it.effect("a store without readKeys restores eagerly when a run asks for lazy", () =>
    Effect.gen(function*() {
      const reads: Reads = { streamed: [], keyReads: [] }
      const handle = RecoveryStore.makeMemoryHandle()
      const lazy = yield* crashAndResume(() => recordingMemory(handle, reads, false), "lazy")
      const eagerHandle = RecoveryStore.makeMemoryHandle()
      const eager = yield* crashAndResume(
        () => recordingMemory(eagerHandle, { streamed: [], keyReads: [] }, true),
        "eager"
      )
      assert.deepStrictEqual(lazy, eager)
      assert.deepStrictEqual(reads.keyReads, [])
      assert.includeMembers(reads.streamed, ["running", "total", "last"])
    }))

  it.effect("state that no longer decodes fails on the key's first item, naming step and key", () =>
    Effect.gen(function*() {
      const handle = RecoveryStore.makeMemoryHandle()
      yield* Dataflow.run(sums(lines, [], 3), { epoch: Epoch.everyItems(1) }).pipe(
        Effect.provide(RecoveryStore.layerMemory(handle)),
        Effect.exit
      )
      const changed = Dataflow.make("sums").pipe(
        Dataflow.input("lines", Input.fromIterable(lines)),
        Dataflow.flatMap("split", (line: string) => line.split(" ")),
        Dataflow.map("pair", (word: string) => [word.split(":")[0], word.split(":")[1]] as const),
        Dataflow.statefulMap("running", {
          state: Schema.String,
          init: () => "",
          step: (joined, s: string) => [joined + s, joined + s]
        })
      )
      changed.pipe(Dataflow.output("running-out", Output.sink(() => Effect.void)))
      const exit = yield* Dataflow.run(changed.dataflow, { restore: "lazy", epoch: Epoch.everyItems(1) }).pipe(
        Effect.provide(RecoveryStore.layerMemory(handle)),
        Effect.exit
      )
      const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      assert.isTrue(Option.isSome(failure) && failure.value instanceof DataflowError.StateDecodeError)
      const error = (failure as Option.Some<DataflowError.StateDecodeError>).value
      assert.strictEqual(error.stepId, "running")
      assert.strictEqual(error.key, "a")
    }))
})
