/**
 * One worker's transactional producer: each change of the store is one Kafka
 * transaction holding its state records, its progress records and the output
 * records it releases (R1, R5). The transactional id is fixed per store and
 * worker, so a restarted worker fences its predecessor.
 */
import type { DataflowError } from "@sluice/core"
import { KafkaClient, KafkaError } from "@sluice/kafka"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { ProgressRecord } from "./progressLog.js"
import { decodeStateKey } from "./records.js"
import type { Plan } from "./stateIndex.js"
import type { StoreErrors } from "./storeErrors.js"
import type { Topics } from "./topics.js"

/** How long a commit waits for its records to become readable before it goes on with a warning. */
const visibilityTimeout = Duration.seconds(10)

const fencedTypes = new Set(["INVALID_PRODUCER_EPOCH", "PRODUCER_FENCED", "INVALID_PRODUCER_ID_MAPPING"])

/**
 * The broker writes the commit markers after it answers the commit; these
 * waits follow the broker, on the wall clock, not on a `TestClock` that
 * drives the dataflow.
 */
const onWallClock: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R> = Effect.withClock(
  Clock.make()
)

/** What one transaction writes. @internal */
export interface Change {
  readonly plan: Pick<Plan, "stateRecords" | "outputs">
  readonly progress: ReadonlyArray<ProgressRecord>
}

/** @internal */
export interface Transactions {
  /** Commits `change` as one transaction; `what` names it in errors. */
  readonly transact: (what: string, change: Change) => Effect.Effect<void, DataflowError.StoreUnavailable>
}

/** @internal */
export const make = (options: {
  readonly client: KafkaClient.KafkaClient
  readonly topics: Topics
  readonly workerIndex: number
  readonly transactionalId: string
  readonly transactionTimeout: Duration.DurationInput
  readonly outputTopic: (destination: string) => string
  readonly errors: StoreErrors
}): Effect.Effect<Transactions, DataflowError.StoreUnavailable, Scope.Scope> =>
  Effect.gen(function*() {
    const { client, errors, topics, transactionalId, workerIndex } = options
    const producer = yield* client.producer({ transactionalId, transactionTimeout: options.transactionTimeout }).pipe(
      Effect.mapError(errors.unavailable("cannot connect the producer"))
    )
    const checkedTopics = new Set<string>([topics.progress, topics.state])

    const ensureOutputTopics = (change: Change) =>
      Effect.forEach(
        new Set(change.plan.outputs.map(({ record }) => options.outputTopic(record.destination))),
        (topic) =>
          checkedTopics.has(topic) ? Effect.void : Effect.gen(function*() {
            if (Option.isNone(yield* client.describeTopic(topic))) yield* client.createTopic({ topic })
            checkedTopics.add(topic)
          }).pipe(Effect.mapError(errors.unavailable(`cannot create output topic ${topic}`))),
        { discard: true }
      )

    const recordsOf = (change: Change): Array<KafkaClient.TopicRecords> => {
      const out: Array<KafkaClient.TopicRecords> = []
      if (change.plan.stateRecords.length > 0) {
        out.push({
          topic: topics.state,
          records: change.plan.stateRecords.map(({ key, value }) => ({ key, value, partition: workerIndex }))
        })
      }
      if (change.progress.length > 0) out.push({ topic: topics.progress, records: change.progress })
      const byTopic = new Map<string, Array<KafkaClient.ProducerRecord>>()
      // one headers object per epoch, shared by its records: an epoch releases many
      const headersOf = new Map<number, Readonly<Record<string, string>>>()
      for (const { epoch, record } of change.plan.outputs) {
        const topic = options.outputTopic(record.destination)
        let records = byTopic.get(topic)
        if (records === undefined) byTopic.set(topic, records = [])
        let headers = headersOf.get(epoch)
        if (headers === undefined) {
          headersOf.set(epoch, headers = { "sluice-epoch": String(epoch), "sluice-worker": String(workerIndex) })
        }
        records.push({ key: record.key, value: record.value, headers })
      }
      for (const [topic, records] of byTopic) out.push({ topic, records })
      return out
    }

    /** Per topic and partition, the first offset the transaction wrote there. */
    const send = (what: string, batch: ReadonlyArray<KafkaClient.TopicRecords>) =>
      producer.transaction((transaction) =>
        Effect.gen(function*() {
          const written = new Map<string, Map<number, number>>()
          // the client splits the batch into requests the broker accepts, and answers in their order
          for (const { baseOffset, partition, topic } of yield* transaction.send(batch)) {
            if (baseOffset === undefined) continue
            let partitions = written.get(topic)
            if (partitions === undefined) written.set(topic, partitions = new Map())
            if (!partitions.has(partition)) partitions.set(partition, baseOffset)
          }
          return written
        })
      ).pipe(Effect.mapError((cause) =>
        cause._tag === "RecordTooLarge"
          ? errors.unavailable(`${what} failed: ${tooLarge(cause)}`)(cause)
          : fencedTypes.has(KafkaError.protocolErrorType(cause) ?? "")
          ? errors.unavailable(
            `worker ${workerIndex} was fenced: another process opened this store as the same worker ` +
              `(transactional id ${transactionalId})`
          )(cause)
          : errors.unavailable(`${what} failed`)(cause)
      ))

    /**
     * What the broker refused, in the store's terms: a snapshot is named by
     * its step and key (from the record key), and the setting to raise is the
     * topic's, which `topicConfig` sets only when the store creates it.
     */
    const tooLarge = (cause: KafkaError.RecordTooLarge): string => {
      const key = cause.key === null ? undefined : decodeStateKey(utf8.encode(cause.key))
      const record = cause.topic !== topics.state
        ? `an output record for topic ${cause.topic}`
        : key?._tag === "Version"
        ? `the snapshot of step ${key.stepId} at key ${key.key}`
        : key?._tag === "Held"
        ? `an output record held for epoch ${key.epoch}`
        : "a record"
      return `${record} is too large for the broker; raise max.message.bytes of topic ${cause.topic} ` +
        `(kafka-configs.sh --alter --entity-type topics --entity-name ${cause.topic} ` +
        `--add-config max.message.bytes=<bytes>) or keep it smaller`
    }

    /**
     * read_committed readers see a transaction only once the broker has
     * written its commit markers, after it answered the commit. Waiting for
     * them on the store's own topics makes a commit visible when it returns:
     * to this worker's next read and to the other workers in this process.
     * Output topics are left out: another producer's open transaction there
     * would hold every epoch back, and their consumers see the records soon
     * enough.
     */
    const awaitVisible = (written: ReadonlyMap<string, ReadonlyMap<number, number>>) =>
      Effect.gen(function*() {
        let waiting = [...written].filter(([topic]) => topic === topics.progress || topic === topics.state)
        if (waiting.length === 0) return
        const check = Effect.gen(function*() {
          const still: typeof waiting = []
          for (const [topic, partitions] of waiting) {
            const ends = yield* client.endOffsets(topic, [...partitions.keys()]).pipe(
              Effect.mapError(errors.unavailable(`cannot read the offsets of topic ${topic}`))
            )
            const behind = [...partitions].filter(([partition, first]) => (ends.get(partition) ?? 0) <= first)
            if (behind.length > 0) still.push([topic, new Map(behind)])
          }
          waiting = still
          return still.length === 0
        })
        const startedAt = yield* Clock.currentTimeMillis
        const visible = yield* check.pipe(
          Effect.repeat({ schedule: Schedule.spaced("2 millis"), until: (done) => done }),
          Effect.timeoutOption(visibilityTimeout)
        )
        if (Option.isNone(visible)) {
          const waited = Duration.millis((yield* Clock.currentTimeMillis) - startedAt)
          yield* Effect.logWarning(
            `committed records are not readable after ${Duration.format(waited)}: ` +
              waiting.map(([topic]) => topic).join(", ")
          )
        }
      }).pipe(onWallClock)

    return {
      transact: (what, change) =>
        Effect.gen(function*() {
          yield* ensureOutputTopics(change)
          yield* awaitVisible(yield* send(what, recordsOf(change)))
        })
    }
  })

const utf8 = new TextEncoder()
