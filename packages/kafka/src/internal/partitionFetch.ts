/**
 * Reading one partition from an offset, without a consumer group.
 *
 * kafkajs 2.2.4 has no `assign()`: its consumer only reads what a consumer
 * group hands it, always joins a group (hundreds of milliseconds), and hides
 * where a fetch ended when a batch held only transaction markers. Sluice keeps
 * positions in its own epochs and reads "to the end" on every resume, so it
 * needs exactly what the Java client's `assign` + `seek` give: a fetch at an
 * offset, with the offset after the last record of the response, markers
 * included. kafkajs has that one layer down (its `Cluster` and `Broker`); the
 * responses are decoded, and aborted records and markers dropped for
 * read_committed as its `Batch` does, by `recordBatches.ts`. kafkajs is pinned
 * to 2.2.4 (it is no longer developed), so these internals do not move; these
 * two files are the only places that touch them.
 */
import type { IHeaders, Kafka } from "kafkajs"
import { createRequire } from "node:module"
import {
  committedRecords,
  DECODED_FETCH_VERSION,
  decodeFetchResponse,
  type FetchedPartition,
  type FetchResponse,
  fromKafkajsPartition
} from "./recordBatches.js"

const require = createRequire(import.meta.url)

/** A committed record of a fetch response. @internal */
export interface RawMessage {
  readonly offset: number
  readonly key: Buffer | null
  readonly value: Buffer | null
  readonly timestamp: number
  readonly headers: IHeaders
}

interface FetchRequest {
  readonly replicaId: number
  readonly isolationLevel: number
  readonly maxWaitTime: number
  readonly minBytes: number
  readonly maxBytes: number
  readonly rackId: string
  readonly topics: ReadonlyArray<{
    readonly topic: string
    readonly partitions: ReadonlyArray<
      { readonly partition: number; readonly fetchOffset: string; readonly maxBytes: number }
    >
  }>
}

/** kafkajs's request of one protocol version: what to send, and how to read the answer. */
interface ProtocolRequest {
  readonly request: { readonly apiVersion: number }
  readonly response: {
    readonly decode: (raw: Buffer) => Promise<unknown>
    readonly parse: (decoded: unknown) => Promise<unknown>
  }
  readonly requestTimeout: number
}

/** kafkajs's broker: its request of the version the broker and kafkajs agreed on, and its send. */
interface Broker {
  lookupRequest(apiKey: number, definition: unknown): (request: FetchRequest) => ProtocolRequest
}

const fetchDefinition: unknown = require("kafkajs/src/protocol/requests/fetch")
const FETCH_API_KEY: number = require("kafkajs/src/protocol/requests/apiKeys").Fetch
/** The consumer's replica id in a fetch request. */
const CONSUMER_REPLICA = -1

/** kafkajs's private `Broker#sendRequest`, which `Broker#fetch` calls after building its request. */
const sendOf = (broker: Broker): (request: ProtocolRequest) => Promise<FetchResponse> => {
  const symbol = Object.getOwnPropertySymbols(Object.getPrototypeOf(broker)).find((candidate) =>
    candidate.description === "private:Broker:sendRequest"
  )
  if (symbol === undefined) {
    throw new Error("kafkajs internals changed: Broker has no sendRequest; sluice needs kafkajs 2.2.4")
  }
  const send = (broker as unknown as Record<symbol, (request: ProtocolRequest) => Promise<FetchResponse>>)[symbol]
  return (request) => send.call(broker, request)
}

/** The part of kafkajs's `Cluster` used here. @internal */
export interface ReadCluster {
  connect(): Promise<void>
  disconnect(): Promise<void>
  addTargetTopic(topic: string): Promise<void>
  refreshMetadata(): Promise<void>
  findLeaderForPartitions(topic: string, partitions: ReadonlyArray<number>): Record<string, ReadonlyArray<number>>
  findBroker(options: { readonly nodeId: string }): Promise<Broker>
  fetchTopicsOffset(
    topics: ReadonlyArray<{
      readonly topic: string
      readonly fromBeginning: boolean
      readonly partitions: ReadonlyArray<{ readonly partition: number }>
    }>
  ): Promise<
    ReadonlyArray<
      {
        readonly topic: string
        readonly partitions: ReadonlyArray<{ readonly partition: number; readonly offset: string }>
      }
    >
  >
}

/** READ_COMMITTED in the Kafka protocol. */
const readCommitted = 1

/**
 * A cluster connection that reads committed records only and never creates
 * topics by asking for them.
 *
 * @internal
 */
export const makeReadCluster = (kafka: Kafka): ReadCluster => {
  const create = Object.getOwnPropertySymbols(kafka).find((symbol) =>
    symbol.description === "private:Kafka:createCluster"
  )
  if (create === undefined) {
    throw new Error("kafkajs internals changed: Kafka has no createCluster; sluice needs kafkajs 2.2.4")
  }
  const factory = (kafka as unknown as Record<symbol, (options: object) => ReadCluster>)[create]
  return factory({ allowAutoTopicCreation: false, isolationLevel: readCommitted })
}

/** One fetch of one partition. @internal */
export interface PartitionFetch {
  /** Committed records at or after the requested offset, without transaction markers. */
  readonly records: ReadonlyArray<RawMessage>
  /** The offset to fetch next: one past the last record the response held, markers included. */
  readonly next: number
  /** Whether the response held any record at or after the requested offset (markers and aborted ones included). */
  readonly progressed: boolean
  readonly highWatermark: number
  readonly lastStableOffset: number
}

/** @internal */
export const fetchPartition = async (
  cluster: ReadCluster,
  options: {
    readonly topic: string
    readonly partition: number
    readonly offset: number
    readonly maxWaitMs: number
    readonly maxBytes: number
  }
): Promise<PartitionFetch> => {
  const { offset, partition, topic } = options
  await cluster.addTargetTopic(topic)
  const leaders = cluster.findLeaderForPartitions(topic, [partition])
  const nodeId = Object.keys(leaders).find((id) => leaders[id].includes(partition))
  if (nodeId === undefined) {
    throw Object.assign(new Error(`no leader for ${topic} partition ${partition}`), { retriable: true })
  }
  const broker = await cluster.findBroker({ nodeId })
  const protocol = broker.lookupRequest(FETCH_API_KEY, fetchDefinition)({
    replicaId: CONSUMER_REPLICA,
    isolationLevel: readCommitted,
    maxWaitTime: options.maxWaitMs,
    minBytes: 1,
    maxBytes: options.maxBytes,
    rackId: "",
    topics: [{ topic, partitions: [{ partition, fetchOffset: String(offset), maxBytes: options.maxBytes }] }]
  })
  const decodedHere = protocol.request.apiVersion === DECODED_FETCH_VERSION
  // kafkajs's own `parse` still turns an error code into its error (KafkaJSOffsetOutOfRange, say)
  const { responses } = await sendOf(broker)(
    decodedHere ? { ...protocol, response: { ...protocol.response, decode: decodeFetchResponse } } : protocol
  )
  const answer = responses.find((r) => r.topicName === topic)?.partitions.find((p) => p.partition === partition)
  if (answer === undefined) {
    throw Object.assign(new Error(`no fetch response for ${topic} partition ${partition}`), { retriable: true })
  }
  const data: FetchedPartition = decodedHere
    ? answer
    : fromKafkajsPartition(answer as unknown as Parameters<typeof fromKafkajsPartition>[0])
  // A fetch may start inside an older batch; records before the asked offset were seen already.
  let next = offset
  for (const message of data.messages) next = Math.max(next, message.offset + 1)
  const highWatermark = Number(data.highWatermark)
  return {
    // a `FetchedRecord` is a `RawMessage`: no second object per record
    records: committedRecords(data, offset),
    next,
    progressed: next > offset,
    highWatermark,
    lastStableOffset: data.lastStableOffset === undefined || Number(data.lastStableOffset) < 0
      ? highWatermark
      : Number(data.lastStableOffset)
  }
}

/**
 * The first offset (`fromBeginning`) or the last stable offset (the end of
 * what read_committed consumers see) of each listed partition.
 *
 * @internal
 */
export const listOffsets = async (
  cluster: ReadCluster,
  topic: string,
  partitions: ReadonlyArray<number>,
  fromBeginning: boolean
): Promise<Map<number, number>> => {
  await cluster.addTargetTopic(topic)
  const [answer] = await cluster.fetchTopicsOffset([
    { topic, fromBeginning, partitions: partitions.map((partition) => ({ partition })) }
  ])
  return new Map((answer?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]))
}
