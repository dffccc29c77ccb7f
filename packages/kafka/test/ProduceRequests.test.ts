import { assert, describe, it } from "@effect/vitest"
import type { KafkaClient } from "@sluice/kafka"
import { splitRequests } from "../src/internal/produceRequests.js"

const record = (n: number, bytes: number): KafkaClient.ProducerRecord => ({
  key: `k${n}`,
  value: new Uint8Array(bytes)
})

describe("produce requests", () => {
  it("splits records into requests under the size limit, keeping their order across topics", () => {
    const batch: Array<KafkaClient.TopicRecords> = [
      { topic: "state", records: Array.from({ length: 5 }, (_, n) => record(n, 250)) },
      { topic: "progress", records: [record(5, 10)] }
    ]
    const requests = splitRequests(batch, 1_000)
    // each record counts 64 bytes of overhead besides key and value: three state records fit a request
    assert.deepStrictEqual(
      requests.map((request) => request.map(({ records, topic }) => `${topic}:${records.map((r) => r.key).join(",")}`)),
      [["state:k0,k1,k2"], ["state:k3,k4", "progress:k5"]]
    )
    assert.deepStrictEqual(splitRequests([]), [])
    // a record larger than the limit still goes, alone
    assert.strictEqual(splitRequests([{ topic: "state", records: [record(0, 5_000)] }], 1_000).length, 1)
  })

  it("caps the records of a request, so that kafkajs groups them in linear time", () => {
    const batch: Array<KafkaClient.TopicRecords> = [
      { topic: "state", records: Array.from({ length: 5 }, (_, n) => record(n, 1)) },
      { topic: "outputs", records: Array.from({ length: 3 }, (_, n) => record(5 + n, 1)) }
    ]
    assert.deepStrictEqual(
      splitRequests(batch, 1_000_000, 3).map((request) =>
        request.map(({ records, topic }) => `${topic}:${records.map((r) => r.key).join(",")}`)
      ),
      [["state:k0,k1,k2"], ["state:k3,k4", "outputs:k5"], ["outputs:k6,k7"]]
    )
    // small records: the record cap, not the byte limit, decides
    const many = Array.from({ length: 2_500 }, (_, n) => record(n, 1))
    assert.deepStrictEqual(splitRequests([{ topic: "state", records: many }]).map((r) => r[0].records.length), [
      1_000,
      1_000,
      500
    ])
  })
})
