import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as MetricState from "effect/MetricState"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import type * as Tracer from "effect/Tracer"
import type { RunSummary } from "../Dataflow.js"
import type { RecoveryError } from "../DataflowError.js"
import * as Metrics from "../Metrics.js"
import { type RunEvent, RunEvents, type StepEpoch } from "../RunEvents.js"
import type { Operator } from "./operators.js"

/**
 * One worker's part of a committed epoch: what it read, and what it counted.
 * Public through `WorkerRuntime.ts`, with `EpochReport`.
 */
export interface WorkerEpochReport {
  readonly workerIndex: number
  readonly items: number
  readonly metrics: Metrics.WorkerEpochMetrics
}

/**
 * The single report of a committed epoch: the run (one thread) or the
 * coordinator (worker threads) builds it once, and it feeds both the metric
 * registry and the `RunEvents` hub. Public through `WorkerRuntime.ts`.
 */
export interface EpochReport {
  readonly dataflowId: string
  readonly epoch: number
  readonly totalItems: number
  readonly epochMillis: number
  readonly commitMillis: number
  readonly workers: ReadonlyArray<WorkerEpochReport>
}

/**
 * Our spans mark the run's structure, not a place in the code: no stack trace
 * is captured for them (Effect would allocate an `Error` per span for it).
 *
 * @internal
 */
export const spanOptions = { captureStackTrace: false } as const

const publish = (event: (now: number) => RunEvent): Effect.Effect<void> =>
  Effect.flatMap(Effect.serviceOption(RunEvents), (hub) =>
    Option.isNone(hub)
      ? Effect.void
      : Effect.flatMap(Clock.currentTimeMillis, (now) => PubSub.publish(hub.value, event(now))))

const labelled = <Type, In, Out>(
  metric: Metric.Metric<Type, In, Out>,
  labels: ReadonlyArray<readonly [string, string]>
): Metric.Metric<Type, In, Out> =>
  Metric.taggedWithLabels(metric, labels.map(([key, value]) => MetricLabel.make(key, value)))

/** Records what one worker counted in one epoch, with the `dataflow` and `worker` labels. */
const recordWorker = (dataflowId: string, report: WorkerEpochReport): Effect.Effect<void> =>
  Effect.suspend(() => {
    const { metrics } = report
    const worker: ReadonlyArray<readonly [string, string]> = [["dataflow", dataflowId], [
      "worker",
      String(report.workerIndex)
    ]]
    const updates: Array<Effect.Effect<void>> = [
      Metric.incrementBy(labelled(Metrics.snapshotWrites, worker), metrics.snapshotWrites),
      Metric.incrementBy(labelled(Metrics.snapshotBytes, worker), metrics.snapshotBytes),
      Metric.set(labelled(Metrics.exchangeQueueDepth, worker), metrics.exchangeQueueDepth)
    ]
    for (const step of metrics.steps) {
      const labels = [...worker, ["step", step.stepId] as const]
      updates.push(
        Metric.incrementBy(labelled(Metrics.stepItemsIn, labels), step.itemsIn),
        Metric.incrementBy(labelled(Metrics.stepItemsOut, labels), step.itemsOut)
      )
    }
    for (const gauge of metrics.gauges) {
      updates.push(Metric.set(labelled(Metric.gauge(gauge.name), [...gauge.labels, worker[1]]), gauge.value))
    }
    if (metrics.resume !== undefined) {
      updates.push(Metric.set(labelled(Metrics.resumeDuration, worker), metrics.resume.seconds))
      for (const step of metrics.resume.keys) {
        updates.push(
          Metric.incrementBy(labelled(Metrics.resumeKeysLoaded, [...worker, ["step", step.stepId]]), step.keys)
        )
      }
    }
    return Effect.all(updates, { discard: true })
  })

/** @internal */
export const epochCommitted = (report: EpochReport): Effect.Effect<void> =>
  Effect.gen(function*() {
    const dataflow: ReadonlyArray<readonly [string, string]> = [["dataflow", report.dataflowId]]
    for (const worker of report.workers) yield* recordWorker(report.dataflowId, worker)
    const now = yield* Clock.currentTimeMillis
    yield* Metric.increment(labelled(Metrics.epochsCommitted, dataflow))
    yield* Metric.set(labelled(Metrics.epochCommitted, dataflow), report.epoch)
    yield* Metric.set(labelled(Metrics.epochCommittedAt, dataflow), now / 1000)
    yield* Metric.update(labelled(Metrics.epochDuration, dataflow), report.epochMillis / 1000)
    yield* Metric.update(labelled(Metrics.commitLatency, dataflow), report.commitMillis / 1000)
    yield* publish((committedAt) => {
      const steps = new Map<string, { stepId: string; itemsIn: number; itemsOut: number }>()
      let items = 0
      let snapshotWrites = 0
      let snapshotBytes = 0
      for (const { items: read, metrics } of report.workers) {
        items += read
        snapshotWrites += metrics.snapshotWrites
        snapshotBytes += metrics.snapshotBytes
        for (const step of metrics.steps) {
          const total = steps.get(step.stepId)
          if (total === undefined) steps.set(step.stepId, { ...step })
          else {
            total.itemsIn += step.itemsIn
            total.itemsOut += step.itemsOut
          }
        }
      }
      return {
        _tag: "EpochCommitted",
        dataflowId: report.dataflowId,
        epoch: report.epoch,
        items,
        totalItems: report.totalItems,
        snapshotWrites,
        snapshotBytes,
        epochMillis: report.epochMillis,
        commitMillis: report.commitMillis,
        committedAt,
        steps: [...steps.values()] satisfies ReadonlyArray<StepEpoch>,
        workers: report.workers.map((w) => ({
          workerIndex: w.workerIndex,
          items: w.items,
          snapshotWrites: w.metrics.snapshotWrites,
          exchangeQueueDepth: w.metrics.exchangeQueueDepth
        }))
      }
    })
  })

/** @internal */
export const runStarted = (dataflowId: string, workerCount: number, resumeEpoch: number): Effect.Effect<void> =>
  Effect.zipRight(
    Metric.set(labelled(Metrics.resumeEpoch, [["dataflow", dataflowId]]), resumeEpoch),
    publish((startedAt) => ({ _tag: "RunStarted", dataflowId, workerCount, resumeEpoch, startedAt }))
  )

/**
 * A run's span, and its end or failure told to the `RunEvents` hub.
 * Public through `WorkerRuntime.ts` for thread runtimes.
 *
 * @internal
 */
export const observeRun = <E, R>(
  dataflowId: string,
  workerCount: number,
  body: Effect.Effect<RunSummary, E, R>
): Effect.Effect<RunSummary, E, R> =>
  body.pipe(
    Effect.tap((summary) =>
      publish((finishedAt) => ({
        _tag: "RunFinished",
        dataflowId,
        lastEpoch: summary.lastEpoch,
        items: summary.items,
        finishedAt
      }))
    ),
    Effect.tapErrorCause((cause) => {
      if (Cause.isInterruptedOnly(cause)) return Effect.void
      const error = Cause.squash(cause)
      const errorTag = typeof error === "object" && error !== null && "_tag" in error
        ? String(error._tag)
        : "Defect"
      const message = error instanceof Error ? error.message : String(error)
      return publish((failedAt) => ({ _tag: "RunFailed", dataflowId, errorTag, message, failedAt }))
    }),
    Effect.withSpan("sluice.run", {
      ...spanOptions,
      attributes: { "sluice.dataflow": dataflowId, "sluice.workers": workerCount }
    })
  )

/**
 * The items each step counted since the last call, and the counters reset:
 * operators count per chunk in plain numbers, and this turns them into one
 * report per epoch.
 *
 * @internal
 */
export const takeStepCounts = (operators: ReadonlyArray<Operator>): Array<StepEpoch> => {
  const steps: Array<StepEpoch> = []
  for (const operator of operators) {
    steps.push({ stepId: operator.stepId, itemsIn: operator.itemsIn, itemsOut: operator.itemsOut })
    operator.itemsIn = 0
    operator.itemsOut = 0
  }
  return steps
}

/**
 * The `sluice_` gauges set in this thread's registry (by inputs such as
 * Kafka's), for a worker thread to carry to the calling thread.
 *
 * @internal
 */
export const threadGauges: Effect.Effect<Metrics.WorkerEpochMetrics["gauges"]> = Effect.map(
  Metric.snapshot,
  (pairs) => {
    const gauges: Array<Metrics.WorkerEpochMetrics["gauges"][number]> = []
    for (const pair of pairs) {
      const state = pair.metricState
      if (!pair.metricKey.name.startsWith(Metrics.prefix) || !MetricState.isGaugeState(state)) continue
      gauges.push({
        name: pair.metricKey.name,
        labels: pair.metricKey.tags.map((label) => [label.key, label.value] as const),
        value: Number(state.value)
      })
    }
    return gauges
  }
)

/** The span `sluice.epoch.commit` of an epoch's store commit, and when it started. */
interface CommitSpan {
  readonly span: Tracer.Span
  readonly startedAt: number
}

const startCommitSpan: Effect.Effect<CommitSpan> = Effect.map(
  Effect.zip(Effect.makeSpan("sluice.epoch.commit", spanOptions), Clock.currentTimeMillis),
  ([span, startedAt]) => ({ span, startedAt })
)

/**
 * Runs one epoch as the span `sluice.epoch`, and its store commit as the
 * child span `sluice.epoch.commit`: `transaction` hands `inTransaction` the
 * body of its store transaction, and the commit is what follows the body.
 *
 * @internal
 */
export const tracedEpoch = <A, E, R>(
  epoch: number,
  transaction: (
    inTransaction: <B, E2, R2>(body: Effect.Effect<B, E2, R2>) => Effect.Effect<B, E2, R2>
  ) => Effect.Effect<A, E, R>
): Effect.Effect<{ readonly progress: A; readonly commitMillis: number }, E, R> =>
  Effect.gen(function*() {
    let commit: CommitSpan | undefined
    const inTransaction = <B, E2, R2>(body: Effect.Effect<B, E2, R2>) =>
      Effect.tap(body, () =>
        Effect.map(startCommitSpan, (started) => {
          commit = started
        }))
    const exit = yield* Effect.exit(transaction(inTransaction))
    const endedAt = yield* Clock.currentTimeNanos
    if (commit !== undefined) commit.span.end(endedAt, exit)
    if (Exit.isFailure(exit)) return yield* Effect.failCause(exit.cause)
    const commitMillis = commit === undefined ? 0 : Number(endedAt / 1_000_000n) - commit.startedAt
    return { progress: exit.value, commitMillis }
  }).pipe(Effect.withSpan("sluice.epoch", { ...spanOptions, attributes: { "sluice.epoch": epoch } }))

/**
 * `tracedEpoch` for a transaction that returns once its commit has started
 * (`WorkerRecovery.pipelinedTransaction`): the span `sluice.epoch` ends, with
 * its child `sluice.epoch.commit`, when the effect returned as `committed`
 * has waited for the commit, and that effect gives the commit's duration.
 * `transaction` runs `startCommit` just before it starts the commit.
 *
 * @internal
 */
export const pipelinedEpoch = <A, E, R>(
  epoch: number,
  transaction: (startCommit: Effect.Effect<void>) => Effect.Effect<
    { readonly value: A; readonly committed: Effect.Effect<void, RecoveryError> },
    E,
    R
  >
): Effect.Effect<
  { readonly progress: A; readonly committed: Effect.Effect<{ readonly commitMillis: number }, RecoveryError> },
  E,
  R
> =>
  Effect.gen(function*() {
    const epochSpan = yield* Effect.makeSpan("sluice.epoch", { ...spanOptions, attributes: { "sluice.epoch": epoch } })
    let commit: CommitSpan | undefined
    const startCommit = Effect.map(startCommitSpan, (started) => {
      commit = started
    })
    const end = (exit: Exit.Exit<unknown, unknown>) =>
      Effect.map(Clock.currentTimeNanos, (endedAt) => {
        commit?.span.end(endedAt, exit)
        epochSpan.end(endedAt, exit)
        return commit === undefined ? 0 : Number(endedAt / 1_000_000n) - commit.startedAt
      })
    const started = yield* transaction(startCommit).pipe(
      Effect.withParentSpan(epochSpan),
      Effect.onExit((exit) => Exit.isFailure(exit) ? end(exit) : Effect.void)
    )
    const committed = Effect.flatMap(
      Effect.exit(started.committed),
      (exit) => Effect.flatMap(end(exit), (commitMillis) => Effect.as(exit, { commitMillis }))
    )
    return { progress: started.value, committed }
  })
