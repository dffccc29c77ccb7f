import { assert, describe, it } from "@effect/vitest"
import { Dataflow, DataflowError, Epoch, Input, RecoveryStore } from "@sluice/core"
import { KafkaError, KafkaOutput } from "@sluice/kafka"
import { Cause, Chunk, Effect, Exit, Layer, Option, Schema, Stream } from "effect"
import { brokers, testClient, uniqueTopic } from "./fixtures/kafka.js"

const Pair = Schema.Tuple(Schema.String, Schema.Number)
const decoder = new TextDecoder()

const readAll = (topic: string) =>
  Effect.gen(function*() {
    const client = yield* testClient()
    const description = Option.getOrThrow(yield* client.describeTopic(topic))
    const records: Array<{ partition: number; key: string | null; value: string }> = []
    for (let partition = 0; partition < description.partitions; partition++) {
      const chunk = yield* Stream.runCollect(client.read({ topic, partition, from: "start", until: "end" }))
      for (const record of Chunk.toReadonlyArray(chunk)) {
        records.push({
          partition,
          key: record.key === null ? null : decoder.decode(record.key),
          value: decoder.decode(record.value!)
        })
      }
    }
    return { partitions: description.partitions, records }
  }).pipe(Effect.scoped)

/** The memory store, except that the commit of `failEpoch` fails once, after the outputs flushed. */
const failingCommitOnce = (handle: RecoveryStore.MemoryHandle, failEpoch: number) => {
  let failed = false
  const inner = RecoveryStore.memoryBackend(handle)
  const backend: RecoveryStore.Backend = {
    name: "memory failing once",
    open: (options) =>
      Effect.map(inner.open(options), (worker) => ({
        ...worker,
        commit: (epoch, writes, outputs) => {
          if (epoch !== failEpoch || failed) return worker.commit(epoch, writes, outputs)
          failed = true
          return Effect.fail(
            new DataflowError.StoreUnavailable({ store: "memory", reason: "injected commit failure", cause: undefined })
          )
        }
      }))
  }
  return RecoveryStore.layer(backend)
}

const pairsFlow = (
  topic: string,
  items: ReadonlyArray<readonly [string, number]>,
  options: Partial<KafkaOutput.Options<readonly [string, number], string>> = {}
) =>
  Dataflow.make("kafka-out").pipe(
    Dataflow.input("pairs", Input.fromIterable(items)),
    Dataflow.output(
      "out",
      KafkaOutput.make({
        brokers: brokers(),
        topic,
        value: Schema.parseJson(Pair),
        key: ([word]) => word,
        ...options
      })
    )
  )

describe("KafkaOutput", () => {
  it.scoped("at-least-once: creates the topic, keys records, and repeats only the epoch whose commit failed", () =>
    Effect.gen(function*() {
      const topic = uniqueTopic("out")
      const client = yield* testClient()
      yield* Effect.addFinalizer(() => Effect.ignore(client.deleteTopics([topic])))
      const items = Array.from({ length: 25 }, (_, i) => [`w${i % 4}`, i] as const)
      const handle = RecoveryStore.makeMemoryHandle()
      const flow = pairsFlow(topic, items, { partitions: 2 })
      const exit = yield* Dataflow.run(flow, { epoch: Epoch.everyItems(10) }).pipe(
        Effect.provide(failingCommitOnce(handle, 2)),
        Effect.exit
      )
      assert.isTrue(Exit.isFailure(exit))
      yield* Dataflow.run(flow, { epoch: Epoch.everyItems(10) }).pipe(Effect.provide(RecoveryStore.layerMemory(handle)))
      const { partitions, records } = yield* readAll(topic)
      assert.strictEqual(partitions, 2)
      const values = records.map((r) => JSON.parse(r.value) as [string, number])
      for (const record of records) assert.strictEqual(record.key, JSON.parse(record.value)[0])
      // every item at least once; the repeats are exactly epoch 2 (items 10 to 19), sent before its commit failed
      const counts = new Map<number, number>()
      for (const [, n] of values) counts.set(n, (counts.get(n) ?? 0) + 1)
      assert.deepStrictEqual(
        items.map(([, n]) => counts.get(n)),
        items.map(([, n]) => (n >= 10 && n < 20 ? 2 : 1))
      )
      // a key's records stay in order on its partition
      for (const word of ["w0", "w1", "w2", "w3"]) {
        const mine = records.filter((r) => r.key === word)
        assert.strictEqual(new Set(mine.map((r) => r.partition)).size, 1)
      }
    }))

  it.scoped("exactly-once hands records to the store's epoch transaction (here the memory store keeps them)", () =>
    Effect.gen(function*() {
      const topic = uniqueTopic("eos-memory")
      const client = yield* testClient()
      yield* Effect.addFinalizer(() => Effect.ignore(client.deleteTopics([topic])))
      const handle = RecoveryStore.makeMemoryHandle()
      yield* Dataflow.run(pairsFlow(topic, [["a", 1], ["b", 2]], { delivery: "exactly-once" })).pipe(
        Effect.provide(RecoveryStore.layerMemory(handle))
      )
      const held = (handle.outputs.get(topic) ?? []).map((r) => [decoder.decode(r.key!), decoder.decode(r.value)])
      assert.deepStrictEqual(held, [["a", "[\"a\",1]"], ["b", "[\"b\",2]"]])
      assert.deepStrictEqual((yield* readAll(topic)).records, [])
    }))

  it.scoped("a record over the topic's max.message.bytes fails the output step naming the key, its size and the setting", () =>
    Effect.gen(function*() {
      const client = yield* testClient()
      const topic = uniqueTopic("too-large")
      yield* client.createTopic({ topic, partitions: 1, config: { "max.message.bytes": "10000" } })
      yield* Effect.addFinalizer(() => Effect.ignore(client.deleteTopics([topic])))
      const exit = yield* Dataflow.run(pairsFlow(topic, [["small", 1], ["x".repeat(20_000), 2]])).pipe(
        Effect.provide(Layer.fresh(RecoveryStore.layerMemory())),
        Effect.exit
      )
      assert.isTrue(Exit.isFailure(exit))
      const error = Option.getOrThrow(Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none())
      assert.instanceOf(error, DataflowError.StepFailed)
      const failed = error as DataflowError.StepFailed
      assert.strictEqual(failed.stepId, "out")
      assert.instanceOf(failed.cause, KafkaError.RecordTooLarge)
      const tooLarge = failed.cause as KafkaError.RecordTooLarge
      assert.strictEqual(tooLarge.key, "x".repeat(20_000))
      // key and value: the word twice (the value is the JSON pair)
      assert.strictEqual(tooLarge.bytes, 20_000 + `["${"x".repeat(20_000)}",2]`.length)
      assert.strictEqual(tooLarge.limitBytes, 10_000)
      assert.include(failed.message, "step out failed")
      assert.include(failed.message, `bytes of key and value) is larger than topic ${topic} accepts`)
      assert.include(failed.message, "its max.message.bytes is the limit (10000 bytes); raise max.message.bytes")
      assert.include(failed.message, "message.max.bytes")
    }))

  it.scoped("many small records over the topic's max.message.bytes together are sent in requests it accepts", () =>
    Effect.gen(function*() {
      const client = yield* testClient()
      const topic = uniqueTopic("many-small")
      // the broker's default max.message.bytes: 1 MiB
      yield* client.createTopic({ topic, partitions: 1 })
      yield* Effect.addFinalizer(() => Effect.ignore(client.deleteTopics([topic])))
      // 12,000 records of about 130 bytes: 1.5 MB in one epoch, and 1.3 MB in one send of batchSize records
      const items = Array.from({ length: 12_000 }, (_, i) => [`${"w".repeat(50)}${i}`, i] as const)
      yield* Dataflow.run(pairsFlow(topic, items)).pipe(Effect.provide(Layer.fresh(RecoveryStore.layerMemory())))
      const { records } = yield* readAll(topic)
      assert.deepStrictEqual(records.map((r) => JSON.parse(r.value)[1]), items.map(([, n]) => n))
    }))

  it.scoped("an item that does not encode fails the output step", () =>
    Effect.gen(function*() {
      const topic = uniqueTopic("encode")
      const client = yield* testClient()
      yield* Effect.addFinalizer(() => Effect.ignore(client.deleteTopics([topic])))
      const exit = yield* Dataflow.run(
        Dataflow.make("encode").pipe(
          Dataflow.input("n", Input.fromIterable([1, 2.5])),
          Dataflow.output(
            "out",
            KafkaOutput.make({ brokers: brokers(), topic, value: Schema.parseJson(Schema.Int) })
          )
        )
      ).pipe(Effect.provide(Layer.fresh(RecoveryStore.layerMemory())), Effect.exit)
      assert.isTrue(Exit.isFailure(exit))
      const error = Option.getOrThrow(Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none())
      assert.instanceOf(error, DataflowError.StepFailed)
      assert.strictEqual((error as DataflowError.StepFailed).stepId, "out")
      assert.include((error as DataflowError.StepFailed).message, "Expected an integer, actual 2.5")
    }))
})
