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
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import type { Batch } from "./internal/batch.js"

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
  /** Opens a partition after `resumeFrom` (none: from its start). */
  readonly open: (partition: string, resumeFrom: Option.Option<unknown>) => Stream.Stream<Batch<A>, unknown>
}

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
      Stream.suspend(() => {
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
      options.open(partition, resumeFrom as Option.Option<P>).pipe(
        Stream.mapChunks((chunk): Chunk.Chunk<Batch<A>> => {
          const pairs = Chunk.toReadonlyArray(chunk)
          if (pairs.length === 0) return Chunk.empty()
          const items = new Array<A>(pairs.length)
          for (let i = 0; i < pairs.length; i++) items[i] = pairs[i][0]
          return Chunk.of({ items, positionAfter: (i: number) => pairs[i][1] })
        })
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
      stream.pipe(
        Stream.mapChunks((chunk): Chunk.Chunk<Batch<A>> =>
          Chunk.isEmpty(chunk)
            ? Chunk.empty()
            : Chunk.of({ items: Chunk.toReadonlyArray(chunk), positionAfter: () => null })
        )
      )
  })

/**
 * The lines of a text file (UTF-8, `\n` or `\r\n` separated), resumable by
 * byte offset: after a resume, reading continues after the last line of the
 * last completed epoch, so lines appended since are read too (R13).
 *
 * @example
 * ```ts
 * import { Input } from "@sluice/core"
 * const lines = Input.fromFile("./input.txt")
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const fromFile = (path: string, options?: { readonly chunkBytes?: number }): Input<string> =>
  make({
    resumable: true,
    partitions: Effect.succeed([path]),
    open: (_partition, resumeFrom) =>
      Stream.suspend(() => {
        const start = Option.getOrElse(resumeFrom, () => 0) as number
        return Stream.fromAsyncIterable(
          readLines(path, start, options?.chunkBytes ?? 1 << 16),
          (cause) => cause
        )
      })
  })

async function* readLines(path: string, start: number, chunkBytes: number): AsyncGenerator<Batch<string>> {
  const handle = await fs.promises.open(path, "r")
  try {
    let offset = start
    let carry: Buffer = Buffer.alloc(0)
    const buffer = Buffer.allocUnsafe(chunkBytes)
    while (true) {
      const { bytesRead } = await handle.read(buffer, 0, chunkBytes, offset + carry.length)
      if (bytesRead === 0) break
      const data = carry.length > 0
        ? Buffer.concat([carry, buffer.subarray(0, bytesRead)])
        : buffer.subarray(0, bytesRead)
      const items: Array<string> = []
      const ends: Array<number> = []
      let lineStart = 0
      for (let newline = data.indexOf(10, lineStart); newline !== -1; newline = data.indexOf(10, lineStart)) {
        const lineEnd = newline > lineStart && data[newline - 1] === 13 ? newline - 1 : newline
        items.push(data.toString("utf8", lineStart, lineEnd))
        ends.push(offset + newline + 1)
        lineStart = newline + 1
      }
      // Bytes after the last newline belong to a line not yet complete.
      carry = Buffer.from(data.subarray(lineStart))
      if (items.length > 0) {
        offset = ends[ends.length - 1]
        yield { items, positionAfter: (i) => ends[i] }
      }
    }
    if (carry.length > 0) {
      const end = offset + carry.length
      const text = carry[carry.length - 1] === 13 ? carry.toString("utf8", 0, carry.length - 1) : carry.toString("utf8")
      yield { items: [text], positionAfter: () => end }
    }
  } finally {
    await handle.close()
  }
}
