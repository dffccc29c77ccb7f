import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { Dataflow, DataflowModule, RunOptions, RunSummary } from "../Dataflow.js"
import type { DataflowError, RecoveryError } from "../DataflowError.js"
import type { EpochPolicy } from "../Epoch.js"
import type * as Metrics from "../Metrics.js"
import type { EpochTransaction, RecoveryStore, Snapshot } from "../RecoveryStore.js"
import { type ExchangeLink, ExchangeTransport } from "./exchange.js"
import { ownsPartition } from "./keyGroup.js"
import type { RunContext } from "./operators.js"
import { buildOperators, loadKeyedState, openEpochReader, openInputs } from "./run.js"
import { takeStepCounts, threadGauges } from "./telemetry.js"

/**
 * The service behind `Dataflow.run(module, { workers: n })` for `n > 1`;
 * public through `WorkerRuntime.ts`.
 */
export class WorkerRuntime extends Context.Tag("@sluice/core/WorkerRuntime")<WorkerRuntime, {
  readonly run: (
    module: DataflowModule,
    workerCount: number,
    options: RunOptions
  ) => Effect.Effect<RunSummary, DataflowError, RecoveryStore>
}>() {}

/** What a worker needs from its runtime to run its share of a dataflow; public through `WorkerRuntime.ts`. */
export interface WorkerShare {
  readonly workerIndex: number
  readonly workerCount: number
  readonly resumeEpoch: number
  readonly epoch: EpochPolicy
  readonly replayUnresumableInputs: boolean
  readonly link: ExchangeLink
  readonly snapshots: (stepId: string) => Stream.Stream<Snapshot, RecoveryError>
  /** Reads some keys of a step as of the resume point; given only when the run restores lazily. */
  readonly snapshotsOf?: (stepId: string, keys: ReadonlyArray<string>) => Effect.Effect<
    ReadonlyArray<Snapshot>,
    RecoveryError
  >
  readonly beginEpoch: (epoch: number) => EpochTransaction
  readonly epochFinished: (
    epoch: number,
    finished: {
      readonly items: number
      readonly drained: boolean
      /** What the worker counted in the epoch, for the calling thread to record with the `worker` label. */
      readonly metrics: Metrics.WorkerEpochMetrics
    }
  ) => Effect.Effect<{ readonly finish: boolean }, DataflowError>
}

/**
 * Runs one worker's share: its input partitions and the keys it owns, with
 * keyed items routed through the exchange link. Epoch `e + 1` starts only once
 * `epochFinished(e)` says `e` is committed by every worker: a worker that fails
 * in `e + 1` then never costs the others the commit of `e`. (Letting `e + 1`
 * overlap `e`'s commit was measured, gained little, and lost that guarantee.)
 *
 * @internal
 */
export const runShare = (dataflow: Dataflow, share: WorkerShare): Effect.Effect<void, DataflowError, Scope.Scope> =>
  Effect.gen(function*() {
    const resumeStart = yield* Clock.currentTimeMillis
    const context: RunContext = { dataflowId: dataflow.id, workerIndex: share.workerIndex, epoch: share.resumeEpoch }
    const transport = new ExchangeTransport(share.link)
    const { inputs, keyed, operators } = yield* buildOperators(dataflow, context, share.snapshots, transport)
    const keys = yield* loadKeyedState(keyed, share, share.snapshotsOf === undefined ? "eager" : "lazy")
    const stream = yield* openInputs(
      inputs,
      { resumeEpoch: share.resumeEpoch, snapshots: share.snapshots },
      { replayUnresumableInputs: share.replayUnresumableInputs },
      context,
      (p) => ownsPartition(p, share.workerIndex, share.workerCount)
    )
    const reader = yield* openEpochReader(stream, share.epoch, inputs, context, transport)
    let resume: Metrics.WorkerEpochMetrics["resume"] = {
      seconds: ((yield* Clock.currentTimeMillis) - resumeStart) / 1000,
      keys
    }
    for (let epoch = share.resumeEpoch;; epoch++) {
      context.epoch = epoch
      const work = yield* reader.runEpoch(share.beginEpoch(epoch))
      const metrics: Metrics.WorkerEpochMetrics = {
        steps: takeStepCounts(operators),
        snapshotWrites: work.snapshots,
        snapshotBytes: work.snapshotBytes,
        exchangeQueueDepth: work.exchangeQueueDepth,
        gauges: yield* threadGauges,
        ...(resume === undefined ? {} : { resume })
      }
      resume = undefined
      const { finish } = yield* share.epochFinished(epoch, { items: work.items, drained: reader.drained, metrics })
      if (finish) return
    }
  })
