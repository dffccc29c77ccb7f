import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type { Dataflow, RunOptions, RunSummary } from "../Dataflow.js"
import {
  type DataflowError,
  DuplicateStepId,
  InputNotResumable,
  InvalidDataflow,
  StateDecodeError,
  StepFailed
} from "../DataflowError.js"
import * as Epoch from "../Epoch.js"
import type { Input } from "../Input.js"
import type * as Metrics from "../Metrics.js"
import { type EpochTransaction, RecoveryStore, type WorkerRecovery } from "../RecoveryStore.js"
import type { Batch } from "./batch.js"
import { ExchangeOperator, type ExchangeTransport } from "./exchange.js"
import { fusibleKeyBys, type Step } from "./graph.js"
import {
  BranchOperator,
  InputOperator,
  KeyedOperator,
  type KeyedStateOperator,
  MapEffectOperator,
  MergeOperator,
  type Operator,
  OutputOperator,
  type RunContext,
  TransformOperator
} from "./operators.js"
import { rescaleIfAsked } from "./rescale.js"
import * as StateCodec from "./stateCodec.js"
import { StatefulOperator } from "./statefulOperator.js"
import * as Telemetry from "./telemetry.js"
import { WindowOperator } from "./windowOperator.js"

/** @internal */
export type InputEvent =
  | { readonly _tag: "Items"; readonly input: number; readonly partition: string; readonly batch: Batch<unknown> }
  | { readonly _tag: "Tick" }

const tick: InputEvent = { _tag: "Tick" }

/** Build-time checks that need no store. @internal */
export const validate = (dataflow: Dataflow): Effect.Effect<void, DuplicateStepId | InvalidDataflow> =>
  Effect.suspend((): Effect.Effect<void, DuplicateStepId | InvalidDataflow> => {
    const seen = new Set<string>()
    for (const step of dataflow.graph.steps) {
      if (seen.has(step.stepId)) {
        return Effect.fail(new DuplicateStepId({ dataflowId: dataflow.id, stepId: step.stepId }))
      }
      seen.add(step.stepId)
    }
    const steps = dataflow.graph.steps
    if (!steps.some((s) => s.kind._tag === "Input")) {
      return Effect.fail(new InvalidDataflow({ dataflowId: dataflow.id, problem: "no input" }))
    }
    if (!steps.some((s) => s.kind._tag === "Output")) {
      return Effect.fail(new InvalidDataflow({ dataflowId: dataflow.id, problem: "no output" }))
    }
    return Effect.void
  })

/** @internal */
export interface InputBinding {
  readonly step: Step
  readonly input: Input<unknown>
  readonly operator: Operator
}

/** @internal */
export const run = (
  dataflow: Dataflow,
  options: RunOptions = {}
): Effect.Effect<RunSummary, DataflowError, RecoveryStore> =>
  Effect.gen(function*() {
    yield* validate(dataflow)
    yield* rescaleIfAsked(dataflow, 1, options)
    const store = yield* RecoveryStore
    const resumeStart = yield* Clock.currentTimeMillis
    const { operators, reader, recovery, resumed } = yield* Effect.gen(function*() {
      const recovery = yield* store.open({ dataflowId: dataflow.id, workerIndex: 0, workerCount: 1 })
      const context: RunContext = { dataflowId: dataflow.id, workerIndex: 0, epoch: recovery.resumeEpoch }
      const { inputs, keyed, operators } = yield* buildOperators(dataflow, context, recovery.snapshots)
      const keys = yield* loadKeyedState(keyed, recovery, options.restore ?? "eager")
      const stream = yield* openInputs(inputs, recovery, options, context)
      const reader = yield* openEpochReader(stream, options.epoch ?? Epoch.defaultPolicy, inputs, context)
      const seconds = ((yield* Clock.currentTimeMillis) - resumeStart) / 1000
      return { operators, reader, recovery, resumed: { seconds, keys } }
    }).pipe(
      Effect.withSpan("sluice.resume", { ...Telemetry.spanOptions, attributes: { "sluice.dataflow": dataflow.id } })
    )
    if (recovery.resumeEpoch > 1) {
      yield* Effect.logInfo(`resuming dataflow ${dataflow.id} at epoch ${recovery.resumeEpoch}`)
    } else {
      yield* Effect.logDebug(`starting dataflow ${dataflow.id} from a fresh store`)
    }
    yield* Telemetry.runStarted(dataflow.id, 1, recovery.resumeEpoch)

    let epoch = recovery.resumeEpoch
    let totalItems = 0
    let resume: Metrics.WorkerEpochMetrics["resume"] = resumed
    let reportedAt = yield* Clock.currentTimeMillis
    /** Waits for an epoch's commit, then tells its telemetry and `onEpochCommitted`. */
    const reportWhenCommitted = (
      epoch: number,
      progress: EpochWork,
      committed: Effect.Effect<{ readonly commitMillis: number }, DataflowError>
    ) => {
      // what the epoch did, taken now: the next epoch's body may run before its commit ends
      const steps = Telemetry.takeStepCounts(operators)
      const metrics: Metrics.WorkerEpochMetrics = {
        steps,
        snapshotWrites: progress.snapshots,
        snapshotBytes: progress.snapshotBytes,
        exchangeQueueDepth: 0,
        gauges: [],
        ...(resume === undefined ? {} : { resume })
      }
      resume = undefined
      totalItems += progress.items
      const itemsSoFar = totalItems
      return Effect.gen(function*() {
        const { commitMillis } = yield* committed
        const committedAt = yield* Clock.currentTimeMillis
        yield* Telemetry.epochCommitted({
          dataflowId: dataflow.id,
          epoch,
          totalItems: itemsSoFar,
          epochMillis: committedAt - reportedAt,
          commitMillis,
          workers: [{ workerIndex: 0, items: progress.items, metrics }]
        })
        reportedAt = committedAt
        if (options.onEpochCommitted !== undefined) {
          yield* options.onEpochCommitted({
            dataflowId: dataflow.id,
            epoch,
            items: progress.items,
            snapshots: progress.snapshots,
            totalItems: itemsSoFar
          })
        }
        yield* Effect.logTrace(`epoch ${epoch} committed`)
      })
    }
    // On a store that commits in the background (SQLite), an epoch's body runs while the epochs before commit,
    // in the order begun. Each report waits for its commit and the report before, in a fiber of its own, so that
    // an epoch's progress and `onEpochCommitted` come as soon as it is durable, never before. Outputs write as an
    // epoch runs either way.
    // A run that fails or is interrupted still reports the epochs on their way that become durable: the store
    // waits for them as it closes, and the last epoch reported is the one a resume starts after.
    let previous: Effect.Effect<void, DataflowError> = Effect.void
    yield* Effect.onExit(
      Effect.gen(function*() {
        while (!reader.ended) {
          reader.context.epoch = epoch
          const { committed, progress } = yield* Telemetry.pipelinedEpoch(epoch, (startCommit) =>
            recovery.pipelinedTransaction(epoch, (transaction) =>
              reader.runEpoch(transaction), startCommit))
          const report = reportWhenCommitted(epoch, progress, committed)
          // Forked uninterruptible, so that it starts so: interrupting the run interrupts the fibers it forked at
          // once, even one not started yet, and a report lost then would name an epoch before the store's last
          // (`sluice run` prints it when Ctrl-C stops it).
          if (recovery.commitsInBackground) {
            previous = Fiber.join(yield* Effect.uninterruptible(Effect.fork(Effect.zipRight(previous, report))))
          } else yield* report
          epoch++
        }
      }),
      (exit) =>
        Exit.isSuccess(exit) ? Effect.void : Effect.ignore(previous)
    )
    yield* previous
    return { dataflowId: dataflow.id, resumeEpoch: recovery.resumeEpoch, lastEpoch: epoch - 1, items: totalItems }
  }).pipe(
    Effect.scoped,
    (body) => Telemetry.observeRun(dataflow.id, 1, body),
    Effect.annotateLogs("dataflowId", dataflow.id)
  )

/**
 * Restores the keyed steps' snapshots of the resume point, and says how many
 * each loaded. With `restore: "lazy"` and a store that reads keys
 * (`snapshotsOf`), steps that can restore a key on its first item load
 * nothing now; steps with timers, and every step of a store that cannot read
 * keys, load everything.
 *
 * @internal
 */
export const loadKeyedState = (
  keyed: ReadonlyArray<KeyedStateOperator>,
  recovery: Pick<WorkerRecovery, "snapshots" | "snapshotsOf">,
  restore: NonNullable<RunOptions["restore"]>
) =>
  Effect.forEach(keyed, (operator) => {
    const { stepId } = operator
    const snapshotsOf = recovery.snapshotsOf
    if (restore === "lazy" && snapshotsOf !== undefined && operator.restoresLazily) {
      operator.restoreLazily({
        readKeys: (keys) => snapshotsOf(stepId, keys),
        snapshots: recovery.snapshots(stepId)
      })
      return Effect.succeed({ stepId, keys: 0 })
    }
    return Effect.map(operator.load(recovery.snapshots(stepId)), (keys) => ({ stepId, keys }))
  })

const passRaw = (items: ReadonlyArray<unknown>): ReadonlyArray<unknown> => items

/** @internal */
export const buildOperators = (
  dataflow: Dataflow,
  context: RunContext,
  snapshots: WorkerRecovery["snapshots"],
  transport?: ExchangeTransport
) =>
  Effect.gen(function*() {
    const operators: Array<Operator> = []
    const inputs: Array<InputBinding> = []
    const keyed: Array<KeyedStateOperator> = []
    const exchanges: Array<ExchangeOperator> = []
    const fused = transport === undefined ? fusibleKeyBys(dataflow.graph) : new Map<number, never>()
    for (const step of dataflow.graph.steps) {
      const kind = step.kind
      let operator: Operator
      switch (kind._tag) {
        case "Input": {
          operator = new InputOperator(step.stepId, context)
          inputs.push({ step, input: kind.input, operator })
          break
        }
        case "Transform":
          // a fused keyBy passes its items on raw: the keyed step after it keys them
          operator = new TransformOperator(step.stepId, context, fused.has(step.index) ? passRaw : kind.transform)
          break
        case "MapEffect":
          operator = new MapEffectOperator(step.stepId, context, kind.f, kind.concurrency)
          break
        case "Branch":
          operator = new BranchOperator(step.stepId, context, kind.predicate)
          break
        case "Merge":
          operator = new MergeOperator(step.stepId, context, step.upstream.length)
          break
        case "Redistribute":
          operator = new InputOperator(step.stepId, context)
          break
        case "Keyed": {
          const codec = StateCodec.make(kind.state)
          const keyedOperator = kind.logic._tag === "Stateful"
            ? new StatefulOperator(step.stepId, context, codec, kind.logic, kind.emitPerEpoch)
            : new KeyedOperator(
              step.stepId,
              context,
              codec,
              kind.logic,
              kind.emitPerEpoch,
              step.upstream.length === 1 ? fused.get(step.upstream[0].node) : undefined
            )
          keyed.push(keyedOperator)
          operator = keyedOperator
          break
        }
        case "Window": {
          const windowOperator = new WindowOperator(
            step.stepId,
            context,
            kind.state,
            kind.clock,
            kind.policy,
            kind.aggregate
          )
          keyed.push(windowOperator)
          operator = windowOperator
          break
        }
        case "Output": {
          const writer = yield* kind.output.open({
            stepId: step.stepId,
            workerIndex: context.workerIndex,
            resumeEpoch: context.epoch,
            committed: snapshots(step.stepId)
          }).pipe(
            Effect.mapError((cause) => new StepFailed({ stepId: step.stepId, epoch: context.epoch, cause }))
          )
          operator = new OutputOperator(step.stepId, context, writer)
          break
        }
      }
      operators.push(operator)
      // with several workers, a keyed step reads through an exchange that brings it the keys it owns
      let reader: Operator = operator
      if (
        transport !== undefined && (kind._tag === "Keyed" || kind._tag === "Window" || kind._tag === "Redistribute")
      ) {
        const route = kind._tag === "Redistribute" ? "roundRobin" : "byKey"
        const exchange = new ExchangeOperator(`${step.stepId}/exchange`, context, exchanges.length, transport, route)
        exchange.targets[0].push({ operator, slot: 0 })
        exchanges.push(exchange)
        reader = exchange
      }
      step.upstream.forEach((edge, slot) => {
        operators[edge.node].targets[edge.port].push({ operator: reader, slot })
      })
    }
    if (transport !== undefined) transport.exchanges = exchanges
    return { inputs, keyed, exchanges, operators }
  })

/** @internal */
export const openInputs = (
  inputs: ReadonlyArray<InputBinding>,
  recovery: Pick<WorkerRecovery, "resumeEpoch" | "snapshots">,
  options: Pick<RunOptions, "replayUnresumableInputs">,
  context: RunContext,
  owns: (partitionIndex: number) => boolean = () => true
) =>
  Effect.gen(function*() {
    const streams: Array<Stream.Stream<InputEvent, StepFailed>> = []
    for (let index = 0; index < inputs.length; index++) {
      const { input, step } = inputs[index]
      const stepId = step.stepId
      const partitions = yield* input.partitions.pipe(
        Effect.mapError((cause) => new StepFailed({ stepId, epoch: context.epoch, cause }))
      )
      const positions = new Map<string, unknown>()
      if (input.resumable) {
        yield* Stream.runForEach(recovery.snapshots(stepId), ({ key, value }) => {
          const position = StateCodec.decodeJson(value)
          return Either.isLeft(position)
            ? Effect.fail(new StateDecodeError({ stepId, key, issue: `input position is ${position.left}` }))
            : Effect.sync(() => positions.set(key, position.right))
        })
      } else if (recovery.resumeEpoch > 1 && options.replayUnresumableInputs !== true) {
        return yield* new InputNotResumable({ stepId, resumeEpoch: recovery.resumeEpoch })
      }
      for (let partitionIndex = 0; partitionIndex < partitions.length; partitionIndex++) {
        if (!owns(partitionIndex)) continue
        const partition = partitions[partitionIndex]
        const resumeFrom = positions.has(partition) ? Option.some(positions.get(partition)) : Option.none()
        const opened = yield* input.open(partition, resumeFrom).pipe(
          Effect.mapError((cause) => new StepFailed({ stepId, epoch: context.epoch, key: partition, cause }))
        )
        streams.push(
          opened.pipe(
            Stream.map((batch): InputEvent => ({ _tag: "Items", input: index, partition, batch })),
            Stream.mapError((cause) => new StepFailed({ stepId, epoch: context.epoch, key: partition, cause }))
          )
        )
      }
    }
    return streams.length === 0
      ? Stream.empty
      : streams.length === 1
      ? streams[0]
      : Stream.mergeAll(streams, { concurrency: "unbounded" })
  })

/**
 * Reads the inputs under an epoch policy: `Epoch.interval` merges in a tick
 * per interval of `Clock` time, so epochs close while inputs are idle too.
 *
 * @internal
 */
export const openEpochReader = (
  stream: Stream.Stream<InputEvent, StepFailed>,
  policy: Epoch.EpochPolicy,
  inputs: ReadonlyArray<InputBinding>,
  context: RunContext,
  remote?: ExchangeTransport
) =>
  Effect.map(
    Stream.toPull(
      policy._tag === "Interval"
        ? Stream.merge(stream, Stream.fromSchedule(Schedule.spaced(policy.duration)).pipe(Stream.as(tick)), {
          haltStrategy: "left"
        })
        : stream
    ),
    (pull) =>
      new EpochReader(
        pull,
        inputs,
        policy._tag === "EveryItems" ? policy.items : Infinity,
        context,
        remote,
        policy._tag === "Interval" ? Duration.toMillis(policy.duration) : undefined
      )
  )

/**
 * Under `Epoch.interval`, the most items pushed between two looks at the
 * clock: an input that hands over a large batch at once (a Kafka fetch, a
 * backlog) is cut where the interval runs out, not at the batch's end.
 */
const INTERVAL_SLICE = 1024

/**
 * What a worker did in one epoch: input items read, snapshot writes and
 * their bytes, and the most exchange messages that waited in its inbox.
 *
 * @internal
 */
export interface EpochWork {
  readonly items: number
  readonly snapshots: number
  readonly snapshotBytes: number
  readonly exchangeQueueDepth: number
}

/**
 * Reads input events and cuts them into epochs: a batch that crosses an epoch
 * boundary is split, and its rest opens the next epoch. With several workers
 * it also serves the exchanges' messages, and an epoch is done on this worker
 * only when every exchange has aligned its barrier.
 *
 * @internal
 */
export class EpochReader {
  ended = false
  private endSent = false
  private queue: ReadonlyArray<InputEvent> = []
  private next = 0
  /** Items of `queue[next]` already pushed. */
  private offset = 0
  /** Position reached per input and partition in the current epoch. */
  private positions = new Map<string, { readonly stepId: string; readonly partition: string; position: unknown }>()

  constructor(
    readonly pull: Effect.Effect<Chunk.Chunk<InputEvent>, Option.Option<StepFailed>>,
    readonly inputs: ReadonlyArray<InputBinding>,
    readonly itemsPerEpoch: number,
    readonly context: RunContext,
    readonly remote?: ExchangeTransport,
    /** `Epoch.interval`'s length: an epoch is cut inside a batch once it has run this long. */
    readonly intervalMillis?: number
  ) {}

  /** Whether this worker has nothing more to do: inputs ended and every exchange saw every worker's end. */
  get drained(): boolean {
    return this.ended && (this.remote?.exchanges.every((x) => x.allEnded) ?? true)
  }

  runEpoch(transaction: EpochTransaction): Effect.Effect<EpochWork, DataflowError> {
    const self = this
    return Effect.gen(function*() {
      const work = { items: 0, snapshots: 0, snapshotBytes: 0, exchangeQueueDepth: 0 }
      const counting: EpochTransaction = {
        epoch: transaction.epoch,
        write: (stepId, key, value) => {
          work.snapshots++
          if (value !== null) work.snapshotBytes += value.length
          transaction.write(stepId, key, value)
        },
        writeOutput: transaction.writeOutput
      }
      self.context.transaction = counting
      yield* Effect.withSpan(self.readItems(work), "sluice.epoch.items", Telemetry.spanOptions)
      yield* Effect.withSpan(self.writeBarrier(counting), "sluice.epoch.writes", Telemetry.spanOptions)
      return work
    })
  }

  /**
   * Pushes input items until the epoch is full, its interval has passed, the
   * policy ticks, or the inputs end.
   */
  private readItems(work: { items: number; exchangeQueueDepth: number }): Effect.Effect<void, DataflowError> {
    const self = this
    const interval = self.intervalMillis
    return Effect.gen(function*() {
      const startedAt = interval === undefined ? 0 : yield* Clock.currentTimeMillis
      while (work.items < self.itemsPerEpoch && !self.ended) {
        if (self.remote !== undefined) {
          const waiting = yield* Queue.takeAll(self.remote.link.inbox)
          if (waiting.length > work.exchangeQueueDepth) work.exchangeQueueDepth = waiting.length
          for (const message of waiting) yield* self.remote.dispatch(message)
        }
        if (self.next >= self.queue.length) {
          const pulled = yield* Effect.either(self.pull)
          if (Either.isLeft(pulled)) {
            if (Option.isSome(pulled.left)) return yield* pulled.left.value
            self.ended = true
            break
          }
          self.queue = Chunk.toReadonlyArray(pulled.right)
          self.next = 0
          self.offset = 0
          continue
        }
        const event = self.queue[self.next]
        if (event._tag === "Tick") {
          self.next++
          // A tick that queued behind a batch this epoch was cut from (the interval ran out inside
          // it) would close the next epoch at once; it closes an epoch that has run half its length.
          if (interval !== undefined && (yield* Clock.currentTimeMillis) - startedAt < interval / 2) continue
          break
        }
        const all = event.batch.items
        const take = Math.min(
          all.length - self.offset,
          self.itemsPerEpoch - work.items,
          interval === undefined ? Infinity : INTERVAL_SLICE
        )
        if (take > 0) {
          const chunk = self.offset === 0 && take === all.length ? all : all.slice(self.offset, self.offset + take)
          const binding = self.inputs[event.input]
          yield* binding.operator.push(0, chunk)
          if (binding.input.resumable) {
            const id = `${event.input}\u0000${event.partition}`
            const reached = self.positions.get(id)
            const position = event.batch.positionAfter(self.offset + take - 1)
            if (reached === undefined) {
              self.positions.set(id, { stepId: binding.step.stepId, partition: event.partition, position })
            } else reached.position = position
          }
          work.items += take
          self.offset += take
        }
        if (self.offset >= all.length) {
          self.next++
          self.offset = 0
        }
        if (interval !== undefined && (yield* Clock.currentTimeMillis) - startedAt >= interval) break
      }
      yield* Effect.annotateCurrentSpan("sluice.items", work.items)
    })
  }

  /** Ends the inputs if they ended, writes their positions, and sends the barrier through the graph. */
  private writeBarrier(counting: EpochTransaction): Effect.Effect<void, DataflowError> {
    const self = this
    return Effect.gen(function*() {
      if (self.ended && !self.endSent) {
        self.endSent = true
        for (const { operator } of self.inputs) yield* operator.end(0)
      }
      for (const { partition, position, stepId } of self.positions.values()) {
        counting.write(stepId, partition, StateCodec.encodeJson(position))
      }
      self.positions.clear()
      for (const { operator } of self.inputs) yield* operator.barrier(0, counting)
      if (self.remote !== undefined) {
        const remote = self.remote
        while (remote.exchanges.some((x) => x.forwardedEpoch < counting.epoch)) {
          yield* remote.dispatch(yield* Queue.take(remote.link.inbox))
        }
      }
    })
  }
}
