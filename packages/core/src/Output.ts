/**
 * Outputs: where a dataflow's results go. Outputs are at-least-once (R5): items
 * of an epoch that did not complete are written again after a resume, except
 * where an output commits with the epoch (`toFile`, `transactional`).
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { RecoveryError } from "./DataflowError.js"
import { fileSystemFor } from "./internal/fileSystem.js"
import type { EpochTransaction, Snapshot } from "./RecoveryStore.js"

/**
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: unique symbol = Symbol.for("@sluice/core/Output")

/**
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * Where an output step is, handed to sinks with every chunk.
 *
 * @since 0.1.0
 * @category models
 */
export interface OutputContext {
  readonly stepId: string
  readonly epoch: number
  readonly workerIndex: number
}

/**
 * What an output sees when its epoch is about to commit: the epoch's
 * transaction, for outputs whose records commit with it.
 *
 * @since 0.1.0
 * @category models
 */
export interface CommitContext extends OutputContext {
  readonly transaction: EpochTransaction
}

/**
 * An open output: receives chunks while an epoch runs, and is told when the
 * epoch is about to commit (to flush what it buffers).
 *
 * @since 0.1.0
 * @category models
 */
export interface OutputWriter<in A> {
  readonly write: (items: Chunk.Chunk<A>, context: OutputContext) => Effect.Effect<void, unknown>
  readonly beforeCommit?: (context: CommitContext) => Effect.Effect<void, unknown>
}

/**
 * What an output is opened with: its step and worker, and the snapshots it
 * wrote through the epoch transaction (`transaction.write(stepId, key, value)`)
 * as of the last completed epoch, so that it can undo what an epoch that did
 * not complete left behind.
 *
 * @since 0.1.0
 * @category models
 */
export interface OpenContext {
  readonly stepId: string
  readonly workerIndex: number
  /** The epoch the run starts at: 1 on a fresh store. */
  readonly resumeEpoch: number
  readonly committed: Stream.Stream<Snapshot, RecoveryError>
}

/**
 * A destination for items of type `A`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Output<in A> {
  readonly [TypeId]: TypeId
  readonly open: (context: OpenContext) => Effect.Effect<OutputWriter<A>, unknown, Scope.Scope>
}

/**
 * Builds an output from an `open` function.
 *
 * @example
 * ```ts
 * import { Output } from "@sluice/core"
 * import { Effect } from "effect"
 * const counter = Output.make<number>(() =>
 *   Effect.sync(() => {
 *     let total = 0
 *     return { write: (items) => Effect.sync(() => { total += items.length }) }
 *   })
 * )
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = <A>(open: Output<A>["open"]): Output<A> => ({ [TypeId]: TypeId, open })

/**
 * Appends every item to an array held in a `Ref` (for tests).
 *
 * @example
 * ```ts
 * import { Output } from "@sluice/core"
 * import { Ref, Effect } from "effect"
 * const program = Effect.gen(function*() {
 *   const ref = yield* Ref.make<Array<string>>([])
 *   const output = Output.collect(ref)
 * })
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const collect = <A>(ref: Ref.Ref<Array<A>>): Output<A> =>
  make(() =>
    Effect.succeed({
      write: (items) =>
        Ref.update(ref, (all) => {
          for (const item of items) all.push(item)
          return all
        })
    })
  )

/**
 * Runs `f` with every chunk and its context (step, epoch, worker).
 *
 * @example
 * ```ts
 * import { Output } from "@sluice/core"
 * import { Effect } from "effect"
 * const log = Output.sink((items: any, { epoch }) => Effect.log(`epoch ${epoch}: ${items.length} items`))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const sink = <A, E>(
  f: (items: Chunk.Chunk<A>, context: OutputContext) => Effect.Effect<void, E>
): Output<A> => make(() => Effect.succeed({ write: f }))

/**
 * Prints each item on its own line, one write per chunk.
 *
 * @example
 * ```ts
 * import { Output } from "@sluice/core"
 * const out = Output.console((pair: readonly [string, number]) => `${pair[0]}: ${pair[1]}`)
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const console = <A>(format: (item: A) => string = formatItem): Output<A> =>
  make(() =>
    Effect.succeed({
      write: (items) => Chunk.isEmpty(items) ? Effect.void : Console.log(Chunk.join(Chunk.map(items, format), "\n"))
    })
  )

/**
 * Appends each item as a line to a file, exactly once: an epoch's lines are
 * written and synced to disk before the epoch commits, and the file's length
 * after them commits with the epoch. A run that resumes truncates the file back
 * to the length its last completed epoch committed, so lines of an epoch that
 * did not complete are written once, by the epoch that does. The file belongs
 * to the dataflow: a fresh store starts it empty. (A resumed run with no
 * stored length, after renaming the step or rescaling the store, keeps the
 * file and appends.) With several workers each
 * worker writes its own file, `path` for worker 0 and `path.worker-N` for
 * worker N. Written through `@effect/platform`'s `FileSystem`: provide
 * `NodeContext.layer` from `@effect/platform-node`.
 *
 * @example
 * ```ts
 * import { Output } from "@sluice/core"
 * const out = Output.toFile("./counts.txt", (pair: readonly [string, number]) => pair.join(","))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const toFile = <A>(path: string, format: (item: A) => string = formatItem): Output<A> =>
  make(({ committed, resumeEpoch, stepId, workerIndex }) =>
    Effect.gen(function*() {
      const target = workerIndex === 0 ? path : `${path}.worker-${workerIndex}`
      const fs = yield* fileSystemFor(`Output.toFile("${target}")`)
      const key = `length/${workerIndex}`
      const stored = yield* Stream.runFold(
        committed,
        Option.none<number>(),
        (length, snapshot) => snapshot.key === key ? Option.some(Number(snapshot.value)) : length
      )
      const file = yield* fs.open(target, { flag: "a+" })
      // what is past the committed length was written by an epoch that did not complete: its next run writes it again.
      // A resumed run without a stored length (a store rescaled to other workers) cannot tell, and keeps the file.
      const committedLength = Option.isSome(stored)
        ? stored.value
        : resumeEpoch === 1
        ? 0
        : Number((yield* file.stat).size)
      yield* file.truncate(committedLength)
      const encoder = new TextEncoder()
      let length = committedLength
      let pending: Array<string> = []
      return {
        write: (items) =>
          Effect.sync(() => {
            for (const item of items) pending.push(format(item))
          }),
        beforeCommit: ({ transaction }) =>
          Effect.gen(function*() {
            if (pending.length === 0) return
            const bytes = encoder.encode(pending.join("\n") + "\n")
            pending = []
            yield* file.writeAll(bytes)
            // synced before the commit: a committed length never points past what the disk holds
            yield* file.sync
            length += bytes.length
            transaction.write(stepId, key, String(length))
          })
      } satisfies OutputWriter<A>
    })
  )

/**
 * Exactly-once output: the epoch's records commit inside the store's epoch
 * transaction, so a record is visible once, after its epoch completes, however
 * often the run crashes (R5). The store decides where records go: the Kafka
 * store produces them to the topic `destination` in its Kafka transaction, the
 * memory store keeps them on its handle.
 *
 * @example
 * ```ts
 * import { Output } from "@sluice/core"
 * const out = Output.transactional("counts", ([word, n]: readonly [string, number]) => ({
 *   key: new TextEncoder().encode(word),
 *   value: new TextEncoder().encode(String(n))
 * }))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const transactional = <A>(
  destination: string,
  encode: (item: A) => { readonly key: Uint8Array | null; readonly value: Uint8Array }
): Output<A> =>
  make(() =>
    Effect.sync(() => {
      let pending: Array<A> = []
      return {
        write: (items) =>
          Effect.sync(() => {
            for (const item of items) pending.push(item)
          }),
        beforeCommit: ({ transaction }) =>
          Effect.sync(() => {
            for (const item of pending) {
              const { key, value } = encode(item)
              transaction.writeOutput({ destination, key, value })
            }
            pending = []
          })
      }
    })
  )

const formatItem = (item: unknown): string => typeof item === "string" ? item : JSON.stringify(item)
