/**
 * kafkajs, loaded with two modules of its produce path replaced by ones that
 * give the same result in linear time and one allocation per partition.
 *
 * kafkajs 2.2.4 (unmaintained since 2023) spends most of a large send in two
 * places (bench/PROFILE.md, "Kafka produce path", session 8):
 *
 * - `producer/groupMessagesPerPartition` groups a request's records by
 *   partition with a copy of the partition's array per record
 *   (`[...current, message]`): n²/2 copies for n records of one partition,
 *   which is why sends were cut at 1,000 records a request.
 * - `recordBatch/record/v0` encodes each record through an `Encoder` that
 *   zero-fills a 512-byte buffer, allocates a `Buffer` per varint and does
 *   64-bit `Long` arithmetic for the timestamp delta; `produce/v3/request`
 *   copies each message into a new object before that and each record's
 *   bytes into the batch after it. The replacement request writes a
 *   partition's batch into one buffer (v4 to v7 build on v3's module); v3 is
 *   the only module that requires `record/v0`, so that one stays kafkajs's,
 *   for the requests the replacement hands back to kafkajs.
 *
 * Both are plain CommonJS modules that kafkajs `require`s by path. Their
 * replacements go into Node's require cache before kafkajs's own modules
 * load, so the rest of this package takes kafkajs from here and never imports
 * it first. Where kafkajs was loaded before (a user's own import of it), its
 * modules hold the originals: `linearProduce` is then `false` and sends stay
 * at the record count the original grouping affords.
 *
 * The encoders write byte for byte what kafkajs's write (a test holds them
 * equal over keys, values and headers of every kind), and the broker checks
 * every batch's CRC on produce.
 */
import type * as KafkajsModule from "kafkajs"
import { createRequire } from "node:module"

const require = createRequire(import.meta.url)

type Kafkajs = typeof KafkajsModule

/** A message as kafkajs's record encoder receives it. @internal */
export interface RecordInput {
  readonly offsetDelta?: number | undefined
  readonly timestampDelta?: number | undefined
  readonly key?: unknown
  readonly value?: unknown
  readonly headers?: Record<string, unknown> | undefined
}

/** kafkajs's `Encoder`, as far as the batch encoder reads a record's. */
interface EncoderLike {
  buf: Buffer
  offset: number
}

type GroupInput = {
  readonly topic: string
  readonly partitionMetadata: ReadonlyArray<unknown>
  readonly messages: ReadonlyArray<unknown>
  readonly partitioner: (options: { topic: string; partitionMetadata: unknown; message: unknown }) => number
}
type Group = (input: GroupInput) => Record<number, Array<unknown>>
type EncodeRecord = (record: RecordInput) => EncoderLike

const modulePath = {
  group: require.resolve("kafkajs/src/producer/groupMessagesPerPartition"),
  record: require.resolve("kafkajs/src/protocol/recordBatch/record/v0"),
  sendMessages: require.resolve("kafkajs/src/producer/sendMessages"),
  produceV3: require.resolve("kafkajs/src/protocol/requests/produce/v3/request")
}

/** kafkajs's own record encoder: where a delta beyond 32 bits goes, and what the test compares with. @internal */
export const kafkajsEncodeRecord: EncodeRecord = require(modulePath.record)

/** kafkajs's own grouping, kept for the test that compares the two. @internal */
export const kafkajsGroup: Group = require(modulePath.group)

const Encoder: { prototype: object } = require("kafkajs/src/protocol/encoder")

/**
 * Groups messages by the partition the partitioner picks, each partition's
 * in their order: kafkajs's grouping, one push per message.
 *
 * @internal
 */
export const groupMessagesPerPartition: Group = ({ messages, partitionMetadata, partitioner, topic }) => {
  const result: Record<number, Array<unknown>> = {}
  if (partitionMetadata.length === 0) return result
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message })
    const current = result[partition]
    if (current === undefined) result[partition] = [message]
    else current.push(message)
  }
  return result
}

/** kafkajs's zigzag of a 32-bit varint. */
const zigZag = (value: number) => (value << 1) ^ (value >> 31)

/** Bytes of an unsigned varint, as kafkajs's `writeUVarInt` loops over it. */
const uvarIntSize = (value: number) => {
  let bytes = 1
  while ((value & 0xffffff80) !== 0) {
    bytes++
    value >>>= 7
  }
  return bytes
}

const writeUVarInt = (buffer: Buffer, at: number, value: number) => {
  while ((value & 0xffffff80) !== 0) {
    buffer[at++] = (value & 0x7f) | 0x80
    value >>>= 7
  }
  buffer[at++] = value & 0x7f
  return at
}

const INT32_MIN = -0x80000000
const INT32_MAX = 0x7fffffff

/** A field's bytes as kafkajs writes them: a `Buffer` as is, `null` as absent, anything else as its UTF-8 string. */
const fieldBytes = (value: unknown): Buffer | null =>
  value === null || value === undefined ? null : Buffer.isBuffer(value) ? value : Buffer.from(String(value), "utf8")

/** A record's fields as bytes, and its encoded size; `undefined` for what goes to kafkajs's encoder. */
interface PreparedRecord {
  readonly key: Buffer | null
  readonly value: Buffer | null
  readonly headerFields: ReadonlyArray<Buffer | null>
  /** zigzag of the timestamp delta: for a value inside 32 bits, kafkajs's 64-bit zigzag is the 32-bit one. */
  readonly timestamp: number
  readonly offset: number
  /** zigzag of the body's length, which the record starts with. */
  readonly length: number
  readonly size: number
}

const fieldSize = (bytes: Buffer | null) => bytes === null ? 1 : uvarIntSize(zigZag(bytes.length)) + bytes.length

const prepareRecord = (record: RecordInput): PreparedRecord | undefined => {
  const { headers = {}, offsetDelta = 0, timestampDelta = 0 } = record
  if (
    !Number.isInteger(timestampDelta) || timestampDelta < INT32_MIN || timestampDelta > INT32_MAX ||
    !Number.isInteger(offsetDelta) || offsetDelta < INT32_MIN || offsetDelta > INT32_MAX
  ) {
    return undefined
  }
  const key = fieldBytes(record.key)
  const value = fieldBytes(record.value)
  // kafkajs's header order: each key in `Object.keys` order, an array value as one header per element
  const headerFields: Array<Buffer | null> = []
  for (const headerKey of Object.keys(headers)) {
    const headerValue = headers[headerKey]
    for (const element of Array.isArray(headerValue) ? headerValue : [headerValue]) {
      headerFields.push(Buffer.from(headerKey, "utf8"), fieldBytes(element))
    }
  }
  const timestamp = zigZag(timestampDelta)
  const offset = zigZag(offsetDelta)
  let body = 1 + uvarIntSize(timestamp) + uvarIntSize(offset) + fieldSize(key) + fieldSize(value) +
    uvarIntSize(zigZag(headerFields.length / 2))
  for (const field of headerFields) body += fieldSize(field)
  const length = zigZag(body)
  return { key, value, headerFields, timestamp, offset, length, size: uvarIntSize(length) + body }
}

const writeField = (buffer: Buffer, at: number, bytes: Buffer | null) => {
  if (bytes === null) {
    buffer[at] = 1 // zigzag(-1)
    return at + 1
  }
  at = writeUVarInt(buffer, at, zigZag(bytes.length))
  return at + bytes.copy(buffer, at)
}

/** Writes a prepared record at `at`: length, attributes, deltas, key, value, headers. Returns the end. */
const writeRecord = (buffer: Buffer, at: number, record: PreparedRecord) => {
  at = writeUVarInt(buffer, at, record.length)
  buffer[at++] = 0 // attributes: none used
  at = writeUVarInt(buffer, at, record.timestamp)
  at = writeUVarInt(buffer, at, record.offset)
  at = writeField(buffer, at, record.key)
  at = writeField(buffer, at, record.value)
  at = writeUVarInt(buffer, at, zigZag(record.headerFields.length / 2))
  for (const field of record.headerFields) at = writeField(buffer, at, field)
  return at
}

const encoderOf = (buffer: Buffer, length: number): EncoderLike => {
  const encoder: EncoderLike = Object.create(Encoder.prototype)
  encoder.buf = buffer
  encoder.offset = length
  return encoder
}

/**
 * Encodes one record of a v2 record batch (length, attributes, timestamp
 * delta, offset delta, key, value, headers) into one buffer, as the request
 * below writes each: what the tests compare with kafkajs's `record/v0` over
 * every kind of field and delta. A timestamp delta or offset delta outside 32
 * bits goes to kafkajs's own encoder.
 *
 * @internal
 */
export const encodeRecord: EncodeRecord = (record) => {
  const prepared = prepareRecord(record)
  if (prepared === undefined) return kafkajsEncodeRecord(record)
  const buffer = Buffer.allocUnsafe(prepared.size)
  return encoderOf(buffer, writeRecord(buffer, 0, prepared))
}

/** A message in kafkajs's produce request. */
interface ProduceMessage extends RecordInput {
  readonly timestamp?: unknown
}

/** kafkajs's produce request v3 arguments (v4 to v7 build on it). @internal */
export interface ProduceArguments {
  readonly acks: number
  readonly timeout: number
  readonly transactionalId?: string | null
  readonly producerId?: unknown
  readonly producerEpoch?: number
  readonly compression?: number
  readonly topicData: ReadonlyArray<{
    readonly topic: string
    readonly partitions: ReadonlyArray<{
      readonly partition: number
      readonly firstSequence?: number
      readonly messages: ReadonlyArray<ProduceMessage>
    }>
  }>
}

interface ProduceRequest {
  readonly encode: () => Promise<unknown>
}

type MakeProduceRequest = (args: ProduceArguments) => ProduceRequest

const NO_COMPRESSION = 0
const TRANSACTIONAL = 16
const RECORD_BATCH_MAGIC = 2

interface KafkajsEncoder extends EncoderLike {
  writeString(value: string | null): KafkajsEncoder
  writeInt8(value: number): KafkajsEncoder
  writeInt16(value: number): KafkajsEncoder
  writeInt32(value: number): KafkajsEncoder
  writeUInt32(value: number): KafkajsEncoder
  writeInt64(value: unknown): KafkajsEncoder
  writeArray(value: ReadonlyArray<KafkajsEncoder>): KafkajsEncoder
  writeBuffer(value: Buffer): KafkajsEncoder
  readonly buffer: Buffer
}

const NewEncoder = Encoder as unknown as new() => KafkajsEncoder
const crc32C: (buffer: Buffer) => number = require("kafkajs/src/protocol/recordBatch/crc32C")
const Long: { fromInt(value: number): unknown; fromValue(value: unknown): unknown } = require(
  "kafkajs/src/utils/long"
)

/**
 * One partition's record batch, as kafkajs's `partitionsEncoder` and
 * `RecordBatch` write it for messages without timestamps and without
 * compression: every record stamped with the time of the request.
 */
const encodePartition = (
  { firstSequence = 0, messages, partition }: ProduceArguments["topicData"][number]["partitions"][number],
  { producerEpoch = 0, producerId = Long.fromInt(-1), transactionalId = null }: ProduceArguments,
  now: number
): KafkajsEncoder | undefined => {
  const prepared: Array<PreparedRecord> = new Array(messages.length)
  let recordsSize = 0
  for (let i = 0; i < messages.length; i++) {
    const record = prepareRecord({
      key: messages[i].key,
      value: messages[i].value,
      headers: messages[i].headers,
      offsetDelta: i
    })
    if (record === undefined) return undefined
    prepared[i] = record
    recordsSize += record.size
  }
  const header = new NewEncoder()
    .writeInt16(NO_COMPRESSION | (transactionalId ? TRANSACTIONAL : 0))
    .writeInt32(messages.length - 1)
    .writeInt64(now)
    .writeInt64(now)
    .writeInt64(producerId)
    .writeInt16(producerEpoch)
    .writeInt32(firstSequence)
    .writeInt32(messages.length).buffer
  // the CRC covers the batch from its attributes to its end
  const body = Buffer.allocUnsafe(header.length + recordsSize)
  let at = header.copy(body, 0)
  for (const record of prepared) at = writeRecord(body, at, record)
  const batch = new NewEncoder()
    .writeInt32(0) // partition leader epoch
    .writeInt8(RECORD_BATCH_MAGIC)
    .writeUInt32(crc32C(body))
    .writeBuffer(body).buffer
  const recordSet = new NewEncoder().writeInt64(Long.fromInt(0)).writeInt32(batch.length).writeBuffer(batch)
  return new NewEncoder().writeInt32(partition).writeInt32(recordSet.offset).writeBuffer(recordSet.buffer)
}

/**
 * kafkajs's produce request v3 with the record batches encoded in one pass:
 * one buffer per partition instead of an `Encoder` per record and a copy of
 * each message. Compressed requests, messages with their own timestamps and
 * deltas beyond 32 bits go to kafkajs's own request.
 *
 * @internal
 */
export const makeProduceRequest = (kafkajsRequest: MakeProduceRequest): MakeProduceRequest => (args) => {
  const request = kafkajsRequest(args)
  if ((args.compression ?? NO_COMPRESSION) !== NO_COMPRESSION) return request
  for (const { partitions } of args.topicData) {
    for (const { messages } of partitions) {
      for (const message of messages) if (message.timestamp != null) return request
    }
  }
  return {
    ...request,
    encode: async () => {
      const now = Date.now()
      const topics: Array<KafkajsEncoder> = []
      for (const data of args.topicData) {
        const partitions: Array<KafkajsEncoder> = []
        for (const partition of data.partitions) {
          const encoded = encodePartition(partition, args, now)
          if (encoded === undefined) return request.encode()
          partitions.push(encoded)
        }
        topics.push(new NewEncoder().writeString(data.topic).writeArray(partitions))
      }
      return new NewEncoder()
        .writeString(args.transactionalId ?? null)
        .writeInt16(args.acks)
        .writeInt32(args.timeout)
        .writeArray(topics)
    }
  }
}

const install = (path: string, replacement: unknown) => {
  const cached = require.cache[path]
  if (cached !== undefined) cached.exports = replacement
}

/**
 * Whether kafkajs's produce path groups and encodes records with the
 * functions above: `false` when something loaded kafkajs's producer before
 * this module could replace them.
 *
 * @internal
 */
export const linearProduce: boolean = require.cache[modulePath.sendMessages] === undefined &&
  require.cache[modulePath.produceV3] === undefined

/**
 * kafkajs's own produce request v3, with kafkajs's own record encoder: what
 * a compressed request goes through, and what the test compares with.
 *
 * @internal
 */
export const kafkajsProduceRequest: MakeProduceRequest = require(modulePath.produceV3)

if (linearProduce) {
  install(modulePath.group, groupMessagesPerPartition)
  // v4 to v7 build on v3's module when the producer first sends: they get this one
  install(modulePath.produceV3, makeProduceRequest(kafkajsProduceRequest))
}

/** kafkajs itself, loaded after the replacements. @internal */
export const Kafkajs: Kafkajs = require("kafkajs")
