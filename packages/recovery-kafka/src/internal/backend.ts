import { DataflowError, type RecoveryStore } from "@sluice/core"
import { KafkaClient, KafkaError } from "@sluice/kafka"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
// kafkajs is CommonJS whose named exports Node cannot detect: take them from the default export
import Kafkajs, { type Message, type Producer, type TopicMessages } from "kafkajs"
import type { Options } from "../KafkaRecovery.js"
import {
  decodeHeld,
  decodeJson,
  decodeProgressKey,
  decodeStateKey,
  decodeValue,
  encodeJson,
  encodeValue,
  metaKey,
  progressKey,
  retiredKey,
  type StateKey,
  type ValueKind
} from "./records.js"
import { type Plan, type StateRecord, VersionIndex } from "./versions.js"

/** @internal */
export const topicsOf = (topicPrefix: string) => ({
  progress: `${topicPrefix}-progress`,
  state: `${topicPrefix}-state`
})

/**
 * The producer retries what the transaction coordinator answers while it
 * finishes the previous transaction (CONCURRENT_TRANSACTIONS): the first send
 * after a commit often meets it for a few milliseconds. kafkajs's default
 * first wait (300 ms) would cost that much per epoch; the Java producer waits
 * 20 ms in this case.
 */
const producerRetry = { initialRetryTime: 20, retries: 10, maxRetryTime: 2_000, factor: 0.2, multiplier: 2 }

/** Bytes per produce request; Kafka refuses batches over `message.max.bytes` (1 MiB by default). */
const requestBytes = 512 * 1024

const fencedTypes = new Set(["INVALID_PRODUCER_EPOCH", "PRODUCER_FENCED", "INVALID_PRODUCER_ID_MAPPING"])

/** @internal */
export const makeBackend = (options: Options): RecoveryStore.Backend => {
  const topics = topicsOf(options.topicPrefix)
  const name = `kafka ${options.topicPrefix}`
  const unavailable = (reason: string) => (cause: unknown) =>
    new DataflowError.StoreUnavailable({ store: name, reason, cause: describe(cause) })
  const corrupt = (reason: string) => new DataflowError.StoreCorrupt({ store: name, reason })

  return {
    name,
    open: ({ workerCount, workerIndex }) =>
      Effect.gen(function*() {
        const scope = yield* Effect.scope
        const client = yield* KafkaClient.make({
          brokers: options.brokers,
          clientId: options.clientId ?? `sluice-${options.topicPrefix}-${workerIndex}`,
          ...(options.connectTimeout === undefined ? {} : { connectTimeout: options.connectTimeout })
        }).pipe(Effect.mapError(unavailable("cannot reach the kafka brokers")))
        const partitions = yield* ensureTopics(client, workerCount)

        // --- progress: every worker's last completed epoch, and the meta

        let meta: RecoveryStore.StoreMeta | undefined
        const progress = new Map<number, number>()
        /** Partitions whose worker was reset for a rescale. */
        const retired = new Set<number>()
        let ownProgressLoaded = false
        /** Where the next read of each progress partition starts. */
        const progressRead: Array<number | "start"> = Array.from({ length: partitions }, () => "start")

        const readPartition = (
          topic: string,
          partition: number,
          from: number | "start",
          apply: (record: KafkaClient.KafkaRecord) => Effect.Effect<void, DataflowError.RecoveryError>
        ) =>
          Effect.gen(function*() {
            const ends = yield* client.endOffsets(topic, [partition]).pipe(
              Effect.mapError(unavailable(`cannot read topic ${topic}`))
            )
            const end = ends.get(partition) ?? 0
            yield* client.read({ topic, partition, from, until: { before: end } }).pipe(
              Stream.mapError(unavailable(`cannot read topic ${topic}`)),
              Stream.runForEach(apply)
            )
            return end
          })

        const valueOf = (record: KafkaClient.KafkaRecord, kinds: ReadonlyArray<ValueKind>) => {
          const where = `record ${record.topic}/${record.partition}@${record.offset}`
          if (record.value === null) return Effect.succeed(null)
          const decoded = decodeValue(record.value)
          if (decoded._tag === "NewerFormat") {
            return Effect.fail(new DataflowError.StoreVersionUnsupported({ found: decoded.version, supported: 1 }))
          }
          if (decoded._tag === "Foreign" || !kinds.includes(decoded.kind)) {
            return Effect.fail(corrupt(`${where} was not written by sluice`))
          }
          return Effect.succeed(decoded)
        }

        const applyProgress = (record: KafkaClient.KafkaRecord) =>
          Effect.gen(function*() {
            const key = decodeProgressKey(record.key)
            if (key === undefined) {
              return yield* corrupt(
                `record ${record.topic}/${record.partition}@${record.offset} has a key sluice does not write`
              )
            }
            const value = yield* valueOf(
              record,
              key._tag === "Meta" ? ["meta"] : key._tag === "Retired" ? ["retired"] : ["progress"]
            )
            if (key._tag === "Retired") {
              if (value === null) retired.delete(key.workerIndex)
              else retired.add(key.workerIndex)
              return
            }
            if (key._tag === "Meta") {
              const parsed = value === null ? undefined : decodeJson(value.payload)
              if (value !== null && !isMeta(parsed)) {
                return yield* corrupt(`the store meta in ${record.topic} does not parse`)
              }
              meta = parsed as RecoveryStore.StoreMeta | undefined
              return
            }
            // this worker's own progress changes only by its own transactions, which it applies itself
            if (key.workerIndex === workerIndex && ownProgressLoaded) return
            if (value === null) {
              progress.delete(key.workerIndex)
              return
            }
            const parsed = decodeJson(value.payload) as { readonly epoch?: unknown } | undefined
            if (!Number.isSafeInteger(parsed?.epoch)) {
              return yield* corrupt(`progress in ${record.topic} does not parse`)
            }
            progress.set(key.workerIndex, parsed!.epoch as number)
          })

        const refreshProgress = (which: ReadonlyArray<number>) =>
          Effect.forEach(which, (partition) =>
            Effect.map(
              readPartition(topics.progress, partition, progressRead[partition], applyProgress),
              (end) => {
                progressRead[partition] = end
              }
            ), { discard: true })

        yield* refreshProgress(range(0, partitions))

        if (partitions !== workerCount) {
          // R7: the store's own meta says which worker count wrote it; core turns that into RecoveryMismatch.
          if (meta !== undefined && meta.workerCount !== workerCount) return guardOnly(meta, name)
          // A rescale resets every worker first (`retired`): then fewer workers leave the partitions
          // above them unused, and more workers grow the topics (Kafka cannot shrink them).
          const rescaled = partitions > workerCount
            ? range(workerCount, partitions).every((p) => retired.has(p))
            : meta === undefined && progress.size === 0 && range(0, partitions).every((p) => retired.has(p))
          if (!rescaled) {
            return yield* corrupt(
              `topics ${topics.progress} and ${topics.state} have ${partitions} partitions, ` +
                `one per worker, but this run has ${workerCount} workers` +
                (retired.size > 0 ? "; a rescale of this store was left unfinished" : "")
            )
          }
          if (partitions < workerCount) {
            yield* Effect.forEach([topics.progress, topics.state], (topic) =>
              client.createPartitions(topic, workerCount).pipe(
                Effect.mapError(unavailable(`cannot grow topic ${topic} to ${workerCount} partitions`))
              ), { discard: true })
            for (let p = partitions; p < workerCount; p++) {
              progressRead.push("start")
            }
          }
        }
        const everyPartition = range(0, workerCount)

        // --- state: this worker's snapshot versions and held outputs

        const index = new VersionIndex()
        const loadState = (into: VersionIndex) =>
          readPartition(topics.state, workerIndex, "start", (record) =>
            Effect.gen(function*() {
              const key = decodeStateKey(record.key)
              if (key === undefined) {
                return yield* corrupt(
                  `record ${record.topic}/${record.partition}@${record.offset} has a key sluice does not write`
                )
              }
              const value = yield* valueOf(record, key._tag === "Held" ? ["held"] : ["snapshot", "deleted"])
              into.load(key, value === null ? null : yield* stateValue(key, value, record))
            }))

        const stateValue = (
          key: StateKey,
          value: { readonly kind: ValueKind; readonly payload: Uint8Array },
          record: KafkaClient.KafkaRecord
        ) => {
          if (key._tag === "Version") {
            return Effect.succeed(value)
          }
          const held = decodeHeld(value.payload)
          return held === undefined
            ? Effect.fail(corrupt(`held output ${record.topic}/${record.partition}@${record.offset} does not parse`))
            : Effect.succeed(held)
        }

        // --- the transactional producer: one fixed id per store and worker

        const transactionalId = `sluice.${options.topicPrefix}.worker-${workerIndex}`
        let producer: Producer | undefined
        const checkedTopics = new Set<string>([topics.progress, topics.state])
        const outputTopic = options.outputTopic ?? ((destination: string) =>
          destination)

        const send = (what: string, topicMessages: ReadonlyArray<TopicMessages>) =>
          Effect.tryPromise({
            try: async () => {
              const transaction = await producer!.transaction()
              /** Per topic and partition, the first offset this transaction wrote there. */
              const written = new Map<string, Map<number, number>>()
              try {
                for (const request of splitRequests(topicMessages)) {
                  const sent = await transaction.sendBatch({ topicMessages: request, acks: -1 })
                  for (const { baseOffset, partition, topicName } of sent) {
                    if (baseOffset === undefined) {
                      continue
                    }
                    let partitions = written.get(topicName)
                    if (partitions === undefined) {
                      written.set(topicName, partitions = new Map())
                    }
                    if (!partitions.has(partition)) {
                      partitions.set(partition, Number(baseOffset))
                    }
                  }
                }
                await transaction.commit()
              } catch (error) {
                if (transaction.isActive()) {
                  await transaction.abort().catch(() =>
                    undefined
                  )
                }
                throw error
              }
              return written
            },
            catch: (cause) =>
              fencedTypes.has(KafkaError.protocolErrorType(cause) ?? "")
                ? unavailable(
                  `worker ${workerIndex} was fenced: another process opened this store as the same worker ` +
                    `(transactional id ${transactionalId})`
                )(cause)
                : unavailable(`${what} failed`)(cause)
          })

        /**
         * The broker writes the commit markers after it answers the commit, and
         * read_committed readers see a transaction only then. Waiting for them
         * on the store's own topics makes a commit visible when it returns: to
         * this worker's next read and to the other workers in this process.
         * Output topics are left out: another producer's open transaction there
         * would hold every epoch back, and their consumers see the records soon
         * enough.
         */
        const awaitVisible = (written: Map<string, Map<number, number>>) =>
          Effect.gen(function*() {
            const deadline = Date.now() + 10_000
            let pending = new Map([...written].filter(([topic]) => topic === topics.progress || topic === topics.state))
            while (pending.size > 0) {
              const still = new Map<string, Map<number, number>>()
              for (const [topic, partitions] of pending) {
                const ends = yield* client.endOffsets(topic, [...partitions.keys()]).pipe(
                  Effect.mapError(unavailable(`cannot read the offsets of topic ${topic}`))
                )
                const waiting = [...partitions].filter(([partition, first]) => (ends.get(partition) ?? 0) <= first)
                if (waiting.length > 0) still.set(topic, new Map(waiting))
              }
              pending = still
              if (pending.size === 0) return
              if (Date.now() > deadline) {
                return yield* Effect.logWarning(
                  `committed records are not readable after 10 s: ${[...pending.keys()].join(", ")}`
                )
              }
              yield* brokerDelay(2)
            }
          })

        const transact = (what: string, topicMessages: ReadonlyArray<TopicMessages>) =>
          Effect.flatMap(send(what, topicMessages), awaitVisible)

        const ready = yield* Effect.cached(
          Effect.gen(function*() {
            producer = yield* client.producer({
              transactionalId,
              idempotent: true,
              maxInFlightRequests: 1,
              transactionTimeout: Duration.toMillis(options.transactionTimeout ?? "60 seconds"),
              retry: producerRetry,
              createPartitioner: Kafkajs.Partitioners.DefaultPartitioner,
              allowAutoTopicCreation: false
            }).pipe(Effect.mapError(unavailable("cannot connect the producer")), Scope.extend(scope))
            // InitProducerId: bumps the epoch of the transactional id, aborting what a previous
            // process left open and fencing it, before anything is read.
            yield* transact("fencing the previous producer of this worker", [])
            yield* loadState(index)
            yield* refreshProgress(everyPartition)
            ownProgressLoaded = true
            if (workerCount > 1) yield* Effect.addFinalizer(() => releaseHeld)
          }).pipe(Scope.extend(scope))
        )

        const agreedWith = (epoch: number) => {
          let agreed = epoch
          for (let w = 0; w < workerCount; w++) if (w !== workerIndex) agreed = Math.min(agreed, progress.get(w) ?? 0)
          return agreed
        }
        const peers = everyPartition.filter((p) => p !== workerIndex)

        const ensureOutputTopics = (plan: Plan) =>
          Effect.forEach(
            new Set(plan.outputs.map(({ record }) => outputTopic(record.destination))),
            (topic) =>
              checkedTopics.has(topic) ? Effect.void : Effect.gen(function*() {
                const existing = yield* client.describeTopic(topic)
                if (Option.isNone(existing)) {
                  yield* client.createTopic({ topic })
                }
                checkedTopics.add(topic)
              }).pipe(Effect.mapError(unavailable(`cannot create output topic ${topic}`))),
            { discard: true }
          )

        const messagesOf = (plan: Plan, progressRecord: Message | undefined): Array<TopicMessages> => {
          const out: Array<TopicMessages> = []
          if (plan.stateRecords.length > 0) {
            out.push({
              topic: topics.state,
              messages: plan.stateRecords.map((r) => stateMessage(r, workerIndex))
            })
          }
          if (progressRecord !== undefined) {
            out.push({ topic: topics.progress, messages: [progressRecord] })
          }
          const byTopic = new Map<string, Array<Message>>()
          for (const { epoch, record } of plan.outputs) {
            const topic = outputTopic(record.destination)
            let messages = byTopic.get(topic)
            if (messages === undefined) {
              byTopic.set(topic, messages = [])
            }
            messages.push({
              key: record.key === null ? null : Buffer.from(record.key),
              value: Buffer.from(record.value),
              headers: { "sluice-epoch": String(epoch), "sluice-worker": String(workerIndex) }
            })
          }
          for (const [topic, messages] of byTopic) {
            out.push({ topic, messages })
          }
          return out
        }

        const progressMessage = (epoch: number): Message => ({
          key: progressKey(workerIndex),
          value: epoch < 1 ? null : encodeValue("progress", encodeJson({ epoch })),
          partition: workerIndex
        })

        // Best effort at shutdown: outputs held for epochs every worker has completed since.
        const releaseHeld = Effect.gen(function*() {
          if (index.heldCount === 0) {
            return
          }
          yield* refreshProgress(peers)
          const plan = index.planRelease(agreedWith(progress.get(workerIndex) ?? 0))
          if (plan.outputs.length === 0) {
            return
          }
          yield* ensureOutputTopics(plan)
          yield* transact("releasing held outputs", messagesOf(plan, undefined))
          plan.apply()
        }).pipe(Effect.catchAll((error) => Effect.logWarning(`held outputs stay held: ${error.message}`)))

        const worker: RecoveryStore.BackendWorker = {
          readMeta: Effect.sync(() => Option.fromNullable(meta)),
          writeMeta: (next) =>
            Effect.gen(function*() {
              yield* ready
              yield* transact("writing the store meta", [{
                topic: topics.progress,
                messages: [{ key: metaKey(), value: encodeValue("meta", encodeJson(next)), partition: 0 }]
              }])
              meta = next
            }),
          readProgress: Effect.gen(function*() {
            yield* ready
            yield* refreshProgress(everyPartition)
            return [...progress].map(([w, epoch]) => ({ workerIndex: w, epoch }))
          }),
          discardFrom: (epoch) =>
            Effect.gen(function*() {
              yield* ready
              const plan = index.planDiscard(epoch)
              const done = progress.get(workerIndex)
              const rewind = done !== undefined && done >= epoch
              if (plan.stateRecords.length === 0 && !rewind) return
              yield* transact(
                `discarding epochs from ${epoch}`,
                messagesOf(plan, rewind ? progressMessage(epoch - 1) : undefined)
              )
              plan.apply()
              if (rewind) {
                if (epoch <= 1) progress.delete(workerIndex)
                else progress.set(workerIndex, epoch - 1)
              }
            }),
          reset: Effect.gen(function*() {
            yield* ready
            yield* refreshProgress(peers)
            const plan = index.planReset(agreedWith(progress.get(workerIndex) ?? 0))
            yield* ensureOutputTopics(plan)
            const messages = messagesOf(plan, progressMessage(0))
            messages.push({
              topic: topics.progress,
              messages: [
                { key: retiredKey(workerIndex), value: encodeValue("retired"), partition: workerIndex },
                ...(workerIndex === 0 ? [{ key: metaKey(), value: null, partition: 0 }] : [])
              ]
            })
            yield* transact(`resetting worker ${workerIndex} for a rescale`, messages)
            plan.apply()
            progress.delete(workerIndex)
            retired.add(workerIndex)
            if (workerIndex === 0) meta = undefined
          }),
          readSnapshots: (stepId, atOrBefore) =>
            Stream.unwrap(Effect.gen(function*() {
              yield* ready
              const kept = index.snapshotsAt(stepId, atOrBefore)
              if (kept !== undefined) return Stream.fromIterable(kept)
              // values were dropped after the first commit: read them again
              const fresh = new VersionIndex()
              yield* loadState(fresh)
              return Stream.fromIterable(fresh.snapshotsAt(stepId, atOrBefore) ?? [])
            })),
          commit: (epoch, writes, outputs) =>
            Effect.gen(function*() {
              yield* ready
              if (peers.length > 0) yield* refreshProgress(peers)
              const plan = index.planCommit(epoch, writes, outputs, agreedWith(epoch))
              yield* ensureOutputTopics(plan)
              yield* transact(`commit of epoch ${epoch}`, messagesOf(plan, progressMessage(epoch)))
              plan.apply()
              index.forgetValues()
              progress.set(workerIndex, epoch)
            })
        }
        return worker
      })
  }

  /** Creates missing topics; refuses topics that would not keep what resume needs. Returns the partition count. */
  function ensureTopics(client: KafkaClient.KafkaClient, workerCount: number) {
    return Effect.gen(function*() {
      const describeBoth = Effect.all([client.describeTopic(topics.progress), client.describeTopic(topics.state)], {
        concurrency: 2
      }).pipe(
        Effect.mapError(unavailable("cannot describe the store's topics"))
      )
      let [progress, state] = yield* describeBoth
      if (Option.isNone(progress) || Option.isNone(state)) {
        const existing = Option.isSome(progress) ? progress.value : Option.isSome(state) ? state.value : undefined
        const partitions = existing?.partitions ?? workerCount
        yield* Effect.forEach([topics.progress, topics.state], (topic) =>
          client.createTopic({
            topic,
            partitions,
            ...(options.replicationFactor === undefined ? {} : { replicationFactor: options.replicationFactor }),
            config: { ...options.topicConfig, "cleanup.policy": "compact" }
          }).pipe(Effect.mapError(unavailable(`cannot create topic ${topic}`))), { concurrency: 2 })
        // described again: another worker may have created them first, with other settings
        const created = yield* describeBoth
        progress = created[0]
        state = created[1]
      }
      const described = [progress, state].flatMap((d) => Option.isSome(d) ? [d.value] : [])
      for (const topic of described) {
        const policy = topic.config["cleanup.policy"]
        if (policy !== "compact") {
          return yield* corrupt(
            `topic ${topic.topic} has cleanup.policy ${policy ?? "(unset)"}; a sluice store needs compact, ` +
              `or the broker deletes snapshots and progress a resume needs`
          )
        }
      }
      if (described.length !== 2 || described[0].partitions !== described[1].partitions) {
        return yield* corrupt(
          `topics ${topics.progress} and ${topics.state} must have the same partition count, one per worker`
        )
      }
      return described[0].partitions
    })
  }
}

const range = (from: number, to: number): Array<number> =>
  Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i)

/** Waits in real time: the broker's markers land on the wall clock, not on a `TestClock`. */
const brokerDelay = (millis: number): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), millis)
    return Effect.sync(() => clearTimeout(timer))
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
const guardOnly = (meta: RecoveryStore.StoreMeta, store: string): RecoveryStore.BackendWorker => {
  const refuse = new DataflowError.StoreCorrupt({
    store,
    reason: `it was written with ${meta.workerCount} workers; open it with that worker count`
  })
  return {
    readMeta: Effect.succeed(Option.some(meta)),
    writeMeta: () => Effect.fail(refuse),
    readProgress: Effect.fail(refuse),
    discardFrom: () => Effect.fail(refuse),
    readSnapshots: () => Stream.fail(refuse),
    commit: () => Effect.fail(refuse)
  }
}

const isMeta = (value: unknown): value is RecoveryStore.StoreMeta => {
  if (value === null || typeof value !== "object") return false
  const meta = value as Record<string, unknown>
  return typeof meta.dataflowId === "string" && Number.isSafeInteger(meta.workerCount) &&
    Number.isSafeInteger(meta.schemaVersion) && typeof meta.createdAt === "number"
}

const stateMessage = (record: StateRecord, partition: number): Message => ({
  key: record.key,
  value: record.value,
  partition
})

/** Splits a transaction's messages into produce requests Kafka accepts, keeping their order. */
const splitRequests = (topicMessages: ReadonlyArray<TopicMessages>): Array<Array<TopicMessages>> => {
  const requests: Array<Array<TopicMessages>> = []
  let current: Array<TopicMessages> = []
  let bytes = 0
  for (const { messages, topic } of topicMessages) {
    let batch: Array<Message> = []
    for (const message of messages) {
      const size = 64 + sizeOf(message.key) + sizeOf(message.value)
      if (bytes + size > requestBytes && bytes > 0) {
        if (batch.length > 0) current.push({ topic, messages: batch })
        requests.push(current)
        current = []
        batch = []
        bytes = 0
      }
      batch.push(message)
      bytes += size
    }
    if (batch.length > 0) current.push({ topic, messages: batch })
  }
  if (current.length > 0) requests.push(current)
  return requests
}

const sizeOf = (value: Message["key"] | Message["value"]): number =>
  value === null || value === undefined ? 0 : typeof value === "string" ? Buffer.byteLength(value) : value.byteLength

const describe = (cause: unknown): string =>
  typeof cause === "object" && cause !== null && "message" in cause && typeof cause.message === "string" &&
    "_tag" in cause
    ? cause.message
    : KafkaError.describeCause(cause)
