/**
 * Inputs: where a dataflow's items come from. An input is split into named
 * partitions; each partition reports a resume position with every item, and the
 * position reached at each epoch end is committed with the epoch (R11).
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as batch from "./internal/batch.js"
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
 * The lines of a text file (UTF-8, `\n` or `\r\n` separated), resumable by
 * byte offset: after a resume, reading continues after the last line of the
 * last completed epoch, so lines appended since are read too (R13). The file
 * is read through `@effect/platform`'s `FileSystem`: provide
 * `NodeContext.layer` (or `NodeFileSystem.layer`) from `@effect/platform-node`.
 * Reading is linear in the line length, however long a line is.
 *
 * @example
 * ```ts
 * import { NodeContext } from "@effect/platform-node"
 * import { Dataflow, Input, Output, RecoveryStore } from "@sluice/core"
 * import { Effect, Layer } from "effect"
 *
 * const flow = Dataflow.make("lines").pipe(
 *   Dataflow.input("lines", Input.fromFile("./input.txt")),
 *   Dataflow.output("out", Output.console())
 * )
 * const program = Dataflow.run(flow).pipe(
 *   Effect.provide(Layer.merge(NodeContext.layer, RecoveryStore.layerMemory()))
 * )
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const fromFile = (path: string, options?: { readonly chunkBytes?: number }): Input<string> =>
  make({
    resumable: true,
    partitions: Effect.succeed([path]),
    open: (_partition, resumeFrom) =>
      Effect.gen(function*() {
        const fs = yield* fileSystemFor(`Input.fromFile("${path}")`)
        const file = yield* fs.open(path, { flag: "r" })
        const start = Option.getOrElse(resumeFrom, () => 0) as number
        yield* file.seek(start, "start")
        return linesOf(file, start, options?.chunkBytes ?? 1 << 16)
      })
  })

/**
 * Cuts a file into lines chunk by chunk. Bytes after a chunk's last newline
 * are kept as pieces and joined once the newline arrives, so a line spread
 * over many chunks costs its length once, not once per chunk.
 */
const linesOf = (file: FileSystem.File, start: number, chunkBytes: number): Stream.Stream<Batch<string>, unknown> => {
  let offset = start // file offset of the first byte not yet emitted
  let pending: Array<Uint8Array> = []
  let pendingBytes = 0
  let ended = false
  const text = (bytes: Uint8Array, from: number, to: number) => {
    const end = to > from && bytes[to - 1] === 13 ? to - 1 : to
    return Buffer.from(bytes.buffer, bytes.byteOffset + from, end - from).toString("utf8")
  }
  const takePending = (tail: Uint8Array): Uint8Array => {
    if (pending.length === 0) return tail
    const joined = new Uint8Array(pendingBytes + tail.length)
    let at = 0
    for (const piece of pending) {
      joined.set(piece, at)
      at += piece.length
    }
    joined.set(tail, at)
    pending = []
    pendingBytes = 0
    return joined
  }
  const nextBatch: Effect.Effect<Batch<string>, Option.Option<unknown>> = Effect.suspend(() => {
    if (ended) return Effect.fail(Option.none())
    return Effect.flatMap(Effect.mapError(file.readAlloc(chunkBytes), Option.some), (read) => {
      if (Option.isNone(read) || read.value.length === 0) {
        ended = true
        if (pendingBytes === 0) return Effect.fail(Option.none())
        // the file ends without a newline: its last bytes are a line
        const last = takePending(new Uint8Array(0))
        const end = offset + last.length
        offset = end
        return Effect.succeed<Batch<string>>({ items: [text(last, 0, last.length)], positionAfter: () => end })
      }
      const chunk = read.value
      const firstNewline = chunk.indexOf(10)
      if (firstNewline === -1) {
        pending.push(chunk)
        pendingBytes += chunk.length
        return nextBatch
      }
      const items: Array<string> = []
      const ends: Array<number> = []
      const head = takePending(chunk.subarray(0, firstNewline + 1))
      items.push(text(head, 0, head.length - 1))
      offset += head.length
      ends.push(offset)
      let lineStart = firstNewline + 1
      for (let newline = chunk.indexOf(10, lineStart); newline !== -1; newline = chunk.indexOf(10, lineStart)) {
        items.push(text(chunk, lineStart, newline))
        offset += newline + 1 - lineStart
        ends.push(offset)
        lineStart = newline + 1
      }
      if (lineStart < chunk.length) {
        pending.push(chunk.subarray(lineStart))
        pendingBytes += chunk.length - lineStart
      }
      return Effect.succeed<Batch<string>>({ items, positionAfter: (i) => ends[i] })
    })
  })
  return Stream.repeatEffectOption(nextBatch)
}
