import type { MessagePort } from "node:worker_threads"
import type { OutputRecord, Snapshot } from "../../RecoveryStore.js"
import type { EncodedWrites } from "./epochWrites.js"
import type { KeyedChunk } from "./keyedChunk.js"

/**
 * Messages between the coordinator (the calling thread, which holds the
 * recovery store) and the worker threads.
 *
 * @internal
 */
export type ToCoordinator =
  | { readonly _tag: "Opened"; readonly workerIndex: number }
  | { readonly _tag: "ReadSnapshots"; readonly requestId: number; readonly stepId: string }
  | {
    readonly _tag: "EpochReady"
    readonly epoch: number
    readonly writes: EncodedWrites
    readonly outputs: ReadonlyArray<OutputRecord>
    /** Inputs ended and every exchange saw the end from every worker. */
    readonly drained: boolean
    readonly items: number
  }
  | { readonly _tag: "Failed"; readonly error: unknown }
  | { readonly _tag: "Finished" }

/** @internal */
export type ToWorker =
  | { readonly _tag: "Start"; readonly resumeEpoch: number }
  | { readonly _tag: "Snapshots"; readonly requestId: number; readonly snapshots: ReadonlyArray<Snapshot> }
  | { readonly _tag: "SnapshotsEnd"; readonly requestId: number; readonly error?: unknown }
  | { readonly _tag: "Committed"; readonly epoch: number; readonly finish: boolean }
  | { readonly _tag: "Abort" }

/**
 * What travels between workers for one exchange step: a chunk of keyed items
 * (in the compact form of `keyedChunk.ts`, its buffers transferred), a
 * barrier, or the end of a sender's input.
 *
 * @internal
 */
export type ExchangeMessage =
  | { readonly _tag: "Items"; readonly exchange: number; readonly from: number; readonly chunk: KeyedChunk }
  | { readonly _tag: "Barrier"; readonly exchange: number; readonly from: number; readonly epoch: number }
  | { readonly _tag: "End"; readonly exchange: number; readonly from: number }
  /** A chunk from `from` was processed: the receiver grants one credit back. */
  | { readonly _tag: "Ack"; readonly exchange: number; readonly from: number }

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
