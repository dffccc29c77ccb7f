/**
 * kafkajs, loaded with two functions of its produce path replaced by ones
 * that give the same result in linear time and one allocation per record.
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
 *   64-bit `Long` arithmetic for the timestamp delta.
 *
 * Both are plain CommonJS modules that kafkajs `require`s by path. Their
 * replacements go into Node's require cache before kafkajs's own modules
 * load, so the rest of this package takes kafkajs from here and never imports
 * it first. Where kafkajs was loaded before (a user's own import of it), its
 * modules hold the originals: `linearProduce` is then `false` and sends stay
 * at the record count the original grouping affords.
 *
 * The record encoder writes byte for byte what kafkajs's writes (a test holds
 * them equal over keys, values and headers of every kind), and the broker
 * checks every batch's CRC on produce.
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

/** kafkajs's own record encoder, kept for the test that compares the two. @internal */
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

/**
 * Encodes one record of a v2 record batch (length, attributes, timestamp
 * delta, offset delta, key, value, headers) into one buffer. A timestamp
 * delta or offset delta outside 32 bits, or a header key that is not a
 * string, goes to kafkajs's own encoder.
 *
 * @internal
 */
export const encodeRecord: EncodeRecord = (record) => {
  const { headers = {}, offsetDelta = 0, timestampDelta = 0 } = record
  if (
    !Number.isInteger(timestampDelta) || timestampDelta < INT32_MIN || timestampDelta > INT32_MAX ||
    !Number.isInteger(offsetDelta) || offsetDelta < INT32_MIN || offsetDelta > INT32_MAX
  ) {
    return kafkajsEncodeRecord(record)
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
  // for a value inside 32 bits, the 64-bit zigzag kafkajs uses for the timestamp is the 32-bit one
  const timestamp = zigZag(timestampDelta)
  const offset = zigZag(offsetDelta)
  const fieldSize = (bytes: Buffer | null) => bytes === null ? 1 : uvarIntSize(zigZag(bytes.length)) + bytes.length
  let body = 1 + uvarIntSize(timestamp) + uvarIntSize(offset) + fieldSize(key) + fieldSize(value) +
    uvarIntSize(zigZag(headerFields.length / 2))
  for (const field of headerFields) body += fieldSize(field)
  const length = zigZag(body)
  const buffer = Buffer.allocUnsafe(uvarIntSize(length) + body)
  let at = writeUVarInt(buffer, 0, length)
  buffer[at++] = 0 // attributes: none used
  at = writeUVarInt(buffer, at, timestamp)
  at = writeUVarInt(buffer, at, offset)
  const writeField = (bytes: Buffer | null) => {
    if (bytes === null) {
      buffer[at++] = 1 // zigzag(-1)
    } else {
      at = writeUVarInt(buffer, at, zigZag(bytes.length))
      at += bytes.copy(buffer, at)
    }
  }
  writeField(key)
  writeField(value)
  at = writeUVarInt(buffer, at, zigZag(headerFields.length / 2))
  for (const field of headerFields) writeField(field)
  const encoder: EncoderLike = Object.create(Encoder.prototype)
  encoder.buf = buffer
  encoder.offset = at
  return encoder
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

if (linearProduce) {
  install(modulePath.group, groupMessagesPerPartition)
  install(modulePath.record, encodeRecord)
}

/** kafkajs itself, loaded after the replacements. @internal */
export const Kafkajs: Kafkajs = require("kafkajs")
