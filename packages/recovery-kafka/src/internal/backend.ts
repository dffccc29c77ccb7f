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
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Options } from "../KafkaRecovery.js"
import { ProgressLog } from "./progressLog.js"
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
    ...(options.connectTimeout === undefined ? {} : { connectTimeout: options.connectTimeout })
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

        if (partitions !== workerCount) {
          const meta = progress.meta
          // R7: the store's own meta says which worker count wrote it; core turns that into RecoveryMismatch.
          if (meta !== undefined && meta.workerCount !== workerCount) return guardOnly(meta, errors)
          yield* adoptRescale(client, topics, errors, progress, partitions, workerCount)
        }
        const everyPartition = range(0, workerCount)
        const peers = everyPartition.filter((p) => p !== workerIndex)
        const index = new StateIndex()
        const loadState = (into: StateIndex) => loadStatePartition(client, errors, topics, workerIndex, into)

        // Connecting the producer fences the previous process of this worker, so it comes before any read.
        const ready = yield* Effect.cached(
          Effect.gen(function*() {
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
            if (workerCount > 1) {
              yield* Effect.addFinalizer(() => releaseHeld(transactions))
            }
            return transactions
          }).pipe(Scope.extend(scope))
        )

        const agreedNow = () => progress.agreedWith(progress.completed.get(workerIndex) ?? 0, workerCount)

        // Best effort at shutdown: outputs held for epochs every worker has completed since.
        const releaseHeld = (transactions: Transactions.Transactions) =>
          Effect.gen(function*() {
            if (index.heldCount === 0) return
            yield* progress.refresh(peers)
            const plan = index.planRelease(agreedNow())
            if (plan.outputs.length === 0) return
            yield* transactions.transact("releasing held outputs", { plan, progress: [] })
            plan.apply()
          }).pipe(Effect.catchAll((error) => Effect.logWarning(`held outputs stay held: ${error.message}`)))

        const worker: RecoveryStore.BackendWorker = {
          readMeta: Effect.sync(() => Option.fromNullable(progress.meta)),
          writeMeta: (next) =>
            Effect.gen(function*() {
              const transactions = yield* ready
              yield* transactions.transact("writing the store meta", {
                plan: nothing.plan,
                progress: [progress.metaRecord(next)]
              })
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
 * rescale's doing, or a mistake. A rescale resets every worker first
 * (`retired`): then fewer workers leave the partitions above them unused, and
 * more workers grow the topics (Kafka cannot shrink them).
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
    if (partitions < workerCount) {
      yield* Effect.forEach([topics.progress, topics.state], (topic) =>
        client.createPartitions(topic, workerCount).pipe(
          Effect.mapError(errors.unavailable(`cannot grow topic ${topic} to ${workerCount} partitions`))
        ), { discard: true })
      progress.grow(workerCount)
    }
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

/** A store opened with another worker count: it shows its meta, so core can refuse it (R7), and does nothing else. */
const guardOnly = (meta: RecoveryStore.StoreMeta, errors: StoreErrors): RecoveryStore.BackendWorker => {
  const refuse = errors.corrupt(`it was written with ${meta.workerCount} workers; open it with that worker count`)
  return {
    readMeta: Effect.succeed(Option.some(meta)),
    writeMeta: () => Effect.fail(refuse),
    readProgress: Effect.fail(refuse),
    discardFrom: () => Effect.fail(refuse),
    readSnapshots: () => Stream.fail(refuse),
    commit: () => Effect.fail(refuse)
  }
}
