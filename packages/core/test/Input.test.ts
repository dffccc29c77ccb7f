import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Dataflow, DataflowError, Epoch, Input, Output, RecoveryStore } from "@sluice/core"
import { Cause, Effect, Exit, Option, Ref, Schema } from "effect"
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

/** Runs `input` to its end on the store `handle` and returns what it read, or the failure. */
const readAll = <A>(input: Input.Input<A>, handle: RecoveryStore.MemoryHandle) =>
  Effect.gen(function*() {
    const seen = yield* Ref.make<Array<A>>([])
    const flow = Dataflow.make("files").pipe(
      Dataflow.input("lines", input),
      Dataflow.output("out", Output.collect(seen))
    )
    const exit = yield* Dataflow.run(flow, { epoch: Epoch.everyItems(1) }).pipe(
      Effect.provide(RecoveryStore.layerMemory(handle)),
      Effect.provide(NodeContext.layer),
      Effect.exit
    )
    return { exit, lines: yield* Ref.get(seen) }
  })

/** The typed error a file input failed with, under the `StepFailed` of its step. */
const fileFailure = (exit: Exit.Exit<unknown, unknown>) => {
  const error = Exit.isFailure(exit) ? Option.getOrThrow(Cause.failureOption(exit.cause)) : undefined
  assert.instanceOf(error, DataflowError.StepFailed)
  assert.strictEqual((error as DataflowError.StepFailed).stepId, "lines")
  return (error as DataflowError.StepFailed).cause
}

describe("Input.fromFile knows its file", () => {
  it.scoped("a file replaced by another (a rename over it) fails naming it, or starts over if asked", () =>
    Effect.gen(function*() {
      const file = yield* tempFile("one\ntwo\n")
      const handle = RecoveryStore.makeMemoryHandle()
      assert.deepStrictEqual((yield* readAll(Input.fromFile(file), handle)).lines, ["one", "two"])
      fs.writeFileSync(`${file}.new`, "uno\ndos\ntres\n")
      fs.renameSync(`${file}.new`, file)
      const cause = fileFailure((yield* readAll(Input.fromFile(file), handle)).exit)
      assert.instanceOf(cause, DataflowError.InputFileChanged)
      assert.strictEqual((cause as DataflowError.InputFileChanged).change, "replaced")
      assert.include((cause as DataflowError.InputFileChanged).message, file)
      assert.include((cause as DataflowError.InputFileChanged).message, `onReplaced: "restart"`)
      const restarted = yield* readAll(Input.fromFile(file, { onReplaced: "restart" }), handle)
      assert.deepStrictEqual(restarted.lines, ["uno", "dos", "tres"])
    }))

  it.scoped("a file replaced by one with the same bytes before the position fails too: identity is the inode", () =>
    Effect.gen(function*() {
      const file = yield* tempFile("one\ntwo\n")
      const handle = RecoveryStore.makeMemoryHandle()
      yield* readAll(Input.fromFile(file), handle)
      // a copy that only grew, renamed over the original: the bytes before the position hash the same
      fs.writeFileSync(`${file}.new`, "one\ntwo\nthree\n")
      fs.renameSync(`${file}.new`, file)
      const cause = fileFailure((yield* readAll(Input.fromFile(file), handle)).exit)
      assert.instanceOf(cause, DataflowError.InputFileChanged)
      assert.strictEqual((cause as DataflowError.InputFileChanged).change, "replaced")
    }))

  it.scoped("a file rewritten in place with other bytes before the position fails as replaced", () =>
    Effect.gen(function*() {
      const file = yield* tempFile("alpha\nbeta\n")
      const handle = RecoveryStore.makeMemoryHandle()
      yield* readAll(Input.fromFile(file), handle)
      fs.writeFileSync(file, "gamma\ndelta\nmore\n") // same inode, longer, other bytes
      const cause = fileFailure((yield* readAll(Input.fromFile(file), handle)).exit)
      assert.instanceOf(cause, DataflowError.InputFileChanged)
      assert.strictEqual((cause as DataflowError.InputFileChanged).change, "replaced")
    }))

  it.scoped("a truncated file fails as truncated instead of never being read again", () =>
    Effect.gen(function*() {
      const file = yield* tempFile("alpha\nbeta\n")
      const handle = RecoveryStore.makeMemoryHandle()
      yield* readAll(Input.fromFile(file), handle)
      fs.truncateSync(file, 0)
      fs.appendFileSync(file, "x\n")
      const cause = fileFailure((yield* readAll(Input.fromFile(file), handle)).exit)
      assert.instanceOf(cause, DataflowError.InputFileChanged)
      assert.strictEqual((cause as DataflowError.InputFileChanged).change, "truncated")
      assert.strictEqual((cause as DataflowError.InputFileChanged).offset, 11)
    }))

  it.scoped("the same file under another spelling shares its position: appended lines are read once", () =>
    Effect.gen(function*() {
      const file = yield* tempFile("a\nb\n")
      const handle = RecoveryStore.makeMemoryHandle()
      yield* readAll(Input.fromFile(file), handle)
      fs.appendFileSync(file, "c\n")
      // built by hand: path.join would normalise the spelling away
      const again = `${path.dirname(file)}/./../${path.basename(path.dirname(file))}/in.txt`
      assert.deepStrictEqual((yield* readAll(Input.fromFile(again), handle)).lines, ["c"])
    }))

  it.scoped("an unterminated last line that was read, then extended, fails rather than split in two", () =>
    Effect.gen(function*() {
      const file = yield* tempFile("foo bar")
      const handle = RecoveryStore.makeMemoryHandle()
      assert.deepStrictEqual((yield* readAll(Input.fromFile(file), handle)).lines, ["foo bar"])
      fs.appendFileSync(file, "baz\n")
      const cause = fileFailure((yield* readAll(Input.fromFile(file), handle)).exit)
      assert.instanceOf(cause, DataflowError.InputFileChanged)
      assert.strictEqual((cause as DataflowError.InputFileChanged).change, "line extended")
      assert.strictEqual((cause as DataflowError.InputFileChanged).offset, 7)
    }))

  it.scoped("an unterminated last line that later gets its newline is not read again", () =>
    Effect.gen(function*() {
      const file = yield* tempFile("foo bar")
      const handle = RecoveryStore.makeMemoryHandle()
      yield* readAll(Input.fromFile(file), handle)
      fs.appendFileSync(file, "\r\nbaz\n")
      assert.deepStrictEqual((yield* readAll(Input.fromFile(file), handle)).lines, ["baz"])
    }))

  it.scoped(`with unterminatedLastLine: "hold" a line waits for its newline, and is read whole`, () =>
    Effect.gen(function*() {
      const file = yield* tempFile("one\nfoo bar")
      const handle = RecoveryStore.makeMemoryHandle()
      const hold = Input.fromFile(file, { unterminatedLastLine: "hold", chunkBytes: 3 })
      assert.deepStrictEqual((yield* readAll(hold, handle)).lines, ["one"])
      fs.appendFileSync(file, "baz\n")
      assert.deepStrictEqual((yield* readAll(hold, handle)).lines, ["foo barbaz"])
    }))

  it.scoped("bytes that are not UTF-8 fail naming file and byte; latin1 keeps distinct keys apart", () =>
    Effect.gen(function*() {
      const file = yield* tempFile(
        new Uint8Array([0x6f, 0x6b, 0x0a, 0x63, 0x61, 0x66, 0xe9, 0x0a, 0x63, 0x61, 0x66, 0xe8])
      )
      const cause = fileFailure((yield* readAll(Input.fromFile(file), RecoveryStore.makeMemoryHandle())).exit)
      assert.instanceOf(cause, DataflowError.InputFileNotText)
      assert.strictEqual((cause as DataflowError.InputFileNotText).offset, 6)
      assert.include((cause as DataflowError.InputFileNotText).message, file)
      const latin1 = yield* readAll(Input.fromFile(file, { encoding: "latin1" }), RecoveryStore.makeMemoryHandle())
      assert.deepStrictEqual(latin1.lines, ["ok", "café", "cafè"])
      const lossy = yield* readAll(Input.fromFile(file, { invalidUtf8: "replace" }), RecoveryStore.makeMemoryHandle())
      assert.deepStrictEqual(lossy.lines, ["ok", "caf\uFFFD", "caf\uFFFD"])
    }))

  it.scoped("a position resumed past 4 KiB hashes the bytes before it across chunks and resumes", () =>
    Effect.gen(function*() {
      const lines = Array.from({ length: 2000 }, (_, i) => `line ${i}`)
      const file = yield* tempFile(lines.join("\n") + "\n")
      const handle = RecoveryStore.makeMemoryHandle()
      const input = Input.fromFile(file, { chunkBytes: 1000 })
      assert.strictEqual((yield* readAll(input, handle)).lines.length, 2000)
      fs.appendFileSync(file, "tail\n")
      assert.deepStrictEqual((yield* readAll(input, handle)).lines, ["tail"])
    }))
})

describe("Input.fromDirectory", () => {
  it.scoped("reads each matching file as a partition, sorted, and resumes each by its own position", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-dir-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      fs.writeFileSync(path.join(dir, "b.log"), "b1\n")
      fs.writeFileSync(path.join(dir, "a.log"), "a1\na2\n")
      fs.writeFileSync(path.join(dir, "notes.txt"), "skip\n")
      const handle = RecoveryStore.makeMemoryHandle()
      const input = Input.fromDirectory(dir, { glob: "*.log" })
      assert.deepStrictEqual((yield* readAll(input, handle)).lines.sort(), ["a1", "a2", "b1"])
      fs.appendFileSync(path.join(dir, "b.log"), "b2\n")
      fs.writeFileSync(path.join(dir, "c.log"), "c1\n")
      assert.deepStrictEqual((yield* readAll(input, handle)).lines.sort(), ["b2", "c1"])
    }))
})

describe("Input.fromCsv", () => {
  it.scoped("reads rows as records named by the header, with quotes, commas and newlines in fields", () =>
    Effect.gen(function*() {
      const file = yield* tempFile(`item,note\r\napple,"red, round"\n\npear,"says ""hi""\nover two lines"\n`)
      const { lines } = yield* readAll(
        Input.fromCsv(file),
        RecoveryStore.makeMemoryHandle()
      )
      assert.deepStrictEqual(lines, [
        { item: "apple", note: "red, round" },
        { item: "pear", note: "says \"hi\"\nover two lines" }
      ])
    }))

  it.scoped("resumes after the last whole record, keeping the header, and never inside a quoted field", () =>
    Effect.gen(function*() {
      const file = yield* tempFile(`a,b\n1,"x\ny"\n2,z\n`)
      const handle = RecoveryStore.makeMemoryHandle()
      const input = Input.fromCsv(file, { header: false, chunkBytes: 2 })
      assert.deepStrictEqual((yield* readAll(input, handle)).lines, [["a", "b"], ["1", "x\ny"], ["2", "z"]])
      fs.appendFileSync(file, `3,"multi\nline"\n`)
      assert.deepStrictEqual((yield* readAll(input, handle)).lines, [["3", "multi\nline"]])
      const named = Input.fromCsv(file)
      const other = RecoveryStore.makeMemoryHandle()
      assert.strictEqual((yield* readAll(named, other)).lines.length, 3)
      fs.appendFileSync(file, "4,w\n")
      assert.deepStrictEqual((yield* readAll(named, other)).lines, [{ a: "4", b: "w" }])
    }))

  it.scoped("decodes records with a schema, and a record it refuses fails naming file and byte", () =>
    Effect.gen(function*() {
      const Sale = Schema.Struct({ item: Schema.String, amount: Schema.NumberFromString })
      const good = yield* tempFile("item,amount\npen,2\n")
      const decoded = yield* readAll(Input.fromCsv(good, { schema: Sale }), RecoveryStore.makeMemoryHandle())
      assert.deepStrictEqual(decoded.lines, [{ item: "pen", amount: 2 }])
      // the epoch of a refused record is rolled back whole, like any failing step's
      const file = yield* tempFile("item,amount\npen,2\nink,lots\n")
      const { exit } = yield* readAll(Input.fromCsv(file, { schema: Sale }), RecoveryStore.makeMemoryHandle())
      const cause = fileFailure(exit)
      assert.instanceOf(cause, DataflowError.InputCsvInvalid)
      assert.strictEqual((cause as DataflowError.InputCsvInvalid).offset, "item,amount\npen,2\nink,lots\n".length)
      assert.include((cause as DataflowError.InputCsvInvalid).message, file)
      const short = yield* tempFile("a,b\n1\n")
      const shortExit = (yield* readAll(Input.fromCsv(short), RecoveryStore.makeMemoryHandle())).exit
      assert.include(String((fileFailure(shortExit) as Error).message), "1 fields where the header has 2")
    }))
})
