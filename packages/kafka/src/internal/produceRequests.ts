/**
 * Produce requests the broker accepts and the client encodes in linear time.
 * kafkajs puts all the records of one partition in a request into one record
 * batch, and the broker refuses a batch over the topic's `max.message.bytes`
 * (1 MiB by default): a send of many small records would fail as a whole.
 * kafkajs also groups a request's records by partition with a copy of the
 * partition's array per record (`groupMessagesPerPartition`, kafkajs 2.2.4):
 * a request of n records of one partition costs n²/2 copies, unless
 * `kafkajsProduce.ts` replaced that grouping. Sends are split, in order, by
 * bytes and by record count.
 */
import type { ProducerRecord, TopicRecords } from "../KafkaClient.js"

/** Bytes per produce request: half the default `max.message.bytes`, to leave room for framing. @internal */
export const requestBytes = 512 * 1024

/**
 * Records per produce request. kafkajs's grouping costs about
 * `requestRecords / 2` array copies per record, and each request is one round
 * trip of the producer (one request in flight): this keeps the first small
 * next to the encoding of a record and the second rare.
 *
 * @internal
 */
export const requestRecords = 1_000

/**
 * Records per produce request when kafkajs groups in linear time
 * (`kafkajsProduce.ts`): then the byte bound decides for a store's small
 * records (512 KiB is about 4,000 version records), and a request is one
 * round trip instead of four to eight.
 *
 * @internal
 */
export const linearRequestRecords = 8_192

/** What Kafka adds to a record's key and value, at most: its framing in the batch. */
const recordOverhead = 64

/** @internal */
export const recordBytes = (record: Pick<ProducerRecord, "key" | "value">): number =>
  byteLength(record.key) + byteLength(record.value)

/**
 * Splits records into produce requests of at most `maxBytes` and `maxRecords`,
 * keeping their order; a record larger than `maxBytes` goes alone (for the
 * broker to accept or refuse).
 *
 * @internal
 */
export const splitRequests = (
  batch: ReadonlyArray<TopicRecords>,
  maxBytes = requestBytes,
  maxRecords = requestRecords
): Array<Array<TopicRecords>> => {
  const requests: Array<Array<TopicRecords>> = []
  let current: Array<TopicRecords> = []
  let bytes = 0
  let count = 0
  for (const { records, topic } of batch) {
    let part: Array<ProducerRecord> = []
    for (const record of records) {
      const size = recordOverhead + recordBytes(record)
      if ((bytes + size > maxBytes && bytes > 0) || count === maxRecords) {
        if (part.length > 0) current.push({ topic, records: part })
        requests.push(current)
        current = []
        part = []
        bytes = 0
        count = 0
      }
      part.push(record)
      bytes += size
      count++
    }
    if (part.length > 0) current.push({ topic, records: part })
  }
  if (current.length > 0) requests.push(current)
  return requests
}

const byteLength = (bytes: Uint8Array | string | null): number =>
  bytes === null ? 0 : typeof bytes === "string" ? Buffer.byteLength(bytes) : bytes.byteLength
