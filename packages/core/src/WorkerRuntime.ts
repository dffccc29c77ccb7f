/**
 * The seam between the engine and a thread runtime. `Dataflow.run(module, {
 * workers: n })` with `n > 1` runs through the `WorkerRuntime` service, which a
 * platform package provides (`NodeWorkers.layer` in `@sluice/platform-node`).
 * The rest of this module is what such a runtime builds on: it owns threads,
 * messages and wire forms; the engine owns operators, epochs and recovery.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { Dataflow, DataflowModule, RunOptions, RunSummary } from "./Dataflow.js"
import type { DataflowError, DuplicateStepId, FlowNotImportable, InvalidDataflow } from "./DataflowError.js"
import type * as exchange from "./internal/exchange.js"
import * as keyGroup from "./internal/keyGroup.js"
import { loadDataflow as loadModule } from "./internal/module.js"
import * as rescale from "./internal/rescale.js"
import { validate } from "./internal/run.js"
import * as telemetry from "./internal/telemetry.js"
import * as share from "./internal/workerShare.js"
import type { RecoveryStore } from "./RecoveryStore.js"

/**
 * The service that runs a dataflow module on several workers. Without it in
 * context, `Dataflow.run` with `workers > 1` fails with `InvalidDataflow`
 * saying which layer to provide.
 *
 * @example
 * ```ts
 * import { Dataflow, RecoveryStore } from "@sluice/core"
 * import { NodeWorkers } from "@sluice/platform-node"
 * import { Effect, Layer } from "effect"
 *
 * const flow = Dataflow.fromModule(new URL("./flow.js", import.meta.url), "wordcount")
 * const program = Dataflow.run(flow, { workers: 2 }).pipe(
 *   Effect.provide(Layer.merge(NodeWorkers.layer, RecoveryStore.layerMemory()))
 * )
 * ```
 * @since 0.1.0
 * @category tags
 */
export const WorkerRuntime: typeof share.WorkerRuntime = share.WorkerRuntime

/**
 * @since 0.1.0
 * @category tags
 */
export type WorkerRuntime = share.WorkerRuntime

/**
 * What travels between workers for one exchange step: keyed items, a barrier,
 * the end of a sender's input, or a credit given back.
 *
 * @since 0.1.0
 * @category models
 */
export type ExchangeMessage = exchange.ExchangeMessage

/**
 * How a worker reaches the others: `send` to worker `to`, and an `inbox` of
 * what they sent it, decoded.
 *
 * @since 0.1.0
 * @category models
 */
export type ExchangeLink = exchange.ExchangeLink

/**
 * What a worker's runtime hands the engine to run that worker's share.
 *
 * @since 0.1.0
 * @category models
 */
export type WorkerShare = share.WorkerShare

/**
 * Imports a dataflow module's export (a dataflow, or a function of no
 * arguments that returns one) and checks the graph, as each worker and the
 * coordinator do before touching a store.
 *
 * @example
 * ```ts
 * import { WorkerRuntime } from "@sluice/core"
 * import { Effect } from "effect"
 *
 * const loaded = WorkerRuntime.loadDataflow({ url: new URL("./flow.js", import.meta.url).href, exportName: "wordcount" })
 * const id = Effect.map(loaded, (dataflow) => dataflow.id)
 * ```
 * @since 0.1.0
 * @category loading
 */
export const loadDataflow = (
  module: Pick<DataflowModule, "url" | "exportName">
): Effect.Effect<Dataflow, FlowNotImportable | DuplicateStepId | InvalidDataflow> =>
  Effect.tap(loadModule(module.url, module.exportName), validate)

/**
 * Runs one worker's share of a dataflow: the input partitions it owns
 * (partition `p` on worker `p mod n`), the keys it owns (by key group), and
 * its epochs, each handed to `share.epochFinished` and continued only once the
 * runtime says every worker committed it.
 *
 * @example
 * ```ts
 * import { WorkerRuntime } from "@sluice/core"
 * import type { Dataflow } from "@sluice/core"
 * import { Effect } from "effect"
 *
 * declare const dataflow: Dataflow.Dataflow
 * declare const share: WorkerRuntime.WorkerShare
 * const worker = Effect.scoped(WorkerRuntime.runShare(dataflow, share))
 * ```
 * @since 0.1.0
 * @category running
 */
export const runShare: (
  dataflow: Dataflow,
  workerShare: WorkerShare
) => Effect.Effect<void, DataflowError, Scope.Scope> = share.runShare

/**
 * With `options.rescale`, moves a store written by another number of workers
 * to `workerCount` before the run opens it: keyed state by key group, input
 * positions by partition. A coordinator calls it once, before opening any
 * worker's session.
 *
 * @example
 * ```ts
 * import { WorkerRuntime } from "@sluice/core"
 * import type { Dataflow } from "@sluice/core"
 *
 * declare const dataflow: Dataflow.Dataflow
 * const moved = WorkerRuntime.rescaleIfAsked(dataflow, 3, { rescale: true })
 * ```
 * @since 0.1.0
 * @category running
 */
export const rescaleIfAsked: (
  dataflow: Dataflow,
  workerCount: number,
  options: RunOptions
) => Effect.Effect<void, DataflowError, RecoveryStore> = rescale.rescaleIfAsked

/**
 * The worker that owns a key among `workerCount` workers: keys hash into 128
 * key groups, and each worker owns a contiguous range of groups.
 *
 * @example
 * ```ts
 * import { WorkerRuntime } from "@sluice/core"
 * const owner = WorkerRuntime.ownerOfKey("user-42", 4) // 0 to 3
 * ```
 * @since 0.1.0
 * @category keys
 */
export const ownerOfKey: (key: string, workerCount: number) => number = keyGroup.ownerOfKey

/**
 * The report of an epoch every worker committed: the run's epoch number,
 * timings, and each worker's items and `Metrics.WorkerEpochMetrics`.
 *
 * @since 0.2.0
 * @category models
 */
export type EpochReport = telemetry.EpochReport

/**
 * Records a committed epoch in the `Metrics` (each worker's counts with its
 * `worker` label) and tells the `RunEvents` hub, if one is in context. A
 * coordinator calls it once per epoch, after the commit.
 *
 * @example
 * ```ts
 * import { WorkerRuntime } from "@sluice/core"
 *
 * const recorded = WorkerRuntime.epochCommitted({
 *   dataflowId: "wordcount",
 *   epoch: 3,
 *   totalItems: 30,
 *   epochMillis: 12,
 *   commitMillis: 2,
 *   workers: [{
 *     workerIndex: 0,
 *     items: 10,
 *     metrics: { steps: [], snapshotWrites: 0, snapshotBytes: 0, exchangeQueueDepth: 0, gauges: [] }
 *   }]
 * })
 * ```
 * @since 0.2.0
 * @category telemetry
 */
export const epochCommitted: (report: EpochReport) => Effect.Effect<void> = telemetry.epochCommitted

/**
 * Records the resume point of a run in the `Metrics` and tells the
 * `RunEvents` hub that the run started.
 *
 * @example
 * ```ts
 * import { WorkerRuntime } from "@sluice/core"
 * const started = WorkerRuntime.runStarted("wordcount", 2, 1)
 * ```
 * @since 0.2.0
 * @category telemetry
 */
export const runStarted: (dataflowId: string, workerCount: number, resumeEpoch: number) => Effect.Effect<void> =
  telemetry.runStarted

/**
 * Runs a run's body as the span `sluice.run`, and tells the `RunEvents` hub
 * how it ended.
 *
 * @example
 * ```ts
 * import { WorkerRuntime } from "@sluice/core"
 * import { Effect } from "effect"
 * const observed = WorkerRuntime.observeRun(
 *   "wordcount",
 *   2,
 *   Effect.succeed({ dataflowId: "wordcount", resumeEpoch: 1, lastEpoch: 1, items: 0 })
 * )
 * ```
 * @since 0.2.0
 * @category telemetry
 */
export const observeRun: <E, R>(
  dataflowId: string,
  workerCount: number,
  body: Effect.Effect<RunSummary, E, R>
) => Effect.Effect<RunSummary, E, R> = telemetry.observeRun

/**
 * Runs an epoch's commit on the calling thread as the span `sluice.epoch`
 * with the child span `sluice.epoch.commit`, and measures the commit.
 *
 * @example
 * ```ts
 * import { WorkerRuntime } from "@sluice/core"
 * import { Effect } from "effect"
 * const traced = WorkerRuntime.tracedEpoch(3, (inTransaction) => inTransaction(Effect.succeed(10)))
 * ```
 * @since 0.2.0
 * @category telemetry
 */
export const tracedEpoch: <A, E, R>(
  epoch: number,
  transaction: (
    inTransaction: <B, E2, R2>(body: Effect.Effect<B, E2, R2>) => Effect.Effect<B, E2, R2>
  ) => Effect.Effect<A, E, R>
) => Effect.Effect<{ readonly progress: A; readonly commitMillis: number }, E, R> = telemetry.tracedEpoch
