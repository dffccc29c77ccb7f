import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { Dataflow, DataflowModule, RunOptions, RunSummary } from "../Dataflow.js"
import type { DataflowError, RecoveryError } from "../DataflowError.js"
import type { EpochPolicy } from "../Epoch.js"
import type { EpochTransaction, RecoveryStore, Snapshot } from "../RecoveryStore.js"
import { type ExchangeLink, ExchangeTransport } from "./exchange.js"
import { ownsPartition } from "./keyGroup.js"
import type { RunContext } from "./operators.js"
import { buildOperators, openEpochReader, openInputs } from "./run.js"

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
  readonly beginEpoch: (epoch: number) => EpochTransaction
  readonly epochFinished: (
    epoch: number,
    finished: { readonly items: number; readonly drained: boolean }
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
    const context: RunContext = { dataflowId: dataflow.id, workerIndex: share.workerIndex, epoch: share.resumeEpoch }
    const transport = new ExchangeTransport(share.link)
    const { inputs, keyed } = yield* buildOperators(dataflow, context, share.snapshots, transport)
    for (const operator of keyed) yield* operator.load(share.snapshots(operator.stepId))
    const stream = yield* openInputs(
      inputs,
      { resumeEpoch: share.resumeEpoch, snapshots: share.snapshots },
      { replayUnresumableInputs: share.replayUnresumableInputs },
      context,
      (p) => ownsPartition(p, share.workerIndex, share.workerCount)
    )
    const reader = yield* openEpochReader(stream, share.epoch, inputs, context, transport)
    for (let epoch = share.resumeEpoch;; epoch++) {
      context.epoch = epoch
      const progress = yield* reader.runEpoch(share.beginEpoch(epoch))
      const { finish } = yield* share.epochFinished(epoch, { items: progress.items, drained: reader.drained })
      if (finish) return
    }
  })
