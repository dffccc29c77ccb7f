/**
 * Produce requests the broker accepts. kafkajs puts all the records of one
 * partition in a request into one record batch, and the broker refuses a
 * batch over the topic's `max.message.bytes` (1 MiB by default): a send of
 * many small records would fail as a whole. Sends are split, in order.
 */
import type { ProducerRecord, TopicRecords } from "../KafkaClient.js"

/** Bytes per produce request: half the default `max.message.bytes`, to leave room for framing. @internal */
export const requestBytes = 512 * 1024

/** What Kafka adds to a record's key and value, at most: its framing in the batch. */
const recordOverhead = 64

/** @internal */
export const recordBytes = (record: Pick<ProducerRecord, "key" | "value">): number =>
  byteLength(record.key) + byteLength(record.value)

/**
 * Splits records into produce requests of at most `maxBytes`, keeping their
 * order; a record larger than that goes alone (for the broker to accept or
 * refuse).
 *
 * @internal
 */
export const splitRequests = (
  batch: ReadonlyArray<TopicRecords>,
  maxBytes = requestBytes
): Array<Array<TopicRecords>> => {
  const requests: Array<Array<TopicRecords>> = []
  let current: Array<TopicRecords> = []
  let bytes = 0
  for (const { records, topic } of batch) {
    let part: Array<ProducerRecord> = []
    for (const record of records) {
      const size = recordOverhead + recordBytes(record)
      if (bytes + size > maxBytes && bytes > 0) {
        if (part.length > 0) current.push({ topic, records: part })
        requests.push(current)
        current = []
        part = []
        bytes = 0
      }
      part.push(record)
      bytes += size
    }
    if (part.length > 0) current.push({ topic, records: part })
  }
  if (current.length > 0) requests.push(current)
  return requests
}

const byteLength = (bytes: Uint8Array | string | null): number =>
  bytes === null ? 0 : typeof bytes === "string" ? Buffer.byteLength(bytes) : bytes.byteLength
