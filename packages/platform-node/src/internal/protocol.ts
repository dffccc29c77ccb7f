/**
 * Messages between the coordinator (the calling thread, which holds the
 * recovery store) and the worker threads, as Schemas: every message is checked
 * when it arrives, and a worker's failure crosses as an encoded `DataflowError`
 * or a defect's text, never as an untyped value.
 *
 * Arrays that can hold an epoch's worth of records (snapshots, outputs) are
 * checked as arrays, not element by element: they come from our own code on
 * the other side, and a per-element check would cost more than the copy.
 *
 * @internal
 */
import { DataflowError, Metrics, type RecoveryStore } from "@sluice/core"
import * as Schema from "effect/Schema"
import type { MessagePort } from "node:worker_threads"

const arrayOf = <A>(what: string) =>
  Schema.declare((u: unknown): u is ReadonlyArray<A> => Array.isArray(u), { identifier: `array of ${what}` })

const ArrayBufferSchema = Schema.instanceOf(ArrayBuffer)

/** An epoch's writes in the compact form of `epochWrites.ts`. @internal */
export const EncodedWrites = Schema.Struct({
  stepIds: Schema.Array(Schema.String),
  runEnds: ArrayBufferSchema,
  keys: Schema.String,
  keyLengths: ArrayBufferSchema,
  valueLengths: ArrayBufferSchema,
  values: ArrayBufferSchema
})

/** @internal */
export type EncodedWrites = typeof EncodedWrites.Type

/** A failure a worker reports: one of the `DataflowError`s, or a defect described in words. @internal */
export const WorkerFailure = Schema.Union(
  DataflowError.DataflowErrorSchema,
  Schema.TaggedStruct("Defect", { message: Schema.String })
)

/** @internal */
export const ToCoordinator = Schema.Union(
  Schema.TaggedStruct("Opened", { workerIndex: Schema.Number }),
  Schema.TaggedStruct("ReadSnapshots", { requestId: Schema.Number, stepId: Schema.String }),
  /** A lazy restore's read of the keys of a chunk that are not in memory yet. */
  Schema.TaggedStruct("ReadKeys", { requestId: Schema.Number, stepId: Schema.String, keys: arrayOf<string>("keys") }),
  Schema.TaggedStruct("EpochReady", {
    epoch: Schema.Number,
    writes: EncodedWrites,
    outputs: arrayOf<RecoveryStore.OutputRecord>("output records"),
    /** Inputs ended and every exchange saw the end from every worker. */
    drained: Schema.Boolean,
    items: Schema.Number,
    /** What the worker counted in the epoch; the coordinator records it with the `worker` label. */
    metrics: Metrics.WorkerEpochMetrics
  }),
  Schema.TaggedStruct("Failed", { error: WorkerFailure }),
  Schema.TaggedStruct("Finished", {})
)

/** @internal */
export type ToCoordinator = typeof ToCoordinator.Type

/** @internal */
export const ToWorker = Schema.Union(
  Schema.TaggedStruct("Start", {
    resumeEpoch: Schema.Number,
    /** `"lazy"` only when the run asked for it and the store can read keys (`snapshotsOf`). */
    restore: Schema.Literal("eager", "lazy")
  }),
  Schema.TaggedStruct("KeysRead", {
    requestId: Schema.Number,
    snapshots: arrayOf<RecoveryStore.Snapshot>("snapshots"),
    /** Why the store could not be read, when it could not. */
    failure: Schema.optional(Schema.String)
  }),
  Schema.TaggedStruct("Snapshots", {
    requestId: Schema.Number,
    snapshots: arrayOf<RecoveryStore.Snapshot>("snapshots")
  }),
  Schema.TaggedStruct("SnapshotsEnd", {
    requestId: Schema.Number,
    /** Why the store could not be read, when it could not. */
    failure: Schema.optional(Schema.String)
  }),
  Schema.TaggedStruct("Committed", { epoch: Schema.Number, finish: Schema.Boolean }),
  Schema.TaggedStruct("Abort", {})
)

/** @internal */
export type ToWorker = typeof ToWorker.Type

/** A chunk of keyed items in the compact form of `keyedChunk.ts`. @internal */
export const KeyedChunk = Schema.Struct({
  keys: Schema.String,
  lengths: ArrayBufferSchema,
  values: Schema.optional(ArrayBufferSchema)
})

/**
 * What travels between two workers: the engine's exchange messages, with
 * keyed items in their wire form.
 *
 * @internal
 */
export const WireExchangeMessage = Schema.Union(
  Schema.TaggedStruct("Items", { exchange: Schema.Number, from: Schema.Number, chunk: KeyedChunk }),
  Schema.TaggedStruct("Barrier", { exchange: Schema.Number, from: Schema.Number, epoch: Schema.Number }),
  Schema.TaggedStruct("End", { exchange: Schema.Number, from: Schema.Number }),
  Schema.TaggedStruct("Ack", { exchange: Schema.Number, from: Schema.Number })
)

/** @internal */
export type WireExchangeMessage = typeof WireExchangeMessage.Type

/** What a worker thread is started with. @internal */
export interface WorkerData {
  readonly moduleUrl: string
  readonly exportName: string
  readonly workerIndex: number
  readonly workerCount: number
  readonly epoch: { readonly _tag: "Interval"; readonly millis: number } | {
    readonly _tag: "EveryItems"
    readonly items: number
  }
  readonly replayUnresumableInputs: boolean
  /** `peers[w]` talks to worker `w`; `undefined` at this worker's own index. */
  readonly peers: ReadonlyArray<MessagePort | undefined>
}

/**
 * What a thread is sent to run a worker: the worker's data and its end of a
 * channel to the coordinator, which is the run's own (a thread may serve
 * several runs in turn, and a new channel per run keeps their messages apart).
 *
 * @internal
 */
export interface ThreadAssignment {
  readonly data: WorkerData
  readonly coordinator: MessagePort
}
