/**
 * What a run tells its observers as it goes: it started (and where it
 * resumed), an epoch committed (with what each step and worker did), it
 * failed, it finished. A live dashboard or a progress line subscribes; the
 * run publishes only when a `RunEvents` hub is in context, once per epoch,
 * and never waits for a slow subscriber (the hub drops its oldest events).
 *
 * The same per-epoch report also feeds the `Metrics`, so the two never
 * disagree.
 *
 * @since 0.2.0
 */
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"

/**
 * A run began: its store was opened and the epoch it resumes at is known.
 *
 * @since 0.2.0
 * @category models
 */
export interface RunStarted {
  readonly _tag: "RunStarted"
  readonly dataflowId: string
  readonly workerCount: number
  /** 1 for a fresh store. */
  readonly resumeEpoch: number
  readonly startedAt: number
}

/**
 * What one step did in one epoch, over all workers.
 *
 * @since 0.2.0
 * @category models
 */
export interface StepEpoch {
  readonly stepId: string
  readonly itemsIn: number
  readonly itemsOut: number
}

/**
 * What one worker did in one epoch.
 *
 * @since 0.2.0
 * @category models
 */
export interface WorkerEpoch {
  readonly workerIndex: number
  readonly items: number
  readonly snapshotWrites: number
  readonly exchangeQueueDepth: number
}

/**
 * An epoch committed on every worker.
 *
 * @since 0.2.0
 * @category models
 */
export interface EpochCommitted {
  readonly _tag: "EpochCommitted"
  readonly dataflowId: string
  readonly epoch: number
  /** Input items read in this epoch, and since the run started. */
  readonly items: number
  readonly totalItems: number
  readonly snapshotWrites: number
  readonly snapshotBytes: number
  /** From the end of the previous epoch to this one's commit. */
  readonly epochMillis: number
  /** The store's commit alone. */
  readonly commitMillis: number
  readonly committedAt: number
  readonly steps: ReadonlyArray<StepEpoch>
  readonly workers: ReadonlyArray<WorkerEpoch>
}

/**
 * The run failed; `message` is the `DataflowError`'s message (or the defect's).
 *
 * @since 0.2.0
 * @category models
 */
export interface RunFailed {
  readonly _tag: "RunFailed"
  readonly dataflowId: string
  readonly errorTag: string
  readonly message: string
  readonly failedAt: number
}

/**
 * The run reached the end of its inputs and committed its last epoch.
 *
 * @since 0.2.0
 * @category models
 */
export interface RunFinished {
  readonly _tag: "RunFinished"
  readonly dataflowId: string
  readonly lastEpoch: number
  readonly items: number
  readonly finishedAt: number
}

/**
 * @since 0.2.0
 * @category models
 */
export type RunEvent = RunStarted | EpochCommitted | RunFailed | RunFinished

/**
 * The hub a run publishes its events to, when one is in context.
 *
 * @example
 * ```ts
 * import { Dataflow, Input, Output, RecoveryStore, RunEvents } from "@sluice/core"
 * import { Effect, Layer, PubSub, Queue } from "effect"
 *
 * declare const flow: Dataflow.Dataflow
 * const program = Effect.gen(function*() {
 *   const hub = yield* RunEvents.RunEvents
 *   const events = yield* PubSub.subscribe(hub)
 *   yield* Dataflow.run(flow)
 *   return yield* Queue.takeAll(events)
 * }).pipe(Effect.scoped, Effect.provide(Layer.merge(RunEvents.layer, RecoveryStore.layerMemory())))
 * ```
 * @since 0.2.0
 * @category tags
 */
export class RunEvents extends Context.Tag("@sluice/core/RunEvents")<RunEvents, PubSub.PubSub<RunEvent>>() {}

/**
 * A hub that keeps the newest 1,024 events for a subscriber that falls
 * behind, so the run never waits for one.
 *
 * @example
 * ```ts
 * import { RunEvents } from "@sluice/core"
 * const hub = RunEvents.layer
 * ```
 * @since 0.2.0
 * @category layers
 */
export const layer: Layer.Layer<RunEvents> = Layer.effect(RunEvents, PubSub.sliding<RunEvent>(1024))
