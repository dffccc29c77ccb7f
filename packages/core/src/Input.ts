/**
 * Inputs: where a dataflow's items come from. An input is split into named
 * partitions; each partition reports a resume position with every item, and the
 * position reached at each epoch end is committed with the epoch (R11).
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as batch from "./internal/batch.js"
import * as csv from "./internal/csv.js"
import * as fileInput from "./internal/fileInput.js"
import { fileSystemFor } from "./internal/fileSystem.js"

/**
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: unique symbol = Symbol.for("@sluice/core/Input")

/**
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * A source of items of type `A`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Input<out A> {
  readonly [TypeId]: TypeId
  /** Whether the input can restart a partition from a stored position. */
  readonly resumable: boolean
  /** The partitions of the input. */
  readonly partitions: Effect.Effect<ReadonlyArray<string>, unknown>
  /**
   * Opens a partition after `resumeFrom` (none: from its start) in the run's
   * scope: what it acquires (a file, a connection) is released when the run
   * ends, and a failure to open fails the run before its first epoch.
   */
  readonly open: (
    partition: string,
    resumeFrom: Option.Option<unknown>
  ) => Effect.Effect<Stream.Stream<Batch<A>, unknown>, unknown, Scope.Scope>
}

/**
 * A run of items read from one partition, with the position after each item:
 * what an input's stream yields. Positions are computed on demand, since most
 * batches are split at an epoch boundary at most once.
 *
 * @since 0.1.0
 * @category models
 */
export type Batch<A> = batch.Batch<A>

const make = <A>(input: Omit<Input<A>, TypeId>): Input<A> => ({ [TypeId]: TypeId, ...input })

/**
 * One partition over an in-memory collection; the position is the index of the
 * next item.
 *
 * @example
 * ```ts
 * import { Input } from "@sluice/core"
 * const lines = Input.fromIterable(["a b", "b c"])
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const fromIterable = <A>(items: Iterable<A>): Input<A> => {
  const all = Array.isArray(items) ? (items as ReadonlyArray<A>) : Array.from(items)
  return make({
    resumable: true,
    partitions: Effect.succeed(["0"]),
    open: (_partition, resumeFrom) =>
      Effect.sync(() => {
        let next = Option.getOrElse(resumeFrom, () => 0) as number
        const chunkSize = 4096
        return Stream.repeatEffectOption(
          Effect.suspend(() => {
            if (next >= all.length) return Effect.fail(Option.none())
            const start = next
            const items = all.slice(start, start + chunkSize)
            next = start + items.length
            return Effect.succeed<Batch<A>>({ items, positionAfter: (i) => start + i + 1 })
          })
        )
      })
  })
}

/**
 * A user-defined resumable source. Each partition is an Effect `Stream` of
 * `[item, position]`; on resume `open` receives the position of the last item
 * of the last completed epoch and must continue after it. Positions must be
 * JSON values (numbers, strings, arrays, plain objects).
 *
 * @example
 * ```ts
 * import { Input } from "@sluice/core"
 * import { Option, Stream, Effect } from "effect"
 *
 * const shards = Input.partitioned({
 *   partitions: ["a", "b"],
 *   open: (partition, resumeFrom: Option.Option<number>) => {
 *     const start = Option.getOrElse(resumeFrom, () => 0)
 *     return Stream.range(start + 1, 10).pipe(Stream.map((i) => [`${partition}-${i}`, i] as const))
 *   }
 * })
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const partitioned = <A, P, E = never>(options: {
  readonly partitions: ReadonlyArray<string> | Effect.Effect<ReadonlyArray<string>, E>
  readonly open: (partition: string, resumeFrom: Option.Option<P>) => Stream.Stream<readonly [A, P], E>
}): Input<A> =>
  make({
    resumable: true,
    partitions: Effect.isEffect(options.partitions)
      ? options.partitions
      : Effect.succeed(options.partitions as ReadonlyArray<string>),
    open: (partition, resumeFrom) =>
      Effect.sync(() =>
        options.open(partition, resumeFrom as Option.Option<P>).pipe(
          Stream.mapChunks((chunk): Chunk.Chunk<Batch<A>> => {
            const pairs = Chunk.toReadonlyArray(chunk)
            if (pairs.length === 0) return Chunk.empty()
            const items = new Array<A>(pairs.length)
            for (let i = 0; i < pairs.length; i++) items[i] = pairs[i][0]
            return Chunk.of({ items, positionAfter: (i: number) => pairs[i][1] })
          })
        )
      )
  })

/**
 * A source that cannot resume: on a run that needs recovery it is refused
 * (R11) unless the run passes `replayUnresumableInputs: true`, in which case
 * it replays from its start.
 *
 * @example
 * ```ts
 * import { Input } from "@sluice/core"
 * import { Stream } from "effect"
 * const ticks = Input.fromStream(Stream.make(1, 2, 3))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const fromStream = <A, E>(stream: Stream.Stream<A, E>): Input<A> =>
  make({
    resumable: false,
    partitions: Effect.succeed(["0"]),
    open: () =>
      Effect.succeed(stream.pipe(
        Stream.mapChunks((chunk): Chunk.Chunk<Batch<A>> =>
          Chunk.isEmpty(chunk)
            ? Chunk.empty()
            : Chunk.of({ items: Chunk.toReadonlyArray(chunk), positionAfter: () => null })
        )
      ))
  })

/**
 * How a file input reads its files: `chunkBytes` (bytes read at once, 64 KiB);
 * `onReplaced` (`"fail"`, the default, or `"restart"`: what a resume does when
 * the file is not the one its stored position was taken in); `encoding`
 * (`"utf-8"`, the default, or `"latin1"`); `invalidUtf8` (`"fail"`, the
 * default, naming file and byte, or `"replace"` with U+FFFD, which can merge
 * distinct keys); `unterminatedLastLine` (`"emit"`, the default: a last line
 * without its newline is read at end of input; `"hold"`: it waits for its
 * newline, for files that are still being written).
 *
 * @example
 * ```ts
 * import { Input } from "@sluice/core"
 * const options: Input.FileOptions = { onReplaced: "restart", unterminatedLastLine: "hold" }
 * const log = Input.fromFile("./app.log", options)
 * ```
 * @since 0.1.0
 * @category models
 */
export type FileOptions = fileInput.FileOptions

/**
 * The lines of a text file (`\n` or `\r\n` separated), resumable: after a
 * resume, reading continues after the last line of the last completed epoch,
 * so lines appended since are read too (R13). The file is read through
 * `@effect/platform`'s `FileSystem`: provide `NodeContext.layer` (or
 * `NodeFileSystem.layer`) from `@effect/platform-node`. Reading is linear in
 * the line length, however long a line is.
 *
 * The partition is the file's resolved path, so `p.txt` and `./p.txt` share
 * their position. The stored position carries the file's identity: its byte
 * offset, device and inode, and a hash of the 4 KiB before the offset. A
 * resume into a replaced or truncated file fails with
 * `DataflowError.InputFileChanged` (or starts that file over with
 * `onReplaced: "restart"`); bytes that are not UTF-8 fail with
 * `DataflowError.InputFileNotText` naming the byte. A last line without its
 * newline is read at end of input; if the next run finds bytes appended to
 * that line it fails rather than split it (see `FileOptions` for `"hold"`).
 *
 * @example
 * ```ts
 * import { NodeContext } from "@effect/platform-node"
 * import { Dataflow, Input, Output, RecoveryStore } from "@sluice/core"
 * import { Effect, Layer } from "effect"
 *
 * const flow = Dataflow.make("lines").pipe(
 *   Dataflow.input("lines", Input.fromFile("./input.txt", { onReplaced: "fail" })),
 *   Dataflow.output("out", Output.console())
 * )
 * const program = Dataflow.run(flow).pipe(
 *   Effect.provide(Layer.merge(NodeContext.layer, RecoveryStore.layerMemory()))
 * )
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const fromFile = (path: string, options?: FileOptions): Input<string> => {
  const user = `Input.fromFile("${path}")`
  return make({
    resumable: true,
    partitions: resolvedPartition(user, path),
    open: (partition, resumeFrom) => fileInput.openFileLines(user, partition, resumeFrom, options)
  })
}

/**
 * The lines of every file of a directory whose name matches `glob` (`*` and
 * `?`, default `*`), one partition per file in sorted order, each read as by
 * `fromFile` with the same options and checks. The files are listed when the
 * run starts; a file that appears later is read by a later run.
 *
 * @example
 * ```ts
 * import { Input } from "@sluice/core"
 * const logs = Input.fromDirectory("./logs", { glob: "*.log", unterminatedLastLine: "hold" })
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const fromDirectory = (directory: string, options?: FileOptions & { readonly glob?: string }): Input<string> => {
  const user = `Input.fromDirectory("${directory}")`
  const pattern = globPattern(options?.glob ?? "*")
  return make({
    resumable: true,
    partitions: Effect.gen(function*() {
      const fs = yield* fileSystemFor(user)
      const root = yield* fs.realPath(directory)
      const names = (yield* fs.readDirectory(root)).filter((name) => pattern.test(name)).sort()
      const files: Array<string> = []
      for (const name of names) {
        const info = yield* fs.stat(`${root}/${name}`)
        if (info.type === "File") files.push(`${root}/${name}`)
      }
      return files
    }),
    open: (partition, resumeFrom) => fileInput.openFileLines(user, partition, resumeFrom, options)
  })
}

/**
 * How a CSV input reads its file: the options of `FileOptions`, and `header`
 * (default true: the first record names the fields and each record is an
 * object) and `schema` (decodes each record's object into your type).
 *
 * @example
 * ```ts
 * import { Input } from "@sluice/core"
 * import { Schema } from "effect"
 * const Sale = Schema.Struct({ item: Schema.String, amount: Schema.NumberFromString })
 * const options: Input.CsvOptions<typeof Sale.Type, typeof Sale.Encoded> = { schema: Sale }
 * ```
 * @since 0.1.0
 * @category models
 */
export type CsvOptions<A, I extends Readonly<Record<string, string>>> = csv.CsvOptions<A, I>

/**
 * The records of a CSV file, on the rules of `fromFile` (identity checks,
 * encodings, appended rows read by the next run). Fields are separated by
 * commas and may be quoted with `"` (a quote inside doubled); a quoted field
 * may hold commas and newlines (a `\r\n` in it reads as `\n`). With a header
 * (the default) each record is an object keyed by the header's names, decoded
 * by `schema` if given; with `header: false` each record is an array of
 * strings. Blank lines are skipped. A record of the wrong field count, or that
 * the schema refuses, fails with `DataflowError.InputCsvInvalid`.
 *
 * @example
 * ```ts
 * import { Input } from "@sluice/core"
 * import { Schema } from "effect"
 *
 * const rows = Input.fromCsv("./sales.csv")
 * const sales = Input.fromCsv("./sales.csv", {
 *   schema: Schema.Struct({ item: Schema.String, amount: Schema.NumberFromString })
 * })
 * const raw = Input.fromCsv("./sales.csv", { header: false })
 * ```
 * @since 0.1.0
 * @category constructors
 */
export function fromCsv(
  path: string,
  options: FileOptions & { readonly header: false }
): Input<ReadonlyArray<string>>
export function fromCsv<A, I extends Readonly<Record<string, string>>>(
  path: string,
  options: FileOptions & { readonly header?: true; readonly schema: Schema.Schema<A, I> }
): Input<A>
export function fromCsv(
  path: string,
  options?: FileOptions & { readonly header?: true }
): Input<Readonly<Record<string, string>>>
export function fromCsv(
  path: string,
  options: CsvOptions<unknown, Readonly<Record<string, string>>> = {}
): Input<unknown> {
  const user = `Input.fromCsv("${path}")`
  return make({
    resumable: true,
    partitions: resolvedPartition(user, path),
    open: (partition, resumeFrom) => csv.openCsvRecords(user, partition, resumeFrom, options)
  })
}

/** A file's one partition: its resolved path, so that every spelling of the file shares its position. */
const resolvedPartition = (user: string, path: string) =>
  Effect.flatMap(fileSystemFor(user), (fs) => fs.realPath(path)).pipe(Effect.map((real) => [real]))

/** A file-name glob (`*`, `?`) as an anchored regular expression. */
const globPattern = (glob: string): RegExp =>
  new RegExp(
    `^${
      glob.split("").map((c) => c === "*" ? "[^/]*" : c === "?" ? "[^/]" : c.replace(/[.+^${}()|[\]\\]/g, "\\$&"))
        .join("")
    }$`
  )
