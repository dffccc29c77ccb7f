/**
 * The store read-only, every worker's partition at once, for inspection tools
 * (`RecoveryStore.inspect`, `sluice store inspect` and `dump`).
 *
 * It reads the progress topic and each worker's partition of the state topic
 * with a client of its own (read_committed, as a resume reads them) and never
 * produces: no transactional producer is started, so no worker is fenced and a
 * running dataflow goes on undisturbed. Topics that do not exist are an empty
 * store; nothing is created.
 */
import { type DataflowError, type RecoveryStore } from "@sluice/core"
import { KafkaClient } from "@sluice/kafka"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Options } from "../KafkaRecovery.js"
import { ProgressLog } from "./progressLog.js"
import { loadStatePartition, StateIndex } from "./stateIndex.js"
import { storeErrors } from "./storeErrors.js"
import { range, readPartition, topicsOf } from "./topics.js"

/** @internal */
export const make = (
  options: Options
): Effect.Effect<RecoveryStore.StoreReader, DataflowError.RecoveryError, Scope.Scope> =>
  Effect.gen(function*() {
    const topics = topicsOf(options.topicPrefix)
    const errors = storeErrors(options.topicPrefix)
    const client = yield* Effect.mapError(
      KafkaClient.make({
        brokers: options.brokers,
        clientId: options.clientId ?? `sluice-${options.topicPrefix}-inspect`,
        ...(options.connectTimeout === undefined ? {} : { connectTimeout: options.connectTimeout })
      }),
      errors.unavailable("cannot reach the kafka brokers")
    )
    const [progressTopic, stateTopic] = yield* Effect.all([
      client.describeTopic(topics.progress),
      client.describeTopic(topics.state)
    ]).pipe(Effect.mapError(errors.unavailable("cannot describe the store's topics")))
    if (Option.isNone(progressTopic) || Option.isNone(stateTopic)) return emptyReader
    // no worker of its own: every partition's progress is read as a peer's
    const progress = new ProgressLog({
      workerIndex: -1,
      partitions: progressTopic.value.partitions,
      errors,
      read: (partition, from, apply) =>
        readPartition(client, errors, { topic: topics.progress, partition, from }, apply)
    })
    yield* progress.refresh(range(0, progressTopic.value.partitions))
    const meta = progress.meta
    if (meta === undefined) return emptyReader
    const indexes = yield* Effect.forEach(range(0, meta.workerCount), (partition) => {
      const index = new StateIndex()
      return Effect.as(loadStatePartition(client, errors, topics, partition, index), index)
    })

    const snapshotsOf = (stepId: string, atOrBefore: number) =>
      indexes.flatMap((index) => Array.from(index.versions.snapshotsAt(stepId, atOrBefore) ?? []))

    const reader: RecoveryStore.StoreReader = {
      meta: Option.some(meta),
      progress: progress.workers,
      steps: (atOrBefore) =>
        Effect.sync(() =>
          [...new Set(indexes.flatMap((index) => index.versions.stepIds()))].sort().flatMap((stepId) => {
            const live = snapshotsOf(stepId, atOrBefore)
            const bytes = live.reduce((sum, snapshot) => sum + Buffer.byteLength(snapshot.value), 0)
            return live.length === 0 ? [] : [{ stepId, keys: live.length, bytes }]
          })
        ),
      snapshots: (stepId, atOrBefore) => Stream.suspend(() => Stream.fromIterable(snapshotsOf(stepId, atOrBefore))),
      // produced records are in their topics; what the store holds are outputs of epochs not every worker completed
      outputs: (resumeEpoch) =>
        Effect.sync(() => {
          const byDestination = new Map<string, { records: number; pending: number }>()
          for (const { destination, epoch } of indexes.flatMap((index) => index.heldOutputs())) {
            const usage = byDestination.get(destination) ?? { records: 0, pending: 0 }
            byDestination.set(destination, {
              records: usage.records + 1,
              pending: usage.pending + (epoch >= resumeEpoch ? 1 : 0)
            })
          }
          return [...byDestination].map(([destination, usage]) => ({ destination, ...usage }))
        })
    }
    return reader
  })

const emptyReader: RecoveryStore.StoreReader = {
  meta: Option.none(),
  progress: [],
  steps: () => Effect.succeed([]),
  outputs: () => Effect.succeed([]),
  snapshots: () => Stream.empty
}
