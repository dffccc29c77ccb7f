/**
 * Reading one partition from an offset, without a consumer group.
 *
 * kafkajs 2.2.4 has no `assign()`: its consumer only reads what a consumer
 * group hands it, always joins a group (hundreds of milliseconds), and hides
 * where a fetch ended when a batch held only transaction markers. Sluice keeps
 * positions in its own epochs and reads "to the end" on every resume, so it
 * needs exactly what the Java client's `assign` + `seek` give: a fetch at an
 * offset, with the offset after the last record of the response, markers
 * included. kafkajs has that one layer down (its `Cluster` and `Broker`), and
 * its `Batch` drops aborted records and markers for read_committed. kafkajs is
 * pinned to 2.2.4 (it is no longer developed), so these internals do not move;
 * this file is the only place that touches them.
 */
import type { IHeaders, Kafka } from "kafkajs"
import { createRequire } from "node:module"

const require = createRequire(import.meta.url)

/** A record as kafkajs decodes it from a fetch response. @internal */
export interface RawMessage {
  readonly offset: string
  readonly key: Buffer | null
  readonly value: Buffer | null
  readonly timestamp: string
  readonly headers: IHeaders
  readonly isControlRecord?: boolean
}

interface PartitionData {
  readonly partition: number
  readonly errorCode: number
  readonly highWatermark: string
  readonly lastStableOffset?: string
  readonly logStartOffset?: string
  readonly abortedTransactions: ReadonlyArray<unknown>
  readonly messages: ReadonlyArray<RawMessage>
}

interface Broker {
  fetch(request: {
    readonly isolationLevel: number
    readonly maxWaitTime: number
    readonly minBytes: number
    readonly maxBytes: number
    readonly topics: ReadonlyArray<{
      readonly topic: string
      readonly partitions: ReadonlyArray<
        { readonly partition: number; readonly fetchOffset: string; readonly maxBytes: number }
      >
    }>
  }): Promise<
    {
      readonly responses: ReadonlyArray<
        { readonly topicName: string; readonly partitions: ReadonlyArray<PartitionData> }
      >
    }
  >
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

const Batch: new(topic: string, fetchedOffset: string, data: PartitionData) => {
  readonly messages: ReadonlyArray<RawMessage>
} = require("kafkajs/src/consumer/batch")

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
  const { responses } = await broker.fetch({
    isolationLevel: readCommitted,
    maxWaitTime: options.maxWaitMs,
    minBytes: 1,
    maxBytes: options.maxBytes,
    topics: [{ topic, partitions: [{ partition, fetchOffset: String(offset), maxBytes: options.maxBytes }] }]
  })
  const data = responses.find((r) => r.topicName === topic)?.partitions.find((p) => p.partition === partition)
  if (data === undefined) {
    throw Object.assign(new Error(`no fetch response for ${topic} partition ${partition}`), { retriable: true })
  }
  // A fetch may start inside an older batch; records before the asked offset were seen already.
  let next = offset
  for (const message of data.messages) next = Math.max(next, Number(message.offset) + 1)
  const highWatermark = Number(data.highWatermark)
  return {
    records: new Batch(topic, String(offset), data).messages,
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
