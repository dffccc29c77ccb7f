/**
 * The recovery store: where snapshots and progress live.
 *
 * A dataflow's stateful steps require the `RecoveryStore` service. Swapping the
 * Layer (`RecoveryStore.layerMemory`, the SQLite layer, the Kafka layer) changes
 * the durable backend and nothing else.
 *
 * The service is typed; a backend only stores bytes. A backend implements the
 * small {@link Backend} interface and `RecoveryStore.make` turns it into the
 * service, adding what every backend shares: the guards of R7, the resume point
 * of R3 and the epoch transaction of R1.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import {
  type RecoveryError,
  RecoveryMismatch,
  RescaleUnfinished,
  StoreCorrupt,
  StoreUnavailable,
  StoreVersionUnsupported
} from "./DataflowError.js"
import * as memory from "./internal/memoryBackend.js"
import * as agreement from "./internal/storeKit/agreement.js"
import {
  decodeRescalePlan,
  encodeRescalePlan,
  type PlannedSnapshot,
  planRescale,
  type RescalePlan
} from "./internal/storeKit/rescalePlan.js"

/**
 * The version of the store layout written by this release. A store with a
 * higher version refuses to open (R7).
 *
 * @since 0.1.0
 * @category constants
 */
export const STORE_SCHEMA_VERSION = 1

/**
 * What a store records about the dataflow that wrote it.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoreMeta {
  readonly dataflowId: string
  readonly workerCount: number
  readonly schemaVersion: number
  readonly createdAt: number
}

/**
 * One state write of an epoch: the snapshot of `key` in step `stepId`, or a
 * tombstone (`value: null`) when the key was deleted. Input positions are
 * written the same way, with the input's step id and the partition as key.
 *
 * @since 0.1.0
 * @category models
 */
export interface SnapshotWrite {
  readonly stepId: string
  readonly key: string
  /** The snapshot's UTF-8 text (JSON, R8), or `null` for a tombstone. */
  readonly value: string | null
}

/**
 * An output record that commits inside the epoch's transaction, for outputs
 * that are exactly-once with a store that can hold them (R5): the Kafka store
 * produces it to the topic `destination`, the SQLite store appends it to a
 * table, the memory store to a list.
 *
 * @since 0.1.0
 * @category models
 */
export interface OutputRecord {
  readonly destination: string
  readonly key: Uint8Array | null
  readonly value: Uint8Array
}

/**
 * A live snapshot read back on resume.
 *
 * @since 0.1.0
 * @category models
 */
export interface Snapshot {
  readonly key: string
  /** The snapshot's text as written (JSON, R8); a backend stores it as UTF-8. */
  readonly value: string
}

/**
 * The last epoch a worker completed.
 *
 * @since 0.1.0
 * @category models
 */
export interface WorkerProgress {
  readonly workerIndex: number
  readonly epoch: number
}

/**
 * The byte-level interface a durable backend implements. Everything typed
 * (schemas, guards, the resume calculation) lives in core.
 *
 * @example
 * ```ts
 * import { RecoveryStore } from "@sluice/core"
 * // a backend that wraps the memory one and counts commits
 * const handle = RecoveryStore.makeMemoryHandle()
 * const inner = RecoveryStore.memoryBackend(handle)
 * const counting: RecoveryStore.Backend = { ...inner, name: "counting memory" }
 * const layer = RecoveryStore.layer(counting)
 * ```
 * @since 0.1.0
 * @category backends
 */
export interface Backend {
  /** Names the store in errors and logs, e.g. `sqlite ./state`. */
  readonly name: string
  /** Opens the store for one worker; resources (files, locks, producers) live in the scope. */
  readonly open: (options: {
    readonly workerIndex: number
    readonly workerCount: number
  }) => Effect.Effect<BackendWorker, RecoveryError, Scope.Scope>
  /**
   * A read-only view of the whole store, for inspection tools; see
   * {@link StoreReader}. A store without it cannot be inspected.
   */
  readonly inspect?: Effect.Effect<StoreReader, RecoveryError, Scope.Scope>
}

/**
 * One worker's view of a backend.
 *
 * @since 0.1.0
 * @category backends
 */
export interface BackendWorker {
  /** The metadata written when the store was created, if any. */
  readonly readMeta: Effect.Effect<Option.Option<StoreMeta>, RecoveryError>
  /** Records the metadata of a fresh store. */
  readonly writeMeta: (meta: StoreMeta) => Effect.Effect<void, RecoveryError>
  /** The last completed epoch of every worker that has completed one. */
  readonly readProgress: Effect.Effect<ReadonlyArray<WorkerProgress>, RecoveryError>
  /** Forgets this worker's progress and writes of epochs `>= epoch`: they were never agreed by all workers. */
  readonly discardFrom: (epoch: number) => Effect.Effect<void, RecoveryError>
  /** For every key of the step, the newest write at or before `epoch`, leaving out tombstones. */
  readonly readSnapshots: (stepId: string, atOrBefore: number) => Stream.Stream<Snapshot, RecoveryError>
  /**
   * The newest snapshot at or before `atOrBefore` of each of `keys` that has one (tombstones left out), in any
   * order. A backend without it is restored eagerly even when a run asks for `restore: "lazy"`.
   */
  readonly readKeys?: (
    stepId: string,
    keys: ReadonlyArray<string>,
    atOrBefore: number
  ) => Effect.Effect<ReadonlyArray<Snapshot>, RecoveryError>
  /**
   * Atomically stores the epoch's writes and marks the epoch complete for this
   * worker (R1), then collects snapshots no longer needed (R6).
   */
  readonly commit: (
    epoch: number,
    writes: ReadonlyArray<SnapshotWrite>,
    outputs: ReadonlyArray<OutputRecord>
  ) => Effect.Effect<void, RecoveryError>
  /**
   * Starts `commit` and returns what waits for its end, for a backend that
   * writes without the caller's thread (SQLite commits on a thread of its
   * own): a run goes on with its next epochs meanwhile, and reports each
   * once it has ended. Epochs commit in the order begun, and none after one
   * that failed. Without it the run commits with `commit` and waits.
   */
  readonly beginCommit?: (
    epoch: number,
    writes: ReadonlyArray<SnapshotWrite>,
    outputs: ReadonlyArray<OutputRecord>
  ) => Effect.Effect<Effect.Effect<void, RecoveryError>, RecoveryError>
  /**
   * Deletes this worker's metadata, progress and snapshots; output records are
   * delivered results and stay. A store without it, or without
   * `rescaleJournal`, cannot be rescaled.
   */
  readonly reset?: Effect.Effect<void, RecoveryError>
  /** Where a rescale keeps its plan while it rewrites the workers; every worker sees the same journal. */
  readonly rescaleJournal?: RescaleJournal
}

/**
 * The one place a store keeps the plan of a rescale (`StoreKit.encodeRescalePlan`
 * bytes) while the rescale resets the old workers and writes the new ones.
 * Storing the plan is the rescale's atomic step: before it the old layout is
 * untouched, after it the rescale is finished from the plan by the next run
 * with `rescale: true`, and runs without refuse with `RescaleUnfinished`.
 *
 * @example
 * ```ts
 * import { Effect, Option } from "effect"
 * import { RecoveryStore } from "@sluice/core"
 * // a journal in memory: a durable store writes a file or a record instead
 * let stored: Uint8Array | undefined
 * const journal: RecoveryStore.RescaleJournal = {
 *   read: Effect.sync(() => Option.fromNullable(stored)),
 *   write: (plan) => Effect.sync(() => { stored = plan }),
 *   clear: Effect.sync(() => { stored = undefined })
 * }
 * ```
 * @since 0.1.0
 * @category backends
 */
export interface RescaleJournal {
  /** The stored plan, if a rescale was stopped before `clear`. */
  readonly read: Effect.Effect<Option.Option<Uint8Array>, RecoveryError>
  /** Stores the plan durably and atomically: after a crash, either all of it is there or none. */
  readonly write: (plan: Uint8Array) => Effect.Effect<void, RecoveryError>
  /** Removes the plan once the rescale it describes is applied; does nothing without one. */
  readonly clear: Effect.Effect<void, RecoveryError>
}

/**
 * Live keys of one step at an epoch, and the bytes of their snapshots.
 *
 * @since 0.2.0
 * @category inspection
 */
export interface StepUsage {
  readonly stepId: string
  readonly keys: number
  readonly bytes: number
}

/**
 * The transactional output records (R5) a store holds for one destination:
 * all of them, and those of epochs at or after the resume epoch, which a
 * resume discards and redoes.
 *
 * @since 0.2.0
 * @category inspection
 */
export interface OutputUsage {
  readonly destination: string
  readonly records: number
  readonly pending: number
}

/**
 * A read-only view of a whole store (every worker at once), for tools such as
 * `sluice store inspect` and `sluice store dump`. A backend offers it as
 * {@link Backend.inspect}: opening it must change nothing a run reads or
 * writes and take no lock a run needs, so it can look at a store while a run
 * holds it, or say why it cannot.
 *
 * @since 0.2.0
 * @category inspection
 */
export interface StoreReader {
  /** The metadata the store was created with; none for a store no run has opened. */
  readonly meta: Option.Option<StoreMeta>
  /** The last completed epoch of every worker that has completed one. */
  readonly progress: ReadonlyArray<WorkerProgress>
  /** Every step with live keys at `atOrBefore`, over all workers, in step id order. */
  readonly steps: (atOrBefore: number) => Effect.Effect<ReadonlyArray<StepUsage>, RecoveryError>
  /** Every live snapshot of the step at `atOrBefore`, over all workers, leaving out tombstones. */
  readonly snapshots: (stepId: string, atOrBefore: number) => Stream.Stream<Snapshot, RecoveryError>
  /** Transactional output records held per destination; `pending` counts those of epochs `>= resumeEpoch`. */
  readonly outputs: (resumeEpoch: number) => Effect.Effect<ReadonlyArray<OutputUsage>, RecoveryError>
}

/**
 * What {@link inspect} reports about a store.
 *
 * @since 0.2.0
 * @category inspection
 */
export interface StoreInspection {
  /** The backend's name, e.g. `sqlite /data/state`. */
  readonly store: string
  readonly meta: StoreMeta
  /** One entry per worker, `epoch` 0 for a worker that completed none. */
  readonly progress: ReadonlyArray<WorkerProgress>
  /** Where the next run starts (R3). */
  readonly resumeEpoch: number
  /** Live keys per step as of `resumeEpoch - 1`: what the next run loads. */
  readonly steps: ReadonlyArray<StepUsage>
  readonly outputs: ReadonlyArray<OutputUsage>
}

/**
 * The writes of one epoch, gathered while the epoch runs and committed together.
 *
 * @since 0.1.0
 * @category models
 */
export interface EpochTransaction {
  readonly epoch: number
  /** Buffers a snapshot (or a tombstone with `null`); nothing is visible before commit. */
  readonly write: (stepId: string, key: string, value: string | null) => void
  /** Buffers an output record that becomes visible with the commit, and never without it. */
  readonly writeOutput: (record: OutputRecord) => void
}

/**
 * A worker's open session with the store.
 *
 * @since 0.1.0
 * @category models
 */
export interface WorkerRecovery {
  readonly workerIndex: number
  /** `1 + min(last completed epoch of each worker)`; 1 for a fresh store (R3). */
  readonly resumeEpoch: number
  /** The snapshots of a step as of `resumeEpoch - 1`. */
  readonly snapshots: (stepId: string) => Stream.Stream<Snapshot, RecoveryError>
  /**
   * The snapshots of some keys of a step as of `resumeEpoch - 1`, for lazy
   * restore; absent when the backend has no `readKeys`, and the run then
   * restores eagerly. Keys without a snapshot are left out.
   */
  readonly snapshotsOf?: (stepId: string, keys: ReadonlyArray<string>) => Effect.Effect<
    ReadonlyArray<Snapshot>,
    RecoveryError
  >
  /**
   * Runs `body` as epoch `epoch`: the writes it makes commit together with the
   * "epoch complete" mark when it succeeds, and are discarded when it fails.
   */
  readonly transaction: <A, E, R>(
    epoch: number,
    body: (transaction: EpochTransaction) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | RecoveryError, R>
  /**
   * Runs `body` as epoch `epoch`, then `before`, then starts the commit and
   * returns without waiting for its end: `committed` waits for it, and fails
   * as `transaction` would. Epochs commit in the order begun, so a run goes
   * on with its next epoch's body while the ones before commit.
   */
  readonly pipelinedTransaction: <A, E, R, E2, R2>(
    epoch: number,
    body: (transaction: EpochTransaction) => Effect.Effect<A, E, R>,
    before: Effect.Effect<void, E2, R2>
  ) => Effect.Effect<
    { readonly value: A; readonly committed: Effect.Effect<void, RecoveryError> },
    E | E2 | RecoveryError,
    R | R2
  >
  /**
   * Whether `committed` of `pipelinedTransaction` may still be waiting when
   * it returns: the backend has `beginCommit`. Otherwise the epoch is durable
   * by then.
   */
  readonly commitsInBackground: boolean
}

/**
 * The recovery store service.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RecoveryStore } from "@sluice/core"
 *
 * const resumeEpoch = Effect.gen(function*() {
 *   const store = yield* RecoveryStore.RecoveryStore
 *   const worker = yield* store.open({ dataflowId: "wc", workerIndex: 0, workerCount: 1 })
 *   return worker.resumeEpoch
 * }).pipe(Effect.scoped, Effect.provide(RecoveryStore.layerMemory()))
 * ```
 * @since 0.1.0
 * @category tags
 */
export class RecoveryStore extends Context.Tag("@sluice/core/RecoveryStore")<RecoveryStore, {
  readonly name: string
  readonly open: (options: {
    readonly dataflowId: string
    readonly workerIndex: number
    readonly workerCount: number
  }) => Effect.Effect<WorkerRecovery, RecoveryError, Scope.Scope>
  /**
   * Moves a store written by another number of workers to `workerCount`
   * workers: the snapshots of the resume point of every step in `stepIds` go
   * to the worker `route` names. Returns the worker count found, or none when
   * the store is fresh or already has `workerCount`.
   */
  readonly rescale: (options: {
    readonly dataflowId: string
    readonly workerCount: number
    readonly stepIds: ReadonlyArray<string>
    readonly route: (stepId: string, key: string) => number
  }) => Effect.Effect<Option.Option<number>, RecoveryError>
}>() {}

/**
 * Builds the service from a byte-level backend.
 *
 * @example
 * ```ts
 * import { RecoveryStore } from "@sluice/core"
 * const store = RecoveryStore.make(RecoveryStore.memoryBackend(RecoveryStore.makeMemoryHandle()))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (backend: Backend): RecoveryStore["Type"] => ({
  name: backend.name,
  rescale: (options) => rescaleWith(backend, options),
  open: ({ dataflowId, workerCount, workerIndex }) =>
    Effect.gen(function*() {
      const worker = yield* backend.open({ workerIndex, workerCount })
      const plan = yield* readPlan(backend, worker)
      if (Option.isSome(plan)) {
        // R7: a stopped rescale is finished by `rescale: true`; this run changes nothing.
        yield* checkIdentity(plan.value.meta, dataflowId)
        return yield* new RescaleUnfinished({
          store: backend.name,
          dataflowId,
          from: plan.value.from,
          to: plan.value.to
        })
      }
      const meta = yield* worker.readMeta
      if (Option.isSome(meta)) {
        // R7: refuse before changing anything.
        yield* checkIdentity(meta.value, dataflowId)
        if (meta.value.workerCount !== workerCount) {
          return yield* new RecoveryMismatch({
            field: "workerCount",
            expected: workerCount,
            found: meta.value.workerCount
          })
        }
      } else {
        yield* worker.writeMeta({
          dataflowId,
          workerCount,
          schemaVersion: STORE_SCHEMA_VERSION,
          createdAt: Date.now()
        })
      }
      const resumeEpoch = resumeEpochOf(yield* worker.readProgress, workerCount)
      // Epochs some worker completed beyond the agreed point are redone; their
      // writes must not shadow the redone ones.
      yield* worker.discardFrom(resumeEpoch)
      yield* Effect.annotateLogs(Effect.logDebug("recovery store opened"), {
        store: backend.name,
        dataflowId,
        workerIndex,
        resumeEpoch
      })
      const recovery: WorkerRecovery = {
        workerIndex,
        resumeEpoch,
        snapshots: (stepId) => worker.readSnapshots(stepId, resumeEpoch - 1),
        // Keys a run has not touched since its resume have no newer write, and
        // collection (R6) keeps the newest version of each key: reading them
        // at the resume point stays right for the whole run.
        ...(worker.readKeys === undefined ? {} : {
          snapshotsOf: (stepId: string, keys: ReadonlyArray<string>) => worker.readKeys!(stepId, keys, resumeEpoch - 1)
        }),
        transaction: (epoch, body) =>
          Effect.suspend(() => {
            const buffer = epochBuffer(epoch)
            // The buffer is the transaction: a failed body leaves it unreferenced.
            return Effect.flatMap(
              body(buffer.transaction),
              (a) => Effect.as(worker.commit(epoch, buffer.writes, buffer.outputs), a)
            )
          }),
        pipelinedTransaction: (epoch, body, before) =>
          Effect.suspend(() => {
            const buffer = epochBuffer(epoch)
            const begin = worker.beginCommit ??
              ((epoch, writes, outputs) => Effect.as(worker.commit(epoch, writes, outputs), Effect.void))
            return body(buffer.transaction).pipe(
              Effect.zipLeft(before),
              Effect.flatMap((value) =>
                Effect.map(begin(epoch, buffer.writes, buffer.outputs), (committed) => ({ value, committed }))
              )
            )
          }),
        commitsInBackground: worker.beginCommit !== undefined
      }
      return recovery
    })
})

/** An epoch's writes and output records, gathered by its transaction until it commits. */
const epochBuffer = (epoch: number) => {
  const writes: Array<SnapshotWrite> = []
  const outputs: Array<OutputRecord> = []
  const transaction: EpochTransaction = {
    epoch,
    write: (stepId, key, value) => {
      writes.push({ stepId, key, value })
    },
    writeOutput: (record) => {
      outputs.push(record)
    }
  }
  return { writes, outputs, transaction }
}

/** The plan a stopped rescale left in the store, if any. */
const readPlan = (backend: Backend, worker: BackendWorker): Effect.Effect<Option.Option<RescalePlan>, RecoveryError> =>
  worker.rescaleJournal === undefined ? Effect.succeed(Option.none()) : Effect.flatMap(
    worker.rescaleJournal.read,
    Option.match({
      onNone: () => Effect.succeed(Option.none()),
      onSome: (bytes) =>
        Either.match(decodeRescalePlan(bytes), {
          onLeft: (problem) =>
            new StoreCorrupt({ store: backend.name, reason: `the stored rescale plan does not parse: ${problem}` }),
          onRight: (plan) => Effect.succeed(Option.some(plan))
        })
    })
  )

/** R7 checks that do not depend on the worker count: refuse before changing anything. */
const checkIdentity = (meta: StoreMeta, dataflowId: string): Effect.Effect<void, RecoveryError> => {
  if (meta.schemaVersion > STORE_SCHEMA_VERSION) {
    return new StoreVersionUnsupported({ found: meta.schemaVersion, supported: STORE_SCHEMA_VERSION })
  }
  if (meta.dataflowId !== dataflowId) {
    return new RecoveryMismatch({ field: "dataflowId", expected: dataflowId, found: meta.dataflowId })
  }
  return Effect.void
}

const cannotRescale = (backend: Backend, missing: string) =>
  new StoreUnavailable({
    store: backend.name,
    reason: `this store cannot be rescaled: its backend has no ${missing}`,
    cause: undefined
  })

/**
 * Rescaling is an explicit operation (R7 refuses a changed worker count
 * otherwise), crash-safe in three phases:
 *
 * 1. read the old layout's resume point and route its snapshots to the new
 *    workers, writing nothing;
 * 2. store that plan in the journal, in one atomic step;
 * 3. apply the plan: discard the epochs to be redone and reset every worker
 *    of both layouts, then write each new worker's meta and share, then clear
 *    the journal.
 *
 * A stop before phase 2 leaves the old layout as it was; a stop in phase 3
 * leaves the plan, and the next rescale applies it again from the start
 * (every step of phase 3 can be repeated) before anything else.
 */
const rescaleWith = (
  backend: Backend,
  options: Parameters<RecoveryStore["Type"]["rescale"]>[0]
): Effect.Effect<Option.Option<number>, RecoveryError> =>
  Effect.gen(function*() {
    const { dataflowId, route, stepIds, workerCount } = options
    // each phase opens and closes its own workers: a store may lock a worker while it is open
    const found = yield* Effect.scoped(Effect.gen(function*() {
      const worker = yield* backend.open({ workerIndex: 0, workerCount })
      return { plan: yield* readPlan(backend, worker), meta: yield* worker.readMeta }
    }))
    let meta = found.meta
    if (Option.isSome(found.plan)) {
      const plan = found.plan.value
      yield* checkIdentity(plan.meta, dataflowId)
      yield* Effect.logInfo(
        `finishing the stopped rescale of dataflow ${dataflowId} from ${plan.from} to ${plan.to} workers ` +
          `at epoch ${plan.resumeEpoch}`
      )
      yield* applyPlan(backend, plan)
      if (plan.to === workerCount) return Option.some(plan.from)
      meta = Option.some({ ...plan.meta, workerCount: plan.to })
    }
    if (Option.isNone(meta) || meta.value.workerCount === workerCount) return Option.none()
    yield* checkIdentity(meta.value, dataflowId)
    const from = meta.value.workerCount
    const snapshots: Array<PlannedSnapshot> = []
    let resumeEpoch = 1
    for (let workerIndex = 0; workerIndex < from; workerIndex++) {
      yield* Effect.scoped(Effect.gen(function*() {
        const worker = yield* backend.open({ workerIndex, workerCount: from })
        if (worker.reset === undefined) return yield* cannotRescale(backend, "reset")
        if (worker.rescaleJournal === undefined) return yield* cannotRescale(backend, "rescaleJournal")
        if (workerIndex === 0) resumeEpoch = resumeEpochOf(yield* worker.readProgress, from)
        for (const stepId of stepIds) {
          yield* Stream.runForEach(worker.readSnapshots(stepId, resumeEpoch - 1), ({ key, value }) =>
            Effect.sync(() => {
              snapshots.push({ stepId, key, value })
            }))
        }
      }))
    }
    const plan = planRescale({ meta: meta.value, to: workerCount, resumeEpoch, snapshots, route })
    yield* Effect.logInfo(
      `rescaling dataflow ${dataflowId} from ${from} to ${workerCount} workers at epoch ${resumeEpoch}`
    )
    yield* Effect.scoped(Effect.flatMap(
      backend.open({ workerIndex: 0, workerCount: from }),
      (worker) => worker.rescaleJournal!.write(encodeRescalePlan(plan))
    ))
    yield* applyPlan(backend, plan)
    return Option.some(Option.isSome(found.plan) ? found.plan.value.from : from)
  })

/** Phase 3 of a rescale; every step can run again after a stop anywhere in it. */
const applyPlan = (backend: Backend, plan: RescalePlan): Effect.Effect<void, RecoveryError> =>
  Effect.gen(function*() {
    const { from, resumeEpoch, shares, to } = plan
    for (let workerIndex = 0; workerIndex < Math.max(from, to); workerIndex++) {
      yield* Effect.scoped(Effect.gen(function*() {
        const worker = yield* backend.open({ workerIndex, workerCount: workerIndex < from ? from : to })
        if (worker.reset === undefined) return yield* cannotRescale(backend, "reset")
        // Output records of epochs the new workers redo must go before the reset keeps the rest.
        if (workerIndex < from) yield* worker.discardFrom(resumeEpoch)
        yield* worker.reset
      }))
    }
    for (let workerIndex = 0; workerIndex < to; workerIndex++) {
      yield* Effect.scoped(Effect.gen(function*() {
        const worker = yield* backend.open({ workerIndex, workerCount: to })
        yield* worker.writeMeta({ ...plan.meta, workerCount: to })
        if (resumeEpoch > 1) yield* worker.commit(resumeEpoch - 1, shares[workerIndex], [])
      }))
    }
    yield* Effect.scoped(Effect.flatMap(
      backend.open({ workerIndex: 0, workerCount: to }),
      (worker) =>
        worker.rescaleJournal === undefined ? cannotRescale(backend, "rescaleJournal") : worker.rescaleJournal.clear
    ))
  })

/**
 * R3: one past the smallest last-completed epoch over all workers; a worker
 * that never completed an epoch holds everyone at epoch 1. The same as
 * `StoreKit.resumeEpoch`, kept here for the service's users.
 *
 * @example
 * ```ts
 * import { RecoveryStore } from "@sluice/core"
 * RecoveryStore.resumeEpochOf([{ workerIndex: 0, epoch: 7 }, { workerIndex: 1, epoch: 5 }], 2) // 6
 * RecoveryStore.resumeEpochOf([{ workerIndex: 0, epoch: 7 }], 2) // 1
 * ```
 * @since 0.1.0
 * @category resume
 */
export const resumeEpochOf: (progress: ReadonlyArray<WorkerProgress>, workerCount: number) => number =
  agreement.resumeEpoch

/**
 * Opens a backend's read-only view ({@link Backend.inspect}) for the scope;
 * a backend without one fails with `StoreUnavailable` saying so.
 *
 * @example
 * ```ts
 * import { RecoveryStore } from "@sluice/core"
 * import { Effect, Stream } from "effect"
 *
 * declare const backend: RecoveryStore.Backend
 * const keys = RecoveryStore.openReader(backend).pipe(
 *   Effect.flatMap((reader) => Stream.runCount(reader.snapshots("count", 12))),
 *   Effect.scoped
 * )
 * ```
 * @since 0.2.0
 * @category inspection
 */
export const openReader = (
  backend: Pick<Backend, "name" | "inspect">
): Effect.Effect<StoreReader, RecoveryError, Scope.Scope> =>
  backend.inspect === undefined
    ? Effect.fail(
      new StoreUnavailable({
        store: backend.name,
        reason: "this store cannot be inspected: its backend offers no read-only view (Backend.inspect)",
        cause: undefined
      })
    )
    : backend.inspect

/**
 * Reads what a store holds without changing it: its dataflow, version and
 * worker count, each worker's last completed epoch, the resume epoch, live
 * keys and bytes per step at the resume point, and the transactional output
 * records it holds. `None` for a store no run has opened yet. A backend
 * without {@link Backend.inspect} fails with `StoreUnavailable`.
 *
 * @example
 * ```ts
 * import { RecoveryStore } from "@sluice/core"
 * import { Effect, Option } from "effect"
 *
 * declare const backend: RecoveryStore.Backend
 * const resumeEpoch = RecoveryStore.inspect(backend).pipe(
 *   Effect.map(Option.map((inspection) => inspection.resumeEpoch)),
 *   Effect.scoped
 * )
 * ```
 * @since 0.2.0
 * @category inspection
 */
export const inspect = (
  backend: Pick<Backend, "name" | "inspect">
): Effect.Effect<Option.Option<StoreInspection>, RecoveryError, Scope.Scope> =>
  Effect.gen(function*() {
    const reader = yield* openReader(backend)
    if (Option.isNone(reader.meta)) return Option.none()
    const meta = reader.meta.value
    const resumeEpoch = resumeEpochOf(reader.progress, meta.workerCount)
    const progress = Array.from({ length: meta.workerCount }, (_, workerIndex) => ({
      workerIndex,
      epoch: reader.progress.find((p) => p.workerIndex === workerIndex)?.epoch ?? 0
    }))
    return Option.some({
      store: backend.name,
      meta,
      progress,
      resumeEpoch,
      steps: yield* reader.steps(resumeEpoch - 1),
      outputs: yield* reader.outputs(resumeEpoch)
    })
  })

/**
 * A Layer of the service over a backend.
 *
 * @example
 * ```ts
 * import { RecoveryStore } from "@sluice/core"
 * const layer = RecoveryStore.layer(RecoveryStore.memoryBackend(RecoveryStore.makeMemoryHandle()))
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = (backend: Backend): Layer.Layer<RecoveryStore> => Layer.succeed(RecoveryStore, make(backend))

/**
 * In-memory store data that outlives one run, so a test can run a flow, make
 * it fail, and run it again against the same data.
 *
 * @since 0.1.0
 * @category memory
 */
export type MemoryHandle = memory.MemoryHandle

/**
 * Makes an empty in-memory store.
 *
 * @example
 * ```ts
 * import { RecoveryStore } from "@sluice/core"
 * const handle = RecoveryStore.makeMemoryHandle()
 * const first = RecoveryStore.layerMemory(handle)
 * const restarted = RecoveryStore.layerMemory(handle) // sees what the first run committed
 * handle.stats() // { snapshots: 0, tombstones: 0, completedEpochs: [] }
 * ```
 * @since 0.1.0
 * @category memory
 */
export const makeMemoryHandle: () => MemoryHandle = memory.makeHandle

/**
 * The in-memory backend over a handle, for wrapping in tests.
 *
 * @example
 * ```ts
 * import { RecoveryStore } from "@sluice/core"
 * const backend = RecoveryStore.memoryBackend(RecoveryStore.makeMemoryHandle())
 * ```
 * @since 0.1.0
 * @category memory
 */
export const memoryBackend: (handle: MemoryHandle) => Backend = memory.makeBackend

/**
 * The in-memory store. Without a handle every run starts fresh.
 *
 * @example
 * ```ts
 * import { RecoveryStore } from "@sluice/core"
 * const layer = RecoveryStore.layerMemory()
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (handle?: MemoryHandle): Layer.Layer<RecoveryStore> =>
  Layer.suspend(() => layer(memory.makeBackend(handle ?? memory.makeHandle())))
