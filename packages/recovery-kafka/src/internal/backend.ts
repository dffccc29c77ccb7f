/**
 * The Kafka backend: what `open` puts together for one worker. Each concern
 * has its own module and state: the progress topic (`progressLog.ts`), the
 * worker's partition of the state topic (`stateIndex.ts`, over the store
 * kit's version log), and the transactional producer (`transactions.ts`).
 * This file decides the order: topics, progress, partition count (R7 and
 * rescaling), then on first use fencing, the state index, and every worker's
 * progress.
 */
import { DataflowError, type RecoveryStore, StoreKit } from "@sluice/core"
import { KafkaClient } from "@sluice/kafka"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Options } from "../KafkaRecovery.js"
import { ProgressLog, type ProgressRecord } from "./progressLog.js"
import { loadStatePartition, StateIndex } from "./stateIndex.js"
import { describe, type StoreErrors, storeErrors } from "./storeErrors.js"
import * as StoreReader from "./storeReader.js"
import { ensureTopics, range, readPartition, type Topics, topicsOf } from "./topics.js"
import * as Transactions from "./transactions.js"

export { topicsOf } from "./topics.js"

const nothing = { plan: { stateRecords: [], outputs: [] }, progress: [] } as const

/** @internal */
export const makeBackend = (options: Options): RecoveryStore.Backend => {
  const topics = topicsOf(options.topicPrefix)
  const errors = storeErrors(options.topicPrefix)
  // one connection per process for every worker of the store; producers stay one per worker
  const shared = KafkaClient.makeShared({
    brokers: options.brokers,
    clientId: options.clientId ?? `sluice-${options.topicPrefix}`,
    ...(options.connectTimeout === undefined ? {} : { connectTimeout: options.connectTimeout }),
    ...(options.requestTimeout === undefined ? {} : { requestTimeout: options.requestTimeout })
  })

  return {
    name: errors.store,
    inspect: StoreReader.make(options),
    open: ({ workerCount, workerIndex }) =>
      Effect.gen(function*() {
        const scope = yield* Effect.scope
        const client = yield* Effect.mapError(shared, errors.unavailable("cannot reach the kafka brokers"))
        const partitions = yield* ensureTopics(client, options, topics, workerCount, errors)
        const progress = new ProgressLog({
          workerIndex,
          partitions,
          errors,
          read: (partition, from, apply) =>
            readPartition(client, errors, { topic: topics.progress, partition, from }, apply)
        })
        yield* progress.refresh(range(0, partitions))

        // set when a rescale being applied opens its new layout: the first write grows the topics
        let growTo: number | undefined
        if (partitions !== workerCount) {
          const meta = progress.meta
          const pending = progress.rescalePlan
          if (pending === undefined) {
            // R7: the store's own meta says which worker count wrote it; core turns that into RecoveryMismatch.
            if (meta !== undefined && meta.workerCount !== workerCount) return guardOnly(meta, undefined, errors)
            yield* adoptRescale(client, topics, errors, progress, partitions, workerCount)
          } else if (partitions < workerCount) {
            // A rescale being applied opens the workers of both layouts, and only its new layout may grow
            // the topics, at its first write: core refuses a run without `rescale: true` when it reads the
            // plan, and that run must leave the topics as they are.
            const plan = StoreKit.decodeRescalePlan(pending)
            if (Either.isLeft(plan) || plan.right.to !== workerCount) return guardOnly(meta, pending, errors)
            growTo = workerCount
          }
        }
        const everyPartition = range(0, workerCount)
        const peers = everyPartition.filter((p) => p !== workerIndex)
        const index = new StateIndex()
        const loadState = (into: StateIndex) => loadStatePartition(client, errors, topics, workerIndex, into)

        // Connecting the producer fences the previous process of this worker, so it comes before any read.
        const ready = yield* Effect.cached(
          Effect.gen(function*() {
            if (growTo !== undefined) {
              yield* growTopics(client, topics, errors, progress, growTo)
            }
            const transactions = yield* Transactions.make({
              client,
              topics,
              workerIndex,
              transactionalId: `sluice.${options.topicPrefix}.worker-${workerIndex}`,
              transactionTimeout: options.transactionTimeout ?? "60 seconds",
              outputTopic: options.outputTopic ?? ((destination) => destination),
              errors
            })
            // InitProducerId bumps the epoch of the transactional id, aborting what a previous
            // process left open and fencing it.
            yield* transactions.transact("fencing the previous producer of this worker", nothing)
            yield* loadState(index)
            yield* progress.refresh(everyPartition)
            progress.markOwnLoaded()
            // Outputs held for epochs every worker has completed since are results: produced now,
            // a rescale that resets this worker after others cannot tell any more which are due.
            yield* release(transactions)
            if (workerCount > 1) {
              yield* Effect.addFinalizer(() => releaseHeld(transactions))
            }
            return transactions
          }).pipe(Scope.extend(scope))
        )

        const agreedNow = () => progress.agreedWith(progress.completed.get(workerIndex) ?? 0, workerCount)

        // Outputs held for epochs every worker has completed since.
        const release = (transactions: Transactions.Transactions) =>
          Effect.gen(function*() {
            if (index.heldCount === 0) return
            yield* progress.refresh(peers)
            const plan = index.planRelease(agreedNow())
            if (plan.outputs.length === 0) return
            yield* transactions.transact("releasing held outputs", { plan, progress: [] })
            plan.apply()
          })

        // Best effort at shutdown; the next open releases what stays held.
        const releaseHeld = (transactions: Transactions.Transactions) =>
          release(transactions).pipe(
            Effect.catchAll((error) => Effect.logWarning(`held outputs stay held: ${error.message}`))
          )

        // A transaction of the progress topic alone: the store meta, the rescale plan.
        const writeProgress = (what: string, records: ReadonlyArray<ProgressRecord>) =>
          Effect.flatMap(
            ready,
            (transactions) => transactions.transact(what, { plan: nothing.plan, progress: records })
          )

        const worker: RecoveryStore.BackendWorker = {
          readMeta: Effect.sync(() => Option.fromNullable(progress.meta)),
          writeMeta: (next) =>
            Effect.map(writeProgress("writing the store meta", [progress.metaRecord(next)]), () => {
              progress.setMeta(next)
            }),
          readProgress: Effect.gen(function*() {
            yield* ready
            yield* progress.refresh(everyPartition)
            return progress.workers
          }),
          discardFrom: (epoch) =>
            Effect.gen(function*() {
              const transactions = yield* ready
              const plan = index.planDiscard(epoch)
              const done = progress.completed.get(workerIndex)
              const rewound = StoreKit.rewindProgress(done, epoch)
              if (plan.stateRecords.length === 0 && rewound === done) return
              yield* transactions.transact(`discarding epochs from ${epoch}`, {
                plan,
                progress: rewound === done ? [] : [progress.progressRecord(rewound ?? 0)]
              })
              plan.apply()
              progress.setOwn(rewound)
            }),
          reset: Effect.gen(function*() {
            const transactions = yield* ready
            yield* progress.refresh(peers)
            const plan = index.planReset(agreedNow())
            yield* transactions.transact(`resetting worker ${workerIndex} for a rescale`, {
              plan,
              progress: progress.resetRecords()
            })
            plan.apply()
            progress.applyReset()
          }),
          rescaleJournal: {
            read: Effect.sync(() => Option.fromNullable(progress.rescalePlan)),
            write: (plan) =>
              Effect.map(writeProgress("writing the rescale plan", progress.rescalePlanRecords(plan)), () => {
                progress.setRescalePlan(plan)
              }),
            clear: Effect.suspend(() => {
              const records = progress.rescalePlanRecords(null)
              if (records.length === 0) return Effect.void
              return Effect.map(writeProgress("clearing the finished rescale plan", records), () => {
                progress.setRescalePlan(null)
              })
            })
          },
          readSnapshots: (stepId, atOrBefore) =>
            Stream.unwrap(Effect.gen(function*() {
              yield* ready
              const kept = index.versions.snapshotsAt(stepId, atOrBefore)
              if (kept !== undefined) return Stream.fromIterable(kept)
              // values were dropped after the first commit: read them again
              const fresh = new StateIndex()
              yield* loadState(fresh)
              return Stream.fromIterable(fresh.versions.snapshotsAt(stepId, atOrBefore) ?? [])
            })),
          commit: (epoch, writes, outputs) =>
            Effect.gen(function*() {
              const transactions = yield* ready
              if (peers.length > 0) yield* progress.refresh(peers)
              const plan = index.planCommit(epoch, writes, outputs, progress.agreedWith(epoch, workerCount))
              yield* transactions.transact(`commit of epoch ${epoch}`, {
                plan,
                progress: [progress.progressRecord(epoch)]
              })
              plan.apply()
              progress.setOwn(epoch)
            })
        }
        return worker
      })
  }
}

/**
 * Topics with another partition count than the run's worker count are a
 * rescale's doing, or a mistake. A rescale resets every worker (`retired`)
 * while its plan is stored: then fewer workers leave the partitions above
 * them unused, and more workers grow the topics (Kafka cannot shrink them).
 */
const adoptRescale = (
  client: KafkaClient.KafkaClient,
  topics: Topics,
  errors: StoreErrors,
  progress: ProgressLog,
  partitions: number,
  workerCount: number
) =>
  Effect.gen(function*() {
    const retired = progress.retired
    const rescaled = partitions > workerCount
      ? range(workerCount, partitions).every((p) => retired.has(p))
      : progress.meta === undefined && progress.completed.size === 0 &&
        range(0, partitions).every((p) => retired.has(p))
    if (!rescaled) {
      return yield* errors.corrupt(
        `topics ${topics.progress} and ${topics.state} have ${partitions} partitions, ` +
          `one per worker, but this run has ${workerCount} workers` +
          (retired.size > 0 ? "; a rescale of this store was left unfinished" : "")
      )
    }
    if (partitions < workerCount) yield* growTopics(client, topics, errors, progress, workerCount)
  })

/**
 * More workers than partitions: the topics grow (Kafka cannot shrink them).
 * The state topic goes first and a topic already grown is left alone, so a
 * growth killed between the two topics is completed by the next one.
 */
const growTopics = (
  client: KafkaClient.KafkaClient,
  topics: Topics,
  errors: StoreErrors,
  progress: ProgressLog,
  workerCount: number
) =>
  Effect.gen(function*() {
    for (const topic of [topics.state, topics.progress]) {
      const grow = errors.unavailable(`cannot grow topic ${topic} to ${workerCount} partitions`)
      const described = yield* Effect.mapError(client.describeTopic(topic), grow)
      if (Option.isSome(described) && described.value.partitions >= workerCount) continue
      yield* Effect.mapError(client.createPartitions(topic, workerCount), grow)
    }
    progress.grow(workerCount)
  })

/** R9: deleting the topics starts the dataflow over. @internal */
export const reset = (
  options: Pick<Options, "brokers" | "topicPrefix" | "connectTimeout">
): Effect.Effect<void, DataflowError.StoreUnavailable> => {
  const topics = topicsOf(options.topicPrefix)
  return Effect.gen(function*() {
    const client = yield* KafkaClient.make({
      brokers: options.brokers,
      ...(options.connectTimeout === undefined ? {} : { connectTimeout: options.connectTimeout })
    })
    yield* client.deleteTopics([topics.progress, topics.state])
  }).pipe(
    Effect.scoped,
    Effect.mapError((cause) =>
      new DataflowError.StoreUnavailable({
        store: `kafka ${options.topicPrefix}`,
        reason: "cannot delete the store's topics",
        cause: describe(cause)
      })
    )
  )
}

/**
 * A store opened with another worker count: it shows its meta and a stored
 * rescale plan, so core can refuse it (R7), and does nothing else.
 */
const guardOnly = (
  meta: RecoveryStore.StoreMeta | undefined,
  plan: Uint8Array | undefined,
  errors: StoreErrors
): RecoveryStore.BackendWorker => {
  const refuse = errors.corrupt(
    plan === undefined
      ? `it was written with ${meta?.workerCount} workers; open it with that worker count`
      : "a rescale of it is being applied; run with `rescale: true` to finish it"
  )
  return {
    readMeta: Effect.succeed(Option.fromNullable(meta)),
    writeMeta: () => Effect.fail(refuse),
    readProgress: Effect.fail(refuse),
    discardFrom: () => Effect.fail(refuse),
    readSnapshots: () => Stream.fail(refuse),
    commit: () => Effect.fail(refuse),
    rescaleJournal: {
      read: Effect.succeed(Option.fromNullable(plan)),
      write: () => Effect.fail(refuse),
      clear: Effect.fail(refuse)
    }
  }
}
