/**
 * Fetch responses decoded here rather than by kafkajs, for `partitionFetch.ts`.
 *
 * kafkajs decodes every record's offset and timestamp through its `Long`
 * (`fromString`, `add`, `toString`) and builds a headers object, a batch
 * context and a message per record; on the Kafka store's resume of 1M keys
 * that was a third of the restore's CPU and much of its garbage. This reads
 * Kafka's record batch v2 (magic 2, uncompressed) straight into numbers and
 * views of the response, and filters it for read_committed as kafkajs's
 * `Batch` does. Anything else — compressed batches, the legacy message sets,
 * a fetch version other than 11 — goes through kafkajs's own decoder, so no
 * record a topic can hold is read differently.
 *
 * Fetch response v11 (the newest kafkajs 2.2.4 asks for; later ones are
 * flexible versions):
 *
 *     throttle_time_ms:int32 error_code:int16 session_id:int32
 *     [topic:string [partition:int32 error_code:int16 high_watermark:int64
 *       last_stable_offset:int64 log_start_offset:int64
 *       [aborted: producer_id:int64 first_offset:int64] preferred_read_replica:int32
 *       records:bytes]]
 *
 * Record batch v2: base_offset:int64 length:int32 partition_leader_epoch:int32
 * magic:int8 crc:uint32 attributes:int16 last_offset_delta:int32
 * first_timestamp:int64 max_timestamp:int64 producer_id:int64
 * producer_epoch:int16 base_sequence:int32 [record] — each record: length,
 * attributes:int8, timestamp_delta (varlong), offset_delta, key, value,
 * [header key, header value], all varints zigzag-encoded.
 */
import { createRequire } from "node:module"

const require = createRequire(import.meta.url)

/** A record of a fetch response, before the read_committed filter. @internal */
export interface FetchedRecord {
  readonly offset: number
  readonly key: Buffer | null
  readonly value: Buffer | null
  readonly timestamp: number
  readonly headers: Record<string, Buffer | Array<Buffer>>
  readonly producerId: number
  readonly inTransaction: boolean
  readonly isControlRecord: boolean
}

/** A partition of a fetch response, as kafkajs's `parse` checks it. @internal */
export interface FetchedPartition {
  readonly partition: number
  readonly errorCode: number
  readonly highWatermark: string
  readonly lastStableOffset: string
  readonly abortedTransactions: ReadonlyArray<{ readonly producerId: number; readonly firstOffset: number }>
  readonly messages: ReadonlyArray<FetchedRecord>
}

/** @internal */
export interface FetchResponse {
  readonly throttleTime: number
  readonly clientSideThrottleTime: number
  readonly errorCode: number
  readonly responses: ReadonlyArray<
    { readonly topicName: string; readonly partitions: ReadonlyArray<FetchedPartition> }
  >
}

/** The fetch version decoded here. @internal */
export const DECODED_FETCH_VERSION = 11

const TWO_32 = 4294967296
const RECORD_BATCH_MAGIC = 2
/** The bytes of a record batch before its records, from its base offset to its record count. */
const BATCH_HEADER_BYTES = 61
/** How many bytes of a batch come before the batch's length field says where it ends. */
const LOG_OVERHEAD = 12
const MAGIC_AT = 16
const COMPRESSION_MASK = 0x07
const LOG_APPEND_TIME_FLAG = 0x08
const TRANSACTIONAL_FLAG = 0x10
const CONTROL_FLAG = 0x20

interface KafkajsMessage {
  readonly offset: string
  readonly key: Buffer | null
  readonly value: Buffer | null
  readonly timestamp: string
  readonly headers: Record<string, Buffer | Array<Buffer>>
  readonly isControlRecord?: boolean
  /** Absent from the records of a legacy message set (magic 0 and 1), which has no transactions. */
  readonly batchContext?: { readonly producerId: string; readonly inTransaction: boolean }
}

const KafkajsDecoder: new(buffer: Buffer) => unknown = require("kafkajs/src/protocol/decoder")
const decodeKafkajsMessages: (decoder: unknown) => Promise<ReadonlyArray<KafkajsMessage>> = require(
  "kafkajs/src/protocol/requests/fetch/v4/decodeMessages"
)

/** Reads a response front to back; a read past the end throws a `RangeError`, as `Buffer`'s own reads do. */
class Reader {
  at = 0
  constructor(readonly buffer: Buffer, from = 0) {
    this.at = from
  }
  int8(): number {
    return this.buffer.readInt8(this.at++)
  }
  int16(): number {
    const value = this.buffer.readInt16BE(this.at)
    this.at += 2
    return value
  }
  int32(): number {
    const value = this.buffer.readInt32BE(this.at)
    this.at += 4
    return value
  }
  /** An int64 as a number: offsets, timestamps and producer ids stay far below 2^53. */
  int64(): number {
    const high = this.buffer.readInt32BE(this.at)
    const low = this.buffer.readUInt32BE(this.at + 4)
    this.at += 8
    return high * TWO_32 + low
  }
  string(): string {
    const length = this.int16()
    if (length < 0) return ""
    const text = this.buffer.toString("utf8", this.at, this.at + length)
    this.at += length
    return text
  }
  /** A zigzag varint of up to 64 bits, as a number. */
  varlong(): number {
    let value = 0
    let scale = 1
    for (;;) {
      if (this.at >= this.buffer.length) throw new RangeError("varint past the end of the record batch")
      const byte = this.buffer[this.at++]
      value += (byte & 0x7f) * scale
      if ((byte & 0x80) === 0) break
      scale *= 128
      if (scale > 2 ** 63) throw new RangeError("varint longer than 64 bits")
    }
    // zigzag: even values are the non-negative ones
    return value % 2 === 0 ? value / 2 : -(value + 1) / 2
  }
  /** Varint-length bytes, as a view of the response; `null` for length -1. */
  bytes(): Buffer | null {
    const length = this.varlong()
    if (length < 0) return null
    const end = this.at + length
    if (end > this.buffer.length) throw new RangeError("record past the end of the record batch")
    const bytes = this.buffer.subarray(this.at, end)
    this.at = end
    return bytes
  }
}

/** kafkajs's `fetch` v11 `response.decode`, with the record sets decoded here. @internal */
export const decodeFetchResponse = async (raw: Buffer): Promise<FetchResponse> => {
  const reader = new Reader(raw)
  const clientSideThrottleTime = reader.int32()
  const errorCode = reader.int16()
  reader.int32() // session id: sessions are not used
  const topics = Math.max(0, reader.int32())
  const responses: Array<FetchResponse["responses"][number]> = []
  for (let t = 0; t < topics; t++) {
    const topicName = reader.string()
    const count = Math.max(0, reader.int32())
    const partitions: Array<FetchedPartition> = []
    for (let p = 0; p < count; p++) {
      const partition = reader.int32()
      const partitionError = reader.int16()
      const highWatermark = reader.int64()
      const lastStableOffset = reader.int64()
      reader.int64() // log start offset
      const aborted = Math.max(0, reader.int32())
      const abortedTransactions: Array<{ producerId: number; firstOffset: number }> = []
      for (let a = 0; a < aborted; a++) {
        abortedTransactions.push({ producerId: reader.int64(), firstOffset: reader.int64() })
      }
      reader.int32() // preferred read replica
      const size = reader.int32()
      const messages = size <= 0 || reader.at + size > raw.length
        ? []
        : await decodeRecordSet(raw.subarray(reader.at - 4, reader.at + size))
      reader.at += Math.max(0, size)
      partitions.push({
        partition,
        errorCode: partitionError,
        highWatermark: String(highWatermark),
        lastStableOffset: String(lastStableOffset),
        abortedTransactions,
        messages
      })
    }
    responses.push({ topicName, partitions })
  }
  // as kafkajs: the broker did not throttle, the client may be asked to
  return { throttleTime: 0, clientSideThrottleTime, errorCode, responses }
}

/** Whether every batch of a record set is one this module decodes: magic 2, uncompressed. */
const decodable = (records: Buffer): boolean => {
  for (let at = 4; at + BATCH_HEADER_BYTES <= records.length;) {
    if (records[at + MAGIC_AT] !== RECORD_BATCH_MAGIC) return false
    if ((records.readInt16BE(at + 21) & COMPRESSION_MASK) !== 0) return false
    at += LOG_OVERHEAD + records.readInt32BE(at + 8)
  }
  return true
}

/**
 * The headers of every record without any: one frozen object, not one per
 * record (the decoded record's and the `KafkaRecord`'s both).
 *
 * @internal
 */
export const noHeaders: Record<string, never> = Object.freeze({})

/** A record set (its int32 size first): its records, partial batches at the end left out as kafkajs does. */
const decodeRecordSet = async (sized: Buffer): Promise<ReadonlyArray<FetchedRecord>> => {
  if (!decodable(sized)) return fromKafkajs(await decodeKafkajsMessages(new KafkajsDecoder(sized)))
  const out: Array<FetchedRecord> = []
  const reader = new Reader(sized, 4)
  while (reader.at + BATCH_HEADER_BYTES <= sized.length) {
    const start = reader.at
    const baseOffset = reader.int64()
    const end = start + LOG_OVERHEAD + reader.int32()
    // the broker cuts the response at maxBytes, mid-batch
    if (end > sized.length) break
    reader.at = start + 21
    const attributes = reader.int16()
    reader.int32() // last offset delta
    const firstTimestamp = reader.int64()
    const maxTimestamp = reader.int64()
    const producerId = reader.int64()
    reader.at = start + BATCH_HEADER_BYTES
    const count = sized.readInt32BE(start + BATCH_HEADER_BYTES - 4)
    const inTransaction = (attributes & TRANSACTIONAL_FLAG) !== 0
    const isControlRecord = (attributes & CONTROL_FLAG) !== 0
    const logAppendTime = (attributes & LOG_APPEND_TIME_FLAG) !== 0
    const batch = new Reader(sized.subarray(0, end), reader.at)
    for (let r = 0; r < count; r++) {
      batch.varlong() // record length
      batch.int8() // record attributes, unused
      const timestampDelta = batch.varlong()
      const offsetDelta = batch.varlong()
      const key = batch.bytes()
      const value = batch.bytes()
      const headerCount = batch.varlong()
      const headers: Record<string, Buffer | Array<Buffer>> = headerCount === 0 ? noHeaders : {}
      for (let h = 0; h < headerCount; h++) {
        const name = batch.bytes()?.toString("utf8") ?? ""
        const headerValue = batch.bytes() ?? Buffer.alloc(0)
        const before = headers[name]
        headers[name] = before === undefined
          ? headerValue
          : Array.isArray(before)
          ? [...before, headerValue]
          : [before, headerValue]
      }
      out.push({
        offset: baseOffset + offsetDelta,
        key,
        value,
        timestamp: logAppendTime ? maxTimestamp : firstTimestamp + timestampDelta,
        headers,
        producerId,
        inTransaction,
        isControlRecord
      })
    }
    reader.at = end
  }
  return out
}

const fromKafkajs = (messages: ReadonlyArray<KafkajsMessage>): Array<FetchedRecord> =>
  messages.map((message) => ({
    offset: Number(message.offset),
    key: message.key,
    value: message.value,
    timestamp: Number(message.timestamp),
    headers: message.headers,
    producerId: Number(message.batchContext?.producerId ?? -1),
    inTransaction: message.batchContext?.inTransaction ?? false,
    isControlRecord: message.isControlRecord ?? false
  }))

/** kafkajs's decoding of a whole response, for fetch versions other than 11. @internal */
export const fromKafkajsPartition = (
  data: {
    readonly partition: number
    readonly errorCode: number
    readonly highWatermark: string
    readonly lastStableOffset?: string
    /** Absent before fetch version 4, which brought transactions. */
    readonly abortedTransactions?: ReadonlyArray<{ readonly producerId: string; readonly firstOffset: string }>
    readonly messages: ReadonlyArray<KafkajsMessage>
  }
): FetchedPartition => ({
  partition: data.partition,
  errorCode: data.errorCode,
  highWatermark: data.highWatermark,
  lastStableOffset: data.lastStableOffset ?? "-1",
  abortedTransactions: (data.abortedTransactions ?? []).map((aborted) => ({
    producerId: Number(aborted.producerId),
    firstOffset: Number(aborted.firstOffset)
  })),
  messages: fromKafkajs(data.messages)
})

/** A control record's key: version 0, type 0 (abort); type 1 is a commit. */
const isAbortMarker = (record: FetchedRecord): boolean => {
  const key = record.key
  return record.isControlRecord && key !== null && key.length >= 4 && key[0] === 0 && key[1] === 0 &&
    key[2] === 0 && key[3] === 0
}

/**
 * What a read_committed reader sees of a partition's records from `fetchOffset`,
 * as kafkajs's `Batch` filters them: records before the asked offset (a fetch
 * may start inside an older batch), records of aborted transactions (from the
 * first offset the broker lists for the producer to its abort marker), and
 * transaction markers are left out.
 *
 * @internal
 */
export const committedRecords = (
  partition: FetchedPartition,
  fetchOffset: number
): Array<FetchedRecord> => {
  const pending = [...partition.abortedTransactions].sort((a, b) => a.firstOffset - b.firstOffset)
  const aborting = new Set<number>()
  const out: Array<FetchedRecord> = []
  for (const record of partition.messages) {
    if (record.offset < fetchOffset) continue
    while (pending.length > 0 && record.offset >= pending[0].firstOffset) aborting.add(pending.shift()!.producerId)
    if (isAbortMarker(record)) aborting.delete(record.producerId)
    else if (record.inTransaction && aborting.has(record.producerId)) continue
    if (!record.isControlRecord) out.push(record)
  }
  return out
}
