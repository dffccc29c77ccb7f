import { assert, describe, it } from "@effect/vitest"
import { createRequire } from "node:module"
import { committedRecords, decodeFetchResponse } from "../src/internal/recordBatches.js"

const require = createRequire(import.meta.url)

interface Encoder {
  readonly buffer: Buffer
  writeInt8(value: number): Encoder
  writeInt16(value: number): Encoder
  writeInt32(value: number): Encoder
  writeInt64(value: number | string): Encoder
  writeString(value: string): Encoder
  writeBytes(value: Buffer): Encoder
  writeBuffer(value: Buffer): Encoder
}
interface KafkajsMessage {
  readonly offset: string
  readonly key: Buffer | null
  readonly value: Buffer | null
  readonly timestamp: string
  readonly headers: Record<string, unknown>
}
type KafkajsPartition = Record<string, unknown>

const Encoder: new() => Encoder = require("kafkajs/src/protocol/encoder")
const Long: { fromValue(value: number): unknown } = require("kafkajs/src/utils/long")
const RecordBatch: (batch: Record<string, unknown>) => Promise<Encoder> = require(
  "kafkajs/src/protocol/recordBatch/v0"
).RecordBatch
const Record: (record: Record<string, unknown>) => Encoder = require("kafkajs/src/protocol/recordBatch/record/v0")
const MessageSet: (set: Record<string, unknown>) => Encoder = require("kafkajs/src/protocol/messageSet")
const GZIP: number = require("kafkajs/src/protocol/message/compression").Types.GZIP
const kafkajsResponse: { decode(raw: Buffer): Promise<{ responses: Array<{ partitions: Array<KafkajsPartition> }> }> } =
  require("kafkajs/src/protocol/requests/fetch/v11/response")
const Batch: new(topic: string, offset: string, data: KafkajsPartition) => { messages: Array<KafkajsMessage> } =
  require("kafkajs/src/consumer/batch")

const CONTROL = 0x20
/** Where a batch's attributes sit, from its base offset. */
const ATTRIBUTES_AT = 21
const T0 = 1_700_000_000_000

const batch = async (options: {
  readonly firstOffset: number
  readonly producerId: number
  readonly transactional?: boolean
  readonly control?: boolean
  readonly compression?: number
  readonly records: ReadonlyArray<
    { readonly key: Buffer | null; readonly value: Buffer | null; readonly headers?: Record<string, unknown> }
  >
}): Promise<Buffer> => {
  const encoded = await RecordBatch({
    compression: options.compression ?? 0,
    firstOffset: Long.fromValue(options.firstOffset),
    firstTimestamp: T0,
    maxTimestamp: T0 + options.records.length,
    lastOffsetDelta: options.records.length - 1,
    transactional: options.transactional ?? false,
    producerId: Long.fromValue(options.producerId),
    records: options.records.map((record, i) =>
      Record({ offsetDelta: i, timestampDelta: i, key: record.key, value: record.value, headers: record.headers })
    )
  })
  const bytes = Buffer.from(encoded.buffer)
  // kafkajs writes no control batches: flag one by hand (neither decoder checks the CRC)
  if (options.control === true) bytes.writeInt16BE(bytes.readInt16BE(ATTRIBUTES_AT) | CONTROL, ATTRIBUTES_AT)
  return bytes
}

const marker = (firstOffset: number, producerId: number, type: "abort" | "commit") =>
  batch({
    firstOffset,
    producerId,
    transactional: true,
    control: true,
    records: [{ key: Buffer.from([0, 0, 0, type === "abort" ? 0 : 1]), value: Buffer.from([0, 0, 0, 0, 0, 0]) }]
  })

const response = (recordSet: Buffer, aborted: ReadonlyArray<{ producerId: number; firstOffset: number }>) => {
  const out = new Encoder().writeInt32(0).writeInt16(0).writeInt32(0).writeInt32(1).writeString("topic")
    .writeInt32(1).writeInt32(0).writeInt16(0).writeInt64(100).writeInt64(100).writeInt64(0)
    .writeInt32(aborted.length)
  for (const { firstOffset, producerId } of aborted) out.writeInt64(producerId).writeInt64(firstOffset)
  return Buffer.from(out.writeInt32(-1).writeBytes(recordSet).buffer)
}

const text = (value: string) => Buffer.from(value)

/** Both decoders' read_committed records, in the same plain shape. */
const decodeBoth = async (raw: Buffer, fetchOffset: number) => {
  const ours = (await decodeFetchResponse(raw)).responses[0].partitions[0]
  const theirs = (await kafkajsResponse.decode(raw)).responses[0].partitions[0]
  const plain = (
    records: ReadonlyArray<
      { offset: number | string; key: Buffer | null; value: Buffer | null; timestamp: number | string; headers: object }
    >
  ) =>
    records.map((record) => ({
      offset: Number(record.offset),
      key: record.key?.toString("hex") ?? null,
      value: record.value?.toString("hex") ?? null,
      timestamp: Number(record.timestamp),
      headers: JSON.stringify(record.headers)
    }))
  return {
    ours: plain(committedRecords(ours, fetchOffset)),
    theirs: plain(new Batch("topic", String(fetchOffset), theirs).messages),
    highWatermark: ours.highWatermark
  }
}

describe("RecordBatches", () => {
  it("reads a fetch response as kafkajs does: offsets, timestamps, headers, aborted records and markers", async () => {
    const recordSet = Buffer.concat([
      await batch({
        firstOffset: 0,
        producerId: -1,
        records: [
          { key: text("a"), value: text("1"), headers: { h: text("x"), twice: [text("y"), text("z")] } },
          { key: null, value: text("2") },
          { key: text("c"), value: null }
        ]
      }),
      await batch({
        firstOffset: 3,
        producerId: 7,
        transactional: true,
        records: [{ key: text("d"), value: text("3") }]
      }),
      await batch({
        firstOffset: 4,
        producerId: 8,
        transactional: true,
        records: [{ key: text("e"), value: text("4") }]
      }),
      await marker(5, 7, "commit"),
      await marker(6, 8, "abort"),
      await batch({
        firstOffset: 7,
        producerId: 8,
        transactional: true,
        records: [{ key: text("f"), value: text("5") }, { key: text("g"), value: text("6") }]
      }),
      await marker(9, 8, "commit")
    ])
    const aborted = [{ producerId: 8, firstOffset: 4 }]
    for (const fetchOffset of [0, 1, 4, 7]) {
      const { ours, theirs } = await decodeBoth(response(recordSet, aborted), fetchOffset)
      assert.deepStrictEqual(ours, theirs, `from offset ${fetchOffset}`)
    }
    const all = await decodeBoth(response(recordSet, aborted), 0)
    assert.deepStrictEqual(all.ours.map((record) => record.offset), [0, 1, 2, 3, 7, 8])
    assert.deepStrictEqual(all.ours.map((record) => record.timestamp), [T0, T0 + 1, T0 + 2, T0, T0, T0 + 1])
    assert.strictEqual(all.highWatermark, "100")
  })

  it("hands a record set with a compressed batch to kafkajs's decoder", async () => {
    const recordSet = Buffer.concat([
      await batch({ firstOffset: 0, producerId: -1, records: [{ key: text("a"), value: text("1") }] }),
      await batch({
        firstOffset: 1,
        producerId: -1,
        compression: GZIP,
        records: [{ key: text("b"), value: text("2") }, { key: text("c"), value: text("3"), headers: { h: text("x") } }]
      })
    ])
    const { ours, theirs } = await decodeBoth(response(recordSet, []), 0)
    assert.deepStrictEqual(ours, theirs)
    assert.deepStrictEqual(ours.map((record) => record.value), ["1", "2", "3"].map((v) => text(v).toString("hex")))
  })

  it("hands a legacy message set to kafkajs's decoder", async () => {
    const recordSet = Buffer.from(
      MessageSet({
        messageVersion: 1,
        entries: [{ key: text("a"), value: text("1"), timestamp: T0 }, { key: null, value: text("2"), timestamp: T0 }]
      }).buffer
    )
    const { ours, theirs } = await decodeBoth(response(recordSet, []), 0)
    assert.deepStrictEqual(ours, theirs)
    assert.deepStrictEqual(ours.map((record) => record.value), ["1", "2"].map((v) => text(v).toString("hex")))
  })

  it("leaves out a batch the response cut short, as kafkajs does", async () => {
    const first = await batch({ firstOffset: 0, producerId: -1, records: [{ key: text("a"), value: text("1") }] })
    const second = await batch({ firstOffset: 1, producerId: -1, records: [{ key: text("b"), value: text("2") }] })
    for (const cut of [1, 10, second.length - 1]) {
      const recordSet = Buffer.concat([first, second.subarray(0, second.length - cut)])
      const { ours, theirs } = await decodeBoth(response(recordSet, []), 0)
      assert.deepStrictEqual(ours, theirs, `cut ${cut}`)
      assert.deepStrictEqual(ours.map((record) => record.offset), [0])
    }
  })
})
