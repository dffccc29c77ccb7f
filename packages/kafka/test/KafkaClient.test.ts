import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import Kafkajs from "kafkajs"
import { testClient } from "./fixtures/kafka.js"

describe("KafkaClient", () => {
  it.scoped("reads committed records of a partition from an offset, skipping aborted ones and markers", () =>
    Effect.gen(function*() {
      const client = yield* testClient()
      const topic = yield* client.topic("read", 2)
      const producer = yield* client.producer({
        transactionalId: `${topic}-tx`,
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: Kafkajs.Partitioners.DefaultPartitioner
      })
      for (let i = 0; i < 6; i++) {
        yield* Effect.promise(async () => {
          const tx = await producer.transaction()
          await tx.send({ topic, messages: [{ key: `k${i}`, value: `v${i}`, partition: 0 }] })
          if (i === 2) await tx.abort()
          else await tx.commit()
        })
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
