import { assert, describe, it } from "@effect/vitest"
import { createRequire } from "node:module"
import { afterEach, vi } from "vitest"
import {
  encodeRecord,
  groupMessagesPerPartition,
  kafkajsEncodeRecord,
  kafkajsGroup,
  kafkajsProduceRequest,
  linearProduce,
  makeProduceRequest,
  type ProduceArguments,
  type RecordInput
} from "../src/internal/kafkajsProduce.js"

const require = createRequire(import.meta.url)

/** A small deterministic generator, so that a failure names a seed that replays it. */
const generator = (seed: number) => {
  let state = seed >>> 0
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state / 0x100000000
  }
  const int = (below: number) => Math.floor(next() * below)
  return { next, int }
}

const bytesOf = (encoder: { buf: Buffer; offset: number }) => Buffer.from(encoder.buf.subarray(0, encoder.offset))

// field values of every kind kafkajs takes: bytes, strings (multi-byte too), absent, and the lengths where a
// varint grows a byte (64 and 8,192 bytes: zigzag doubles the length)
const fields: ReadonlyArray<unknown> = [
  null,
  undefined,
  Buffer.alloc(0),
  "",
  "k",
  "wörd \u{1f511}",
  Buffer.from("value"),
  Buffer.alloc(63, 1),
  Buffer.alloc(64, 2),
  "x".repeat(8_191),
  "y".repeat(8_192),
  Buffer.alloc(70_000, 3),
  JSON.stringify(["v", "count", "key", 12])
]

const headerSets: ReadonlyArray<Record<string, unknown> | undefined> = [
  undefined,
  {},
  { a: Buffer.from("1") },
  { "sluice-epoch": "12", empty: "" },
  { many: [Buffer.from("x"), "y", Buffer.alloc(100, 7)], "ключ": "значение" }
]

describe("kafkajs's produce path, replaced", () => {
  it("the replacements are what kafkajs's producer requires", () => {
    assert.isTrue(linearProduce)
    assert.strictEqual(require("kafkajs/src/producer/groupMessagesPerPartition"), groupMessagesPerPartition)
    // the replaced request writes its records itself; kafkajs's own request, which it falls back to, keeps
    // kafkajs's record encoder
    assert.strictEqual(require("kafkajs/src/protocol/recordBatch/record/v0"), kafkajsEncodeRecord)
    assert.notStrictEqual(kafkajsEncodeRecord, encodeRecord)
    const produceV3 = require("kafkajs/src/protocol/requests/produce/v3/request")
    assert.notStrictEqual(produceV3, kafkajsProduceRequest)
    // v7, what kafkajs asks of a current broker, is built on v3's module: it encodes through the replacement
    const v7 = require("kafkajs/src/protocol/requests/produce/v7/request")
    assert.strictEqual(v7({ acks: -1, timeout: 1, topicData: [] }).apiVersion, 7)
  })

  it("encodeRecord writes kafkajs's bytes for every kind of key, value and header", () => {
    const deltas = [0, 1, 63, 64, 8_191, 8_192, 1_048_576, -1, -64, 2 ** 31 - 1, -(2 ** 31)]
    let compared = 0
    for (const key of fields) {
      for (const value of fields) {
        for (const headers of headerSets) {
          const record: RecordInput = { key, value, headers, offsetDelta: deltas[compared % deltas.length] }
          assert.deepStrictEqual(
            bytesOf(encodeRecord(record)),
            bytesOf(kafkajsEncodeRecord(record)),
            JSON.stringify({ key: String(key).slice(0, 20), value: String(value).slice(0, 20), headers })
          )
          compared++
        }
      }
    }
    for (const timestampDelta of deltas) {
      const record: RecordInput = { key: "k", value: "v", timestampDelta, offsetDelta: timestampDelta }
      assert.deepStrictEqual(bytesOf(encodeRecord(record)), bytesOf(kafkajsEncodeRecord(record)), `${timestampDelta}`)
    }
    assert.isAbove(compared, 800)
  })

  it("a delta beyond 32 bits goes to kafkajs's encoder and gets its bytes", () => {
    for (const timestampDelta of [2 ** 31, -(2 ** 31) - 1, 1_700_000_000_000, -1_700_000_000_000]) {
      const record: RecordInput = { key: "k", value: "v", timestampDelta, offsetDelta: 3 }
      assert.deepStrictEqual(bytesOf(encodeRecord(record)), bytesOf(kafkajsEncodeRecord(record)), `${timestampDelta}`)
    }
  })

  it("random records: the same bytes as kafkajs's", () => {
    for (let seed = 1; seed <= 300; seed++) {
      const random = generator(seed)
      const field = () => fields[random.int(fields.length)]
      const headers: Record<string, unknown> = {}
      for (let h = random.int(4); h > 0; h--) {
        headers[`h${random.int(3)}`] = random.int(2) === 0
          ? field() ?? ""
          : [field() ?? "", "z"]
      }
      const record: RecordInput = {
        key: field(),
        value: field(),
        headers,
        offsetDelta: random.int(100_000),
        timestampDelta: random.int(2) === 0 ? 0 : random.int(2 ** 31)
      }
      assert.deepStrictEqual(bytesOf(encodeRecord(record)), bytesOf(kafkajsEncodeRecord(record)), `seed ${seed}`)
    }
  })

  it("groupMessagesPerPartition groups as kafkajs's grouping does, each partition in order", () => {
    const partitionMetadata = [{ partitionId: 0 }, { partitionId: 1 }, { partitionId: 2 }]
    for (let seed = 1; seed <= 50; seed++) {
      const random = generator(seed)
      const messages = Array.from({ length: random.int(500) }, (_, i) => ({ key: `k${i}`, partition: random.int(3) }))
      const input = {
        topic: "t",
        partitionMetadata,
        messages,
        partitioner: ({ message }: { message: unknown }) => (message as { partition: number }).partition
      }
      assert.deepStrictEqual(groupMessagesPerPartition(input), kafkajsGroup(input), `seed ${seed}`)
    }
    const none = { topic: "t", partitionMetadata: [], messages: [{}], partitioner: () => 0 }
    assert.deepStrictEqual(groupMessagesPerPartition(none), kafkajsGroup(none))
  })

  describe("the produce request", () => {
    afterEach(() => {
      vi.restoreAllMocks()
    })
    const Long = require("kafkajs/src/utils/long")
    const encoded = async (request: { encode: () => Promise<unknown> }) =>
      Buffer.from((await request.encode() as { buffer: Buffer }).buffer)

    it("writes kafkajs's bytes: topics, partitions, transactional or not, every kind of record", async () => {
      vi.spyOn(Date, "now").mockReturnValue(1_764_633_600_123)
      for (let seed = 1; seed <= 40; seed++) {
        const random = generator(seed)
        const field = () => fields[random.int(fields.length)]
        const args: ProduceArguments = {
          acks: random.int(2) === 0 ? -1 : 1,
          timeout: 30_000,
          transactionalId: random.int(2) === 0 ? null : `sluice-${seed}`,
          producerId: Long.fromValue(random.int(2) === 0 ? -1 : 4_000_000_000 + seed),
          producerEpoch: random.int(5),
          topicData: Array.from({ length: 1 + random.int(3) }, (_, t) => ({
            topic: `topic-${t}`,
            partitions: Array.from({ length: 1 + random.int(3) }, (_, p) => ({
              partition: p * 2,
              ...(random.int(3) === 0 ? {} : { firstSequence: random.int(1_000_000) }),
              messages: Array.from({ length: 1 + random.int(seed === 1 ? 1_000 : 60) }, () => ({
                key: field(),
                value: field(),
                ...(random.int(4) === 0 ? { headers: headerSets[random.int(headerSets.length)] } : {})
              }))
            }))
          }))
        }
        assert.deepStrictEqual(
          await encoded(makeProduceRequest(kafkajsProduceRequest)(args)),
          await encoded(kafkajsProduceRequest(args)),
          `seed ${seed}`
        )
      }
    })

    it("messages with their own timestamps, and compressed requests, are kafkajs's own request", async () => {
      vi.spyOn(Date, "now").mockReturnValue(1_764_633_600_123)
      const withTimestamps: ProduceArguments = {
        acks: -1,
        timeout: 30_000,
        topicData: [{
          topic: "t",
          partitions: [{
            partition: 0,
            messages: [{ key: "a", value: "1", timestamp: "1764633600000" }, { value: "2" }]
          }]
        }]
      }
      const compressed: ProduceArguments = {
        ...withTimestamps,
        compression: 1,
        topicData: [{ topic: "t", partitions: [{ partition: 0, messages: [{ key: "a", value: "1" }] }] }]
      }
      for (const args of [withTimestamps, compressed]) {
        assert.deepStrictEqual(
          await encoded(makeProduceRequest(kafkajsProduceRequest)(args)),
          await encoded(kafkajsProduceRequest(args))
        )
      }
    })
  })
})
