import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import { testClient } from "./fixtures/kafka.js"

describe("KafkaClient", () => {
  it.scoped("reads committed records of a partition from an offset, skipping aborted ones and markers", () =>
    Effect.gen(function*() {
      const client = yield* testClient()
      const topic = yield* client.topic("read", 2)
      const producer = yield* client.producer({ transactionalId: `${topic}-tx` })
      for (let i = 0; i < 6; i++) {
        const sent = yield* Effect.either(producer.transaction((tx) =>
          Effect.gen(function*() {
            yield* tx.send([{ topic, records: [{ key: `k${i}`, value: `v${i}`, partition: 0 }] }])
            // a failing body aborts the transaction
            if (i === 2) return yield* Effect.fail("abort")
          })
        ))
        assert.strictEqual(sent._tag, i === 2 ? "Left" : "Right")
      }
      const all = yield* Stream.runCollect(client.read({ topic, partition: 0, from: "start", until: "end" }))
      const values = Chunk.toReadonlyArray(all).map((r) => new TextDecoder().decode(r.value!))
      assert.deepStrictEqual(values, ["v0", "v1", "v3", "v4", "v5"])
      const offsets = Chunk.toReadonlyArray(all).map((r) => r.offset)
      const after = yield* Stream.runCollect(client.read({ topic, partition: 0, from: offsets[2] + 1, until: "end" }))
      assert.deepStrictEqual(Chunk.toReadonlyArray(after).map((r) => r.offset), offsets.slice(3))
      const empty = yield* Stream.runCollect(client.read({ topic, partition: 1, from: "start", until: "end" }))
      assert.strictEqual(Chunk.size(empty), 0)
      const [p0, p1] = yield* client.offsets(topic)
      assert.strictEqual(p0.end, p0.high)
      assert.strictEqual(p1.end, 0)
    }))
})
