import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Metric, MetricState, Option, Stream } from "effect"
import { testClient } from "./fixtures/kafka.js"

/** The value of `sluice_kafka_input_lag` for one partition, if it was ever set. */
const lagOf = (topic: string, partition: number) =>
  Effect.map(Metric.snapshot, (pairs) => {
    const pair = pairs.find((p) =>
      p.metricKey.name === "sluice_kafka_input_lag" &&
      p.metricKey.tags.some((l) => l.key === "topic" && l.value === topic) &&
      p.metricKey.tags.some((l) => l.key === "partition" && l.value === String(partition))
    )
    return pair !== undefined && MetricState.isGaugeState(pair.metricState)
      ? Option.some(Number(pair.metricState.value))
      : Option.none()
  })

describe("sluice_kafka_input_lag", () => {
  it.scoped(
    "a read that reports lag sets it after each fetch: behind after the first of several, 0 at the end",
    () =>
      Effect.gen(function*() {
        const client = yield* testClient()
        const topic = yield* client.topic("lag")
        // 6 MiB in 100 KiB records: more than one fetch (4 MiB at most) can bring
        const value = "x".repeat(100 * 1024)
        for (let batch = 0; batch < 6; batch++) {
          const records = Array.from({ length: 10 }, (_, i) => ({ key: `k${batch * 10 + i}`, value }))
          yield* Effect.scoped(Effect.flatMap(client.producer(), (producer) => producer.send([{ topic, records }])))
        }
        const reading = client.read({ topic, partition: 0, from: "start", until: "end", reportLag: true })
        const first = yield* Stream.runHead(Stream.chunks(reading))
        const firstCount = Chunk.size(Option.getOrThrow(first))
        assert.isTrue(firstCount > 0 && firstCount < 60, `the first fetch brought ${firstCount} of 60 records`)
        assert.deepStrictEqual(yield* lagOf(topic, 0), Option.some(60 - firstCount))
        const all = yield* Stream.runCount(reading)
        assert.strictEqual(all, 60)
        assert.deepStrictEqual(yield* lagOf(topic, 0), Option.some(0))
      }),
    120_000
  )

  it.scoped("a read that does not ask (the Kafka store's own reads) sets no gauge", () =>
    Effect.gen(function*() {
      const client = yield* testClient()
      const topic = yield* client.topic("nolag")
      yield* Effect.scoped(
        Effect.flatMap(client.producer(), (producer) => producer.send([{ topic, records: [{ key: "k", value: "v" }] }]))
      )
      assert.strictEqual(yield* Stream.runCount(client.read({ topic, partition: 0, from: "start", until: "end" })), 1)
      assert.deepStrictEqual(yield* lagOf(topic, 0), Option.none())
    }), 120_000)
})
