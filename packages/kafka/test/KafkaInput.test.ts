import { assert, describe, it } from "@effect/vitest"
import { Dataflow, DataflowError, Epoch, Output, RecoveryStore } from "@sluice/core"
import { KafkaError, KafkaInput } from "@sluice/kafka"
import { Cause, Effect, Exit, Fiber, Option, Ref, Schema } from "effect"
import { brokers, testClient } from "./fixtures/kafka.js"

const Event = Schema.Struct({ n: Schema.Number })
type Message = KafkaInput.Message<typeof Event.Type>

const produce = (
  client: Effect.Effect.Success<ReturnType<typeof testClient>>,
  topic: string,
  values: ReadonlyArray<{ readonly key: string; readonly value: string }>
) => Effect.scoped(Effect.flatMap(client.producer(), (producer) => producer.send([{ topic, records: values }])))

const events = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({ key: `k${(from + i) % 7}`, value: JSON.stringify({ n: from + i }) }))

const failureOf = (exit: Exit.Exit<unknown, unknown>): DataflowError.StepFailed => {
  assert.isTrue(Exit.isFailure(exit), "expected the run to fail")
  const error = Option.getOrThrow(Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none())
  assert.instanceOf(error, DataflowError.StepFailed)
  return error as DataflowError.StepFailed
}

/** Input → (crash after `crashAfter` items) → output that records each message with its epoch. */
const collectFlow = (
  input: KafkaInput.Options<typeof Event.Type, string>,
  into: Array<{ readonly epoch: number; readonly message: Message }>,
  crashAfter?: number
) => {
  let seen = 0
  return Dataflow.make("kafka-in").pipe(
    Dataflow.input("events", KafkaInput.make(input)),
    Dataflow.map("crash", (message: Message) => {
      if (crashAfter !== undefined && ++seen > crashAfter) throw new Error("injected crash")
      return message
    }),
    Dataflow.output(
      "out",
      Output.sink((messages: Iterable<Message>, { epoch }) =>
        Effect.sync(() => {
          for (const message of messages) into.push({ epoch, message })
        })
      )
    )
  )
}

describe("KafkaInput", () => {
  it.scoped("bounded: reads every partition up to the end offsets seen at the start, decoding values with the schema", () =>
    Effect.gen(function*() {
      const client = yield* testClient()
      const topic = yield* client.topic("bounded", 3)
      yield* produce(client, topic, events(0, 30))
      const seen: Array<{ readonly epoch: number; readonly message: Message }> = []
      const input = { brokers: brokers(), topic, value: Schema.parseJson(Event), bounded: true }
      const handle = RecoveryStore.makeMemoryHandle()
      // records produced while the run reads are for the next run
      let producedMore = false
      const flow = Dataflow.make("kafka-in").pipe(
        Dataflow.input("events", KafkaInput.make(input)),
        Dataflow.mapEffect("more", (message: Message) =>
          producedMore ? Effect.succeed(message) : Effect.as(
            Effect.zipRight(Effect.sync(() => producedMore = true), produce(client, topic, events(30, 10))),
            message
          )),
        Dataflow.output(
          "out",
          Output.sink((messages: Iterable<Message>, { epoch }) =>
            Effect.sync(() => {
              for (const message of messages) seen.push({ epoch, message })
            })
          )
        )
      )
      yield* Dataflow.run(flow, { epoch: Epoch.everyItems(8) }).pipe(Effect.provide(RecoveryStore.layerMemory(handle)))
      assert.deepStrictEqual(seen.map((s) => s.message.value.n).sort((a, b) => a - b), events(0, 30).map((_, i) => i))
      for (const { message } of seen) {
        assert.strictEqual(message.topic, topic)
        assert.strictEqual(message.key, `k${message.value.n % 7}`)
        assert.isAtLeast(message.timestamp, Date.now() - 60_000)
      }
      // offsets are consecutive within each partition
      for (let partition = 0; partition < 3; partition++) {
        const offsets = seen.filter((s) => s.message.partition === partition).map((s) => s.message.offset)
        assert.deepStrictEqual(offsets, offsets.map((_, i) => i))
      }
      // R13: the next run reads only what came since
      const next: Array<{ readonly epoch: number; readonly message: Message }> = []
      yield* Dataflow.run(collectFlow(input, next), { epoch: Epoch.everyItems(8) }).pipe(
        Effect.provide(RecoveryStore.layerMemory(handle))
      )
      assert.deepStrictEqual(
        next.map((s) => s.message.value.n).sort((a, b) => a - b),
        events(30, 10).map((_, i) => 30 + i)
      )
    }))

  it.scoped("R11: after a crash every partition resumes right after the offset stored with the last completed epoch", () =>
    Effect.gen(function*() {
      const client = yield* testClient()
      const topic = yield* client.topic("resume", 3)
      yield* produce(client, topic, events(0, 60))
      const input = { brokers: brokers(), topic, value: Schema.parseJson(Event), bounded: true }
      const handle = RecoveryStore.makeMemoryHandle()
      const first: Array<{ readonly epoch: number; readonly message: Message }> = []
      const exit = yield* Dataflow.run(collectFlow(input, first, 27), { epoch: Epoch.everyItems(10) }).pipe(
        Effect.provide(RecoveryStore.layerMemory(handle)),
        Effect.exit
      )
      failureOf(exit)
      const second: Array<{ readonly epoch: number; readonly message: Message }> = []
      const summary = yield* Dataflow.run(collectFlow(input, second), { epoch: Epoch.everyItems(10) }).pipe(
        Effect.provide(RecoveryStore.layerMemory(handle))
      )
      assert.strictEqual(summary.resumeEpoch, 3)
      const committed = first.filter((s) => s.epoch < summary.resumeEpoch).map((s) => s.message.value.n)
      assert.strictEqual(committed.length, 20)
      const again = second.map((s) => s.message.value.n)
      assert.deepStrictEqual([...committed, ...again].sort((a, b) => a - b), events(0, 60).map((_, i) => i))
    }))

  it.live("follows the topic when not bounded", () =>
    Effect.gen(function*() {
      const client = yield* testClient()
      const topic = yield* client.topic("follow", 2)
      const seen = yield* Ref.make<Array<number>>([])
      const flow = Dataflow.make("follow").pipe(
        Dataflow.input(
          "events",
          KafkaInput.make({ brokers: brokers(), topic, value: Schema.parseJson(Event), maxWait: "100 millis" })
        ),
        Dataflow.output(
          "out",
          Output.sink((messages: Iterable<Message>) =>
            Ref.update(seen, (all) => [...all, ...Array.from(messages, (m) => m.value.n)])
          )
        )
      )
      const running = yield* Effect.fork(
        Dataflow.run(flow, { epoch: Epoch.interval("100 millis") }).pipe(Effect.provide(RecoveryStore.layerMemory()))
      )
      const waitFor = (count: number) =>
        Effect.gen(function*() {
          const deadline = Date.now() + 15_000
          while ((yield* Ref.get(seen)).length < count && Date.now() < deadline) yield* Effect.sleep("50 millis")
        })
      yield* produce(client, topic, events(0, 5))
      yield* waitFor(5)
      yield* produce(client, topic, events(5, 5))
      yield* waitFor(10)
      yield* Fiber.interrupt(running)
      assert.deepStrictEqual([...(yield* Ref.get(seen))].sort((a, b) => a - b), events(0, 10).map((_, i) => i))
    }).pipe(Effect.scoped))

  it.scoped("a value that does not decode fails the input, naming the record", () =>
    Effect.gen(function*() {
      const client = yield* testClient()
      const topic = yield* client.topic("decode", 1)
      yield* produce(client, topic, [...events(0, 2), { key: "bad", value: "{\"n\":\"three\"}" }])
      const exit = yield* Dataflow.run(
        collectFlow({ brokers: brokers(), topic, value: Schema.parseJson(Event), bounded: true }, [])
      ).pipe(Effect.provide(RecoveryStore.layerMemory()), Effect.exit)
      const error = failureOf(exit)
      assert.strictEqual(error.stepId, "events")
      assert.instanceOf(error.cause, KafkaError.RecordDecodeError)
      assert.include(error.message, `record ${topic}/0@2 does not decode with the input's schema`)
      assert.include(error.message, "Expected number, actual \"three\"")
      assert.include(error.message, "every rerun stops at this record: read the topic with KafkaInput.withErrors")
    }))

  it.scoped("withErrors: a record that does not decode goes to the error flow, its offset commits, and a rerun goes on after it", () =>
    Effect.gen(function*() {
      const client = yield* testClient()
      const topic = yield* client.topic("poison", 1)
      const poison = "{\"n\":\"three\"}"
      yield* produce(client, topic, [...events(0, 2), { key: "bad", value: poison }, ...events(3, 2)])
      const handle = RecoveryStore.makeMemoryHandle()
      const run = Effect.gen(function*() {
        const items: Array<Message> = []
        const errors: Array<KafkaInput.InvalidRecord> = []
        const flow = Dataflow.make("kafka-in")
        const split = flow.pipe(
          KafkaInput.withErrors("events", { brokers: brokers(), topic, value: Schema.parseJson(Event), bounded: true })
        )
        split.items.pipe(Dataflow.output(
          "out",
          Output.sink((messages: Iterable<Message>) =>
            Effect.sync(() => {
              items.push(...messages)
            })
          )
        ))
        split.errors.pipe(
          Dataflow.output(
            "dead-letters",
            Output.sink((invalid: Iterable<KafkaInput.InvalidRecord>) =>
              Effect.sync(() => {
                errors.push(...invalid)
              })
            )
          )
        )
        yield* Dataflow.run(flow, { epoch: Epoch.everyItems(2) }).pipe(
          Effect.provide(RecoveryStore.layerMemory(handle))
        )
        return { items, errors }
      })
      const first = yield* run
      assert.deepStrictEqual(first.items.map((m) => [m.offset, m.value.n]), [[0, 0], [1, 1], [3, 3], [4, 4]])
      assert.strictEqual(first.errors.length, 1)
      const [invalid] = first.errors
      assert.strictEqual(invalid._tag, "InvalidRecord")
      assert.strictEqual(invalid.topic, topic)
      assert.strictEqual(invalid.partition, 0)
      assert.strictEqual(invalid.offset, 2)
      assert.strictEqual(invalid.key, "bad")
      assert.strictEqual(new TextDecoder().decode(invalid.value!), poison)
      assert.isAtLeast(invalid.timestamp, Date.now() - 60_000)
      assert.include(invalid.issue, "Expected number, actual \"three\"")
      // the poison record's offset committed with its epoch: the rerun reads only what came since
      yield* produce(client, topic, events(5, 1))
      const second = yield* run
      assert.deepStrictEqual(second.items.map((m) => [m.offset, m.value.n]), [[5, 5]])
      assert.deepStrictEqual(second.errors, [])
    }))

  it.scoped("a missing topic fails the input with TopicNotFound", () =>
    Effect.gen(function*() {
      const exit = yield* Dataflow.run(
        collectFlow({ brokers: brokers(), topic: "no-such-topic-sluice", value: Schema.parseJson(Event) }, [])
      ).pipe(Effect.provide(RecoveryStore.layerMemory()), Effect.exit)
      const error = failureOf(exit)
      assert.instanceOf(error.cause, KafkaError.TopicNotFound)
      assert.include(error.message, "kafka topic no-such-topic-sluice does not exist")
    }))

  it.scoped("R11: a stored offset the topic no longer holds refuses to resume instead of skipping records", () =>
    Effect.gen(function*() {
      const client = yield* testClient()
      const topic = yield* client.topic("retention", 1)
      yield* produce(client, topic, events(0, 10))
      const input = { brokers: brokers(), topic, value: Schema.parseJson(Event), bounded: true }
      const handle = RecoveryStore.makeMemoryHandle()
      yield* Dataflow.run(collectFlow(input, [])).pipe(Effect.provide(RecoveryStore.layerMemory(handle)))
      yield* produce(client, topic, events(10, 10))
      // retention deletes offsets 10 to 14 before the next run
      yield* client.deleteRecords(topic, 0, 15)
      const exit = yield* Dataflow.run(collectFlow(input, [])).pipe(
        Effect.provide(RecoveryStore.layerMemory(handle)),
        Effect.exit
      )
      const error = failureOf(exit)
      assert.instanceOf(error.cause, KafkaError.OffsetOutOfRange)
      assert.include(error.message, `kafka topic ${topic} partition 0 has no offset 10: it holds offsets 15 to 19`)
    }))
})
