/**
 * Outputs: where a dataflow's results go. Outputs are at-least-once (R5): items
 * of an epoch that did not complete are written again after a resume.
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import { fileSystemFor } from "./internal/fileSystem.js"
import type { EpochTransaction } from "./RecoveryStore.js"

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
 * A destination for items of type `A`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Output<in A> {
  readonly [TypeId]: TypeId
  readonly open: (context: {
    readonly stepId: string
    readonly workerIndex: number
  }) => Effect.Effect<OutputWriter<A>, unknown, Scope.Scope>
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
 * Appends each item as a line to a file, flushed to the OS before each epoch
 * commits. Written through `@effect/platform`'s `FileSystem`: provide
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
  make(() =>
    Effect.gen(function*() {
      const fs = yield* fileSystemFor(`Output.toFile("${path}")`)
      const file = yield* fs.open(path, { flag: "a" })
      const encoder = new TextEncoder()
      let pending: Array<string> = []
      return {
        write: (items) =>
          Effect.sync(() => {
            for (const item of items) pending.push(format(item))
          }),
        beforeCommit: () =>
          Effect.suspend(() => {
            if (pending.length === 0) return Effect.void
            const bytes = encoder.encode(pending.join("\n") + "\n")
            pending = []
            return file.writeAll(bytes)
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
