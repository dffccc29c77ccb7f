import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as RcRef from "effect/RcRef"
import { isEmptyRecord } from "effect/Record"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { IHeaders, Message, RecordMetadata as KafkajsMetadata } from "kafkajs"
import type {
  KafkaClient,
  KafkaRecord,
  Options,
  PartitionOffsets,
  Producer,
  ProducerRecord,
  RecordMetadata,
  TopicDescription,
  TopicRecords,
  Transaction
} from "../KafkaClient.js"
import {
  KafkaUnavailable,
  NoAnswer,
  OffsetOutOfRange,
  protocolErrorType,
  RecordTooLarge,
  TopicNotFound
} from "../KafkaError.js"
import { setInputLag } from "./inputLag.js"
import { fetchPartition, listOffsets, makeReadCluster, type RawMessage } from "./partitionFetch.js"
import { noHeaders } from "./recordBatches.js"
// kafkajs itself comes from here, with its produce path's grouping and request encoding replaced (see there)
import { Kafkajs, linearProduce } from "./kafkajsProduce.js"
import { linearRequestRecords, recordBytes, requestBytes, requestRecords, splitRequests } from "./produceRequests.js"

/** Records per produce request: what kafkajs's grouping affords, the original's or the linear one. */
const recordsPerRequest = linearProduce ? linearRequestRecords : requestRecords

const logLevels = {
  nothing: Kafkajs.logLevel.NOTHING,
  error: Kafkajs.logLevel.ERROR,
  warn: Kafkajs.logLevel.WARN,
  info: Kafkajs.logLevel.INFO,
  debug: Kafkajs.logLevel.DEBUG
} as const

/**
 * kafkajs retries connection attempts with this policy. Its default (five
 * retries from 300 ms, up to 30 s) makes a missing broker look like a hang;
 * this one gives up after about two seconds. kafkajs also switches to other
 * defaults when NODE_ENV is "test", so the policy is always explicit.
 */
const connectRetry = { initialRetryTime: 100, retries: 4, maxRetryTime: 1_000, factor: 0.2, multiplier: 2 }

/** Bytes one fetch may return per partition; a larger first batch still comes whole. */
const fetchMaxBytes = 4 * 1024 * 1024

/**
 * Fetches meet moved leaders and dropped connections; fresh metadata finds the
 * partition again. Seven retries from 50 ms wait about six seconds in all.
 */
const fetchRetry = Schedule.exponential("50 millis").pipe(Schedule.intersect(Schedule.recurs(7)))

/** Retries of a topic creation that met a broker still settling: about 1.5 seconds in all. */
const createRetry = Schedule.exponential("100 millis").pipe(Schedule.intersect(Schedule.recurs(4)))

/**
 * The producer retries what the transaction coordinator answers while it
 * finishes the previous transaction (CONCURRENT_TRANSACTIONS): the first send
 * after a commit often meets it for a few milliseconds. kafkajs's default
 * first wait (300 ms) would cost that much per epoch; the Java producer waits
 * 20 ms in this case.
 */
const producerRetry = { initialRetryTime: 20, retries: 10, maxRetryTime: 2_000, factor: 0.2, multiplier: 2 }

/**
 * kafkajs waits for a connection's requests in flight before it closes it,
 * up to its request timeout: a broker that stopped answering would hold a
 * closing scope that long. Closing waits this long; the rest of the close
 * goes on in the background, and the broker aborts whatever transaction was
 * left open (after its timeout, or when the transactional id comes back).
 */
const cleanupWait = Duration.seconds(2)

const wallClock = Clock.make()

/**
 * The wall clock. Requests to the brokers and the waits between them live on
 * it: they must not stop under a `TestClock` that drives a dataflow's epochs
 * and windows.
 *
 * @internal
 */
export const onWallClock: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R> = Effect.withClock(
  wallClock
)

/** @internal */
export const make = (options: Options): Effect.Effect<KafkaClient, KafkaUnavailable, Scope.Scope> =>
  Effect.gen(function*() {
    const brokers = [...options.brokers]
    const unavailable = (operation: string) => (cause: unknown) => new KafkaUnavailable({ brokers, operation, cause })
    const connectTimeout = Duration.decode(options.connectTimeout ?? "10 seconds")
    const requestTimeout = Duration.decode(options.requestTimeout ?? "30 seconds")
    const kafka = new Kafkajs.Kafka({
      clientId: options.clientId ?? "sluice",
      brokers,
      logLevel: logLevels[options.logLevel ?? "nothing"],
      connectionTimeout: 3_000,
      // kafkajs's own timer per request; `bounded` below holds each operation, its retries included, to it
      requestTimeout: Duration.toMillis(requestTimeout),
      retry: connectRetry
    })
    const admin = kafka.admin({ retry: connectRetry })
    const cluster = makeReadCluster(kafka)

    /**
     * Runs an operation against the brokers within a limit, on the wall
     * clock. kafkajs retries inside a request, and its timers are not ours:
     * left alone, a broker that accepts connections but never answers costs
     * several request timeouts. The limit cuts that; `cleanUp` (closing what
     * the operation left half-open) runs before the failure is measured, so
     * `waitedMillis` is the time the caller actually waited.
     */
    const bounded = <A>(
      operation: string,
      limit: { readonly name: NoAnswer["limit"]; readonly duration: Duration.Duration },
      effect: Effect.Effect<A, unknown>,
      cleanUp: Effect.Effect<void> = Effect.void
    ): Effect.Effect<A, KafkaUnavailable> =>
      Effect.gen(function*() {
        const startedAt = yield* Clock.currentTimeMillis
        return yield* effect.pipe(
          // it may run where interruption is masked (a transaction, a finalizer): the limit must still end it
          Effect.interruptible,
          Effect.timeoutFail({
            duration: limit.duration,
            onTimeout: () => new NoAnswer({ limit: limit.name, limitMillis: Duration.toMillis(limit.duration) })
          }),
          Effect.catchAll((cause) =>
            Effect.gen(function*() {
              yield* cleanUp
              const waitedMillis = (yield* Clock.currentTimeMillis) - startedAt
              return yield* new KafkaUnavailable({ brokers, operation, cause, waitedMillis })
            })
          )
        )
      }).pipe(onWallClock)
    const requestLimit = { name: "requestTimeout", duration: requestTimeout } as const

    /** Closes a connection, waiting at most `cleanupWait` for kafkajs to let go of it. */
    const close = (disconnect: () => Promise<void>) =>
      Effect.tryPromise(disconnect).pipe(Effect.ignore, Effect.timeoutOption(cleanupWait), Effect.asVoid, onWallClock)

    const connect = (name: string, connect: () => Promise<void>, disconnect: () => Promise<void>) =>
      Effect.gen(function*() {
        // once: a connect that fails closes at once, and its finalizer then has nothing left to wait for
        const closing = yield* Effect.cached(close(disconnect))
        // registered before connecting: a connect that fails still leaves sockets and timers to stop
        yield* Effect.addFinalizer(() => closing)
        yield* bounded(
          `connect (${name})`,
          { name: "connectTimeout", duration: connectTimeout },
          Effect.tryPromise(connect),
          closing
        )
      })
    yield* connect("admin", () => admin.connect(), () => admin.disconnect())
    yield* connect("reader", () => cluster.connect(), () => cluster.disconnect())

    const attempt = <A>(operation: string, f: () => Promise<A>) =>
      bounded(operation, requestLimit, Effect.tryPromise(f))

    const topicExists = (topic: string) =>
      Effect.map(attempt("list topics", () => admin.listTopics()), (topics) => topics.includes(topic))

    const describeTopic = (topic: string): Effect.Effect<Option.Option<TopicDescription>, KafkaUnavailable> =>
      Effect.gen(function*() {
        if (!(yield* topicExists(topic))) return Option.none()
        const metadata = yield* attempt(`describe topic ${topic}`, () => admin.fetchTopicMetadata({ topics: [topic] }))
        const configs = yield* attempt(`describe the configuration of topic ${topic}`, () =>
          admin.describeConfigs({
            includeSynonyms: false,
            resources: [{ type: Kafkajs.ConfigResourceTypes.TOPIC, name: topic }]
          }))
        const config: Record<string, string> = {}
        for (const entry of configs.resources[0]?.configEntries ?? []) config[entry.configName] = entry.configValue
        const partitions = metadata.topics.find((t) => t.name === topic)?.partitions.length ?? 0
        return Option.some({ topic, partitions, config })
      })

    const createTopic: KafkaClient["createTopic"] = (topic) =>
      attempt(`create topic ${topic.topic}`, () =>
        admin.createTopics({
          waitForLeaders: true,
          topics: [{
            topic: topic.topic,
            numPartitions: topic.partitions ?? -1,
            replicationFactor: topic.replicationFactor ?? -1,
            configEntries: Object.entries(topic.config ?? {}).map(([name, value]) => ({ name, value }))
          }]
        })).pipe(
          // A busy broker may not know its new partitions' leaders when kafkajs stops asking; asking
          // again is harmless, since creating a topic that exists changes nothing.
          Effect.retry({ schedule: createRetry, while: (error) => isTransient(error.cause) }),
          onWallClock
        )

    const createPartitions: KafkaClient["createPartitions"] = (topic, count) =>
      Effect.gen(function*() {
        const described = yield* describeTopic(topic)
        if (Option.isSome(described) && described.value.partitions >= count) return
        yield* attempt(`grow topic ${topic} to ${count} partitions`, () =>
          admin.createPartitions({ topicPartitions: [{ topic, count }] }))
        // the metadata of the new partitions reaches clients a moment later
        yield* describeTopic(topic).pipe(
          Effect.flatMap((d) =>
            Option.isSome(d) && d.value.partitions >= count
              ? Effect.void
              : Effect.fail(
                unavailable(`grow topic ${topic} to ${count} partitions`)("the new partitions are not visible")
              )
          ),
          Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("10 seconds"))),
          onWallClock
        )
      })

    const deleteTopics = (topics: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        const existing = new Set(yield* attempt("list topics", () => admin.listTopics()))
        const doomed = topics.filter((topic) => existing.has(topic))
        if (doomed.length > 0) {
          yield* attempt(`delete topics ${doomed.join(", ")}`, () => admin.deleteTopics({ topics: doomed }))
        }
      })

    const offsetsOf = (topic: string, partitions: ReadonlyArray<number>, fromBeginning: boolean) =>
      attempt(`list offsets of topic ${topic}`, () => listOffsets(cluster, topic, partitions, fromBeginning))

    const outOfRange = (topic: string, partition: number, offset: number) =>
      Effect.gen(function*() {
        const start = (yield* offsetsOf(topic, [partition], true)).get(partition) ?? 0
        const end = (yield* offsetsOf(topic, [partition], false)).get(partition) ?? 0
        return yield* new OffsetOutOfRange({ topic, partition, offset, start, end })
      })

    const fetch = (request: {
      readonly topic: string
      readonly partition: number
      readonly offset: number
      readonly maxWaitMs: number
    }) => {
      const { offset, partition, topic } = request
      const fetched = Effect.tryPromise({
        try: () => fetchPartition(cluster, { ...request, maxBytes: fetchMaxBytes }),
        catch: (cause) => cause
      }).pipe(
        Effect.retry(
          fetchRetry.pipe(
            Schedule.whileInput(isRetriable),
            Schedule.tapInput(() => Effect.ignore(Effect.tryPromise(() => cluster.refreshMetadata())))
          )
        )
      )
      // a fetch may wait maxWait for records on top of the broker's answer
      const limit = { ...requestLimit, duration: Duration.sum(requestTimeout, Duration.millis(request.maxWaitMs)) }
      return bounded(`fetch ${topic}/${partition}@${offset}`, limit, fetched).pipe(
        Effect.catchIf(
          (error) => errorName(error.cause) === "KafkaJSOffsetOutOfRange",
          () => outOfRange(topic, partition, offset)
        )
      )
    }

    const offsets = (topic: string): Effect.Effect<ReadonlyArray<PartitionOffsets>, KafkaUnavailable | TopicNotFound> =>
      Effect.gen(function*() {
        const description = yield* describeTopic(topic)
        if (Option.isNone(description)) return yield* new TopicNotFound({ topic })
        const partitions = Array.from({ length: description.value.partitions }, (_, i) => i)
        const starts = yield* offsetsOf(topic, partitions, true)
        const ends = yield* offsetsOf(topic, partitions, false)
        return yield* Effect.forEach(partitions, (partition) =>
          Effect.gen(function*() {
            const end = ends.get(partition) ?? 0
            // a fetch at the stable end answers at once and carries the high watermark
            const { highWatermark } = yield* Effect.catchTag(
              fetch({ topic, partition, offset: end, maxWaitMs: 0 }),
              "OffsetOutOfRange",
              (cause) => new KafkaUnavailable({ brokers, operation: `read offsets of ${topic}`, cause })
            )
            return { partition, start: starts.get(partition) ?? 0, end, high: highWatermark }
          }))
      })

    const read: KafkaClient["read"] = ({ from, maxWait, partition, reportLag, topic, until }) =>
      Stream.suspend(() => {
        let next = from === "start" ? undefined : from
        let end = typeof until === "object" ? until.before : undefined
        let done = false
        const followMs = Duration.toMillis(maxWait ?? "500 millis")
        const pull = Effect.gen(function*() {
          if (done) return yield* Effect.fail(Option.none())
          if (next === undefined) next = (yield* offsetsOf(topic, [partition], true)).get(partition) ?? 0
          if (until === "end" && end === undefined) {
            end = (yield* offsetsOf(topic, [partition], false)).get(partition) ?? 0
          }
          if (end !== undefined && next >= end) return yield* Effect.fail(Option.none())
          const [waited, fetched] = yield* onWallClock(
            Effect.timed(fetch({ topic, partition, offset: next, maxWaitMs: end === undefined ? followMs : 0 }))
          )
          if (reportLag === true) yield* setInputLag(topic, partition, fetched.lastStableOffset - fetched.next)
          if (!fetched.progressed) {
            // Nothing after `next` but batches that compaction emptied: a bounded read is complete.
            if (end !== undefined) done = true
            // An emptied batch answers at once; don't spin on it while following.
            else if (Duration.toMillis(waited) < followMs / 2) yield* onWallClock(Effect.sleep(followMs))
            return Chunk.empty<KafkaRecord>()
          }
          next = fetched.next
          const bound = end
          const records: Array<KafkaRecord> = []
          for (const message of fetched.records) {
            const offset = Number(message.offset)
            if (bound === undefined || offset < bound) records.push(toRecord(topic, partition, offset, message))
          }
          return Chunk.unsafeFromArray(records)
        })
        return Stream.repeatEffectChunkOption(Effect.mapError(pull, (e) => Option.isOption(e) ? e : Option.some(e)))
      })

    /**
     * The broker refused a request as too large without saying which record:
     * the largest is the one that does not fit (or the nearest to the limit,
     * when the records only add up to too much). The topic's limit is asked
     * for the message; a broker that cannot tell leaves it out.
     */
    const tooLarge = (batch: ReadonlyArray<TopicRecords>, refused: KafkaUnavailable) =>
      Effect.gen(function*() {
        let largest: {
          readonly topic: string
          readonly record: TopicRecords["records"][number]
          readonly bytes: number
        } | undefined
        for (const { records, topic } of batch) {
          for (const record of records) {
            const bytes = recordBytes(record)
            if (largest === undefined || bytes > largest.bytes) largest = { topic, record, bytes }
          }
        }
        if (largest === undefined) return yield* refused
        const { topic } = largest
        const limit = yield* describeTopic(topic).pipe(
          Effect.map(Option.flatMap((description) => Option.fromNullable(description.config["max.message.bytes"]))),
          Effect.orElseSucceed(() => Option.none<string>())
        )
        return yield* new RecordTooLarge({
          topic,
          key: largest.record.key === null ? null : textOf(largest.record.key),
          bytes: largest.bytes,
          records: batch.filter((b) => b.topic === topic).reduce((count, b) => count + b.records.length, 0),
          ...(Option.isSome(limit) ? { limitBytes: Number(limit.value) } : {})
        })
      })

    const producer: KafkaClient["producer"] = (producerOptions = {}) =>
      Effect.gen(function*() {
        const created = kafka.producer({
          idempotent: true,
          maxInFlightRequests: 1,
          allowAutoTopicCreation: false,
          createPartitioner: Kafkajs.Partitioners.DefaultPartitioner,
          retry: producerRetry,
          transactionTimeout: Duration.toMillis(producerOptions.transactionTimeout ?? "60 seconds"),
          ...(producerOptions.transactionalId === undefined ? {} : { transactionalId: producerOptions.transactionalId })
        })
        yield* Effect.addFinalizer(() => close(() => created.disconnect()))
        yield* attempt("connect (producer)", () => created.connect())
        const send = (
          operation: string,
          write: (
            request: { topicMessages: Array<{ topic: string; messages: Array<Message> }>; acks: -1 }
          ) => Promise<ReadonlyArray<KafkajsMetadata>>
        ) =>
        (batch: ReadonlyArray<TopicRecords>) =>
          Effect.map(
            Effect.forEach(splitRequests(batch, requestBytes, recordsPerRequest), (request) =>
              attempt(
                `${operation} to topic ${[...new Set(request.map((b) => b.topic))].join(", ")}`,
                () => write({ topicMessages: request.map(toTopicMessages), acks: -1 })
              ).pipe(
                Effect.catchIf(
                  (error) => protocolErrorType(error.cause) === "MESSAGE_TOO_LARGE",
                  (error) => tooLarge(request, error)
                )
              )),
            (sent) => sent.flat().map(toMetadata)
          )
        const transaction: Producer["transaction"] = (body) =>
          Effect.flatMap(wallClock.currentTimeMillis, (startedAt) =>
            Effect.uninterruptibleMask((restore) =>
              Effect.gen(function*() {
                const open = yield* attempt("begin a transaction", () =>
                  created.transaction())
                const abort = close(() => open.isActive() ? open.abort() : Promise.resolve())
                const inside: Transaction = {
                  send: send("send in a transaction", (request) => open.sendBatch(request))
                }
                const result = yield* Effect.onError(restore(body(inside)), () => abort)
                yield* Effect.onError(attempt("commit a transaction", () => open.commit()), () => abort)
                return result
              }).pipe(
                // the abort after a failure is part of the wait: the message says the whole of it
                Effect.catchIf(
                  (error): error is KafkaUnavailable => error instanceof KafkaUnavailable,
                  (error) =>
                    Effect.flatMap(wallClock.currentTimeMillis, (now) =>
                      new KafkaUnavailable({
                        brokers,
                        operation: error.operation,
                        cause: error.cause,
                        waitedMillis: now - startedAt
                      }))
                )
              )
            ))
        return {
          send: send("send", (request) =>
            created.sendBatch(request)),
          transaction
        } satisfies Producer
      })

    return {
      brokers,
      listTopics: attempt("list topics", () => admin.listTopics()),
      describeTopic,
      createTopic,
      createPartitions,
      deleteTopics,
      deleteRecords: (topic, partition, before) =>
        attempt(`delete the records of ${topic}/${partition} before offset ${before}`, async () => {
          // kafkajs finds the partition leader only for topics whose metadata it holds
          await admin.fetchTopicMetadata({ topics: [topic] })
          await admin.deleteTopicRecords({ topic, partitions: [{ partition, offset: String(before) }] })
        }),
      endOffsets: (topic, partitions) => offsetsOf(topic, partitions, false),
      offsets,
      read,
      producer
    } satisfies KafkaClient
  })

/** @internal */
export const makeShared = (options: Options): Effect.Effect<KafkaClient, KafkaUnavailable, Scope.Scope> => {
  // The reference outlives every user: the first user connects, the last one to leave disconnects.
  // A connect that fails closes what it opened at once: RcRef keeps the scope of a failed acquire open.
  const acquire = Effect.gen(function*() {
    const connection = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    return yield* make(options).pipe(
      Scope.extend(connection),
      Effect.onError((cause) => Scope.close(connection, Exit.failCause(cause)))
    )
  })
  const shared = Effect.runSync(
    Effect.flatMap(Scope.make(), (scope) => Scope.extend(RcRef.make({ acquire }), scope))
  )
  return RcRef.get(shared)
}

/** Bytes kafkajs takes as they are: a `Buffer`, text, or `null`. */
const isKafkajsBytes = (bytes: Uint8Array | string | null): boolean =>
  bytes === null || typeof bytes === "string" || Buffer.isBuffer(bytes)

/**
 * kafkajs only reads a message's `key`, `value`, `partition` and `headers`, so
 * records whose bytes are Buffers already (the stores' are) go to it as they
 * are: a commit of 200k records built 200k message objects here, 0.2 s of a
 * 1M-key restart (bench/PROFILE.md).
 */
const toTopicMessages = ({ records, topic }: TopicRecords) => ({
  topic,
  messages: records.every((record) => isKafkajsBytes(record.key) && isKafkajsBytes(record.value))
    ? records as Array<Message>
    : records.map(toMessage)
})

const toMessage = (record: ProducerRecord): Message => ({
  key: toBuffer(record.key),
  value: toBuffer(record.value),
  ...(record.partition === undefined ? {} : { partition: record.partition }),
  // kafkajs only reads the headers: records may share one object
  ...(record.headers === undefined ? {} : { headers: record.headers })
})

const textOf = (bytes: Uint8Array | string): string =>
  typeof bytes === "string" ? bytes : new TextDecoder().decode(bytes)

const toBuffer = (bytes: Uint8Array | string | null): Buffer | string | null =>
  bytes === null || typeof bytes === "string" ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

const toMetadata = (sent: KafkajsMetadata): RecordMetadata => ({
  topic: sent.topicName,
  partition: sent.partition,
  baseOffset: sent.baseOffset === undefined ? undefined : Number(sent.baseOffset)
})

const errorName = (cause: unknown): string | undefined =>
  cause !== null && typeof cause === "object" && typeof (cause as { name?: unknown }).name === "string"
    ? (cause as { name: string }).name
    : undefined

const transientErrors = new Set([
  "KafkaJSConnectionError",
  "KafkaJSConnectionClosedError",
  "KafkaJSBrokerNotFound",
  "KafkaJSMetadataNotLoaded",
  "KafkaJSTopicMetadataNotLoaded",
  "KafkaJSRequestTimeoutError"
])

const isRetriable = (cause: unknown): boolean =>
  (cause !== null && typeof cause === "object" && (cause as { retriable?: unknown }).retriable === true) ||
  transientErrors.has(errorName(cause) ?? "")

/** A retriable error, or one that kafkajs gave up retrying (it wraps the last one as `cause`). */
const isTransient = (cause: unknown): boolean => {
  for (let current = cause, depth = 0; current !== null && typeof current === "object" && depth < 4; depth++) {
    if (isRetriable(current)) return true
    current = (current as { readonly cause?: unknown }).cause
  }
  return false
}

const toRecord = (topic: string, partition: number, offset: number, message: RawMessage): KafkaRecord => ({
  topic,
  partition,
  offset,
  key: message.key,
  value: message.value,
  timestamp: Number(message.timestamp),
  headers: headersOf(message.headers)
})

const headersOf = (headers: IHeaders | undefined): Readonly<Record<string, string>> => {
  if (headers === undefined || isEmptyRecord(headers)) return noHeaders
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    const first = Array.isArray(value) ? value[0] : value
    if (first !== undefined) out[name] = typeof first === "string" ? first : first.toString("utf8")
  }
  return out
}
