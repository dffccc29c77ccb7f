import { assert, describe, it } from "@effect/vitest"
import { Dataflow, DataflowError, Epoch, RecoveryStore } from "@sluice/core"
import { KafkaRecovery } from "@sluice/recovery-kafka"
import { wordcount } from "@sluice/store-testkit"
import { readResumeEpoch, readState } from "@sluice/store-testkit"
import { Cause, Chunk, Effect, Exit, Option, Schema, Stream } from "effect"
import Kafkajs from "kafkajs"
import * as net from "node:net"
import { ownBroker } from "../../kafka/test/fixtures/ownBroker.js"
import { countVersions, freshStore, readOutputs, readTopic, testClient } from "./fixtures/KafkaFixture.js"

const encoder = new TextEncoder()
const single = { workerIndex: 0, workerCount: 1 } as const
const pair = (workerIndex: 0 | 1) => ({ workerIndex, workerCount: 2 }) as const

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  return Option.getOrThrow(Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none())
}

const put = (key: string, value: string): RecoveryStore.SnapshotWrite => ({ stepId: "s", key, value })

const output = (value: string): RecoveryStore.OutputRecord => ({
  destination: "out",
  key: null,
  value: encoder.encode(value)
})

const snapshots = (worker: RecoveryStore.BackendWorker, atOrBefore: number) =>
  Effect.map(
    Stream.runCollect(worker.readSnapshots("s", atOrBefore)),
    (chunk) => Object.fromEntries(Chunk.toReadonlyArray(chunk).map(({ key, value }) => [key, value]))
  )

describe("Kafka store: topics", () => {
  it.scoped("creates compacted topics with one partition per worker and the configured settings", () =>
    Effect.gen(function*() {
      const options = yield* freshStore("create", { topicConfig: { "segment.ms": "3600000" } })
      const backend = KafkaRecovery.backend(options)
      yield* backend.open(pair(0))
      const client = yield* testClient
      for (const topic of Object.values(KafkaRecovery.topics(options.topicPrefix))) {
        const description = Option.getOrThrow(yield* client.describeTopic(topic))
        assert.strictEqual(description.partitions, 2, topic)
        assert.strictEqual(description.config["cleanup.policy"], "compact", topic)
        assert.strictEqual(description.config["segment.ms"], "3600000", topic)
      }
    }))

  it.scoped("refuses existing topics whose cleanup policy would delete what a resume needs", () =>
    Effect.gen(function*() {
      const options = yield* freshStore("policy")
      const client = yield* testClient
      const { progress, state } = KafkaRecovery.topics(options.topicPrefix)
      yield* client.createTopic({ topic: progress, partitions: 1, config: { "cleanup.policy": "compact" } })
      yield* client.createTopic({ topic: state, partitions: 1, config: { "cleanup.policy": "delete" } })
      const error = failureOf(yield* Effect.exit(KafkaRecovery.backend(options).open(single)))
      assert.instanceOf(error, DataflowError.StoreCorrupt)
      assert.include(error.message, `topic ${state} has cleanup.policy delete; a sluice store needs compact`)
    }))

  it.scoped("refuses existing topics whose partition count is not the worker count", () =>
    Effect.gen(function*() {
      const options = yield* freshStore("partitions")
      const client = yield* testClient
      for (const topic of Object.values(KafkaRecovery.topics(options.topicPrefix))) {
        yield* client.createTopic({ topic, partitions: 3, config: { "cleanup.policy": "compact" } })
      }
      const error = failureOf(yield* Effect.exit(KafkaRecovery.backend(options).open(single)))
      assert.instanceOf(error, DataflowError.StoreCorrupt)
      assert.include(error.message, "have 3 partitions, one per worker, but this run has 1 workers")
    }))

  it.scoped("R7: a topic written by something else than sluice is StoreCorrupt, and is left as it was", () =>
    Effect.gen(function*() {
      const options = yield* freshStore("foreign")
      const client = yield* testClient
      const { progress, state } = KafkaRecovery.topics(options.topicPrefix)
      for (const topic of [progress, state]) {
        yield* client.createTopic({ topic, partitions: 1, config: { "cleanup.policy": "compact" } })
      }
      yield* Effect.scoped(
        Effect.flatMap(
          client.producer(),
          (producer) => producer.send([{ topic: progress, records: [{ key: "user", value: "{\"name\":\"ada\"}" }] }])
        )
      )
      const exit = yield* Dataflow.run(wordcount({ lines: ["a"], counts: [] })).pipe(
        Effect.provide(KafkaRecovery.layer(options)),
        Effect.exit
      )
      const error = failureOf(exit)
      assert.instanceOf(error, DataflowError.StoreCorrupt)
      assert.match(
        error.message,
        /^recovery store kafka test-foreign-.* is not a readable sluice store: record .*-progress\/0@0 has a key sluice does not write/
      )
      assert.strictEqual((yield* readTopic(progress)).length, 1)
      assert.strictEqual((yield* readTopic(state)).length, 0)
    }))

  it.live("a broker that cannot be reached fails the run with StoreUnavailable within seconds", () =>
    Effect.gen(function*() {
      // a port nothing listens on
      const port = yield* Effect.promise(() =>
        new Promise<number>((resolve) => {
          const server = net.createServer().listen(0, "127.0.0.1", () => {
            const { port } = server.address() as net.AddressInfo
            server.close(() => resolve(port))
          })
        })
      )
      const startedAt = Date.now()
      const exit = yield* Dataflow.run(wordcount({ lines: ["a"], counts: [] })).pipe(
        Effect.provide(KafkaRecovery.layer({ brokers: [`127.0.0.1:${port}`], topicPrefix: "nowhere" })),
        Effect.exit
      )
      const error = failureOf(exit)
      assert.instanceOf(error, DataflowError.StoreUnavailable)
      assert.include(
        error.message,
        `recovery store kafka nowhere: cannot reach the kafka brokers: kafka at 127.0.0.1:${port}`
      )
      assert.isBelow(Date.now() - startedAt, 8_000)
    }))

  it.live(
    "a stopped broker (SIGSTOP) fails the commit within requestTimeout, saying how long it waited; the epoch is rolled back",
    () =>
      Effect.gen(function*() {
        // a broker of this test's own: the one every other test uses must not stop
        const { brokers, pid } = yield* ownBroker()
        const backend = KafkaRecovery.backend({ brokers, topicPrefix: "stopped", requestTimeout: "3 seconds" })
        const worker = yield* backend.open(single)
        yield* worker.commit(1, [put("a", "1")], [])
        process.kill(pid, "SIGSTOP")
        const startedAt = Date.now()
        const error = failureOf(yield* Effect.exit(worker.commit(2, [put("a", "2")], [])))
        const millis = Date.now() - startedAt
        assert.instanceOf(error, DataflowError.StoreUnavailable)
        assert.include(
          error.message,
          `recovery store kafka stopped: commit of epoch 2 failed: kafka at ${brokers[0]}: `
        )
        assert.include(error.message, "no answer within 3s (requestTimeout)")
        // the time the message gives is the time the commit took, abort included
        assert.isBelow(millis, 3_000 + 2_000 + 1_000)
        const said = /failed after (\d+\.\d)s: /.exec(error.message)
        assert.isNotNull(said, error.message)
        assert.isAtMost(Number(said![1]) * 1000, millis + 100)
        assert.isAtLeast(Number(said![1]) * 1000, millis - 1_500)
        process.kill(pid, "SIGCONT")
        const reopened = yield* backend.open(single)
        assert.deepStrictEqual(yield* snapshots(reopened, 2), { a: "1" })
      }).pipe(Effect.scoped),
    120_000
  )

  it.scoped("R9: reset deletes the store's topics and the next run starts at epoch 1", () =>
    Effect.gen(function*() {
      const options = yield* freshStore("reset")
      yield* Dataflow.run(wordcount({ lines: ["a", "b"], counts: [] }), { epoch: Epoch.everyItems(1) }).pipe(
        Effect.provide(KafkaRecovery.layer(options))
      )
      assert.strictEqual(yield* readResumeEpoch(KafkaRecovery.layer(options), "wordcount"), 4)
      yield* KafkaRecovery.reset(options)
      const client = yield* testClient
      assert.isTrue(Option.isNone(yield* client.describeTopic(KafkaRecovery.topics(options.topicPrefix).state)))
      assert.strictEqual(yield* readResumeEpoch(KafkaRecovery.layer(options), "wordcount"), 1)
    }))
})

describe("Kafka store: transactions", () => {
  it.scoped("R1: an epoch whose transaction never committed (a crash inside the commit) is invisible, and the restarted worker aborts it", () =>
    Effect.gen(function*() {
      const options = yield* freshStore("half")
      const backend = KafkaRecovery.backend(options)
      yield* Effect.scoped(Effect.gen(function*() {
        const worker = yield* backend.open(single)
        yield* worker.commit(1, [put("a", "1")], [output("one")])
      }))
      // what a process killed between its sends and its commit leaves: an open transaction
      const client = yield* testClient
      const { progress, state } = KafkaRecovery.topics(options.topicPrefix)
      // a bare kafkajs producer: only it can leave a transaction open the way a killed process does
      const kafka = new Kafkajs.Kafka({ brokers: [...options.brokers], logLevel: Kafkajs.logLevel.NOTHING })
      const producer = kafka.producer({
        transactionalId: `sluice.${options.topicPrefix}.worker-0`,
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: Kafkajs.Partitioners.DefaultPartitioner
      })
      yield* Effect.addFinalizer(() => Effect.promise(() => producer.disconnect()))
      yield* Effect.promise(async () => {
        await producer.connect()
        const transaction = await producer.transaction()
        await transaction.send({
          topic: state,
          messages: [{ key: JSON.stringify(["v", "s", "a", 2]), value: Buffer.from("SLU\u0001Sgarbage"), partition: 0 }]
        })
        await transaction.send({
          topic: progress,
          messages: [{ key: JSON.stringify(["progress", 0]), value: "x", partition: 0 }]
        })
        // no commit, no disconnect: the process "dies" here
      })
      const [pending] = yield* client.offsets(state)
      assert.isBelow(pending.end, pending.high, "the half-done transaction is open")
      const worker = yield* backend.open(single)
      assert.deepStrictEqual(yield* worker.readProgress, [{ workerIndex: 0, epoch: 1 }])
      assert.deepStrictEqual(yield* snapshots(worker, 5), { a: "1" })
      const [settled] = yield* client.offsets(state)
      assert.strictEqual(settled.end, settled.high, "opening the worker aborted it")
      assert.deepStrictEqual((yield* readOutputs(options.outputTopic!("out"))).map((r) => r.value), ["one"])
    }))

  it.scoped("a restarted worker fences its predecessor: the old process's next commit fails and changes nothing", () =>
    Effect.gen(function*() {
      const options = yield* freshStore("fence")
      const backend = KafkaRecovery.backend(options)
      const zombie = yield* backend.open(single)
      yield* zombie.commit(1, [put("a", "1")], [])
      const successor = yield* backend.open(single)
      assert.deepStrictEqual(yield* successor.readProgress, [{ workerIndex: 0, epoch: 1 }])
      const error = failureOf(yield* Effect.exit(zombie.commit(2, [put("a", "zombie")], [output("zombie")])))
      assert.instanceOf(error, DataflowError.StoreUnavailable)
      assert.include(error.message, "worker 0 was fenced: another process opened this store as the same worker")
      yield* successor.commit(2, [put("a", "2")], [])
      const reopened = yield* backend.open(single)
      assert.deepStrictEqual(yield* reopened.readProgress, [{ workerIndex: 0, epoch: 2 }])
      assert.deepStrictEqual(yield* snapshots(reopened, 2), { a: "2" })
      assert.deepStrictEqual(yield* readOutputs(options.outputTopic!("out")), [])
    }))

  it.scoped("large epochs are split into requests the broker accepts, in one transaction", () =>
    Effect.gen(function*() {
      const options = yield* freshStore("large")
      const backend = KafkaRecovery.backend(options)
      const worker = yield* backend.open(single)
      const big = "x".repeat(10_000)
      // 300 × 10 kB: three times Kafka's default 1 MiB request limit
      yield* worker.commit(1, Array.from({ length: 300 }, (_, i) => put(`k${i}`, big)), [])
      const reopened = yield* backend.open(single)
      const read = yield* snapshots(reopened, 1)
      assert.strictEqual(Object.keys(read).length, 300)
      assert.strictEqual(read.k299, big)
    }))

  it.scoped("a snapshot over the state topic's max.message.bytes fails the commit naming step, key, size and setting", () =>
    Effect.gen(function*() {
      const options = yield* freshStore("too-large", { topicConfig: { "max.message.bytes": "10000" } })
      const backend = KafkaRecovery.backend(options)
      const worker = yield* backend.open(single)
      yield* worker.commit(1, [put("small", "1")], [])
      const error = failureOf(
        yield* Effect.exit(worker.commit(2, [put("small", "2"), put("big", "x".repeat(20_000))], []))
      )
      assert.instanceOf(error, DataflowError.StoreUnavailable)
      const state = KafkaRecovery.topics(options.topicPrefix).state
      assert.include(
        error.message,
        `commit of epoch 2 failed: the snapshot of step s at key big is too large for the broker; ` +
          `raise max.message.bytes of topic ${state} (kafka-configs.sh --alter --entity-type topics --entity-name ${state} ` +
          `--add-config max.message.bytes=<bytes>) or keep it smaller`
      )
      assert.match(error.message, /\(20\d{3} bytes of key and value\) is larger than topic .* accepts/)
      assert.include(error.message, "(10000 bytes)")
      // the epoch was rolled back: a resume finds epoch 1
      const reopened = yield* backend.open(single)
      assert.deepStrictEqual(yield* snapshots(reopened, 2), { small: "1" })
    }))
})

describe("Kafka store: R5 with several workers", () => {
  it.scoped("outputs of an epoch not every worker has completed are held, released once all have, and dropped when the epoch is redone", () =>
    Effect.gen(function*() {
      const options = yield* freshStore("held")
      const backend = KafkaRecovery.backend(options)
      const out = options.outputTopic!("out")
      const seen = Effect.map(readOutputs(out), (records) => records.map((r) => `${r.epoch}:${r.value}`))
      yield* Effect.scoped(Effect.gen(function*() {
        const w0 = yield* backend.open(pair(0))
        const w1 = yield* backend.open(pair(1))
        yield* w0.commit(1, [], [output("a"), output("b")])
        assert.deepStrictEqual(yield* seen, [], "worker 1 has not completed epoch 1")
        yield* w1.commit(1, [], [output("w1")])
        assert.deepStrictEqual(yield* seen, ["1:w1"], "worker 1 completes epoch 1 after worker 0: its output goes out")
        yield* w0.commit(2, [], [output("c")])
        assert.deepStrictEqual(yield* seen, ["1:w1", "1:a", "1:b"], "epoch 2 waits for worker 1")
        yield* w0.commit(3, [], [output("d")])
      }))
      // a crash: worker 1 completed only epoch 1, so both resume at 2 and worker 0 redoes epochs 2 and 3
      const w0 = yield* backend.open(pair(0))
      const w1 = yield* backend.open(pair(1))
      yield* w0.discardFrom(2)
      yield* w0.commit(2, [], [output("c2")])
      yield* w1.commit(2, [], [])
      yield* w1.commit(3, [], [])
      yield* w0.commit(3, [], [output("d2")])
      assert.deepStrictEqual(yield* seen, ["1:w1", "1:a", "1:b", "2:c2", "3:d2"])
      assert.strictEqual(yield* countVersions(options.topicPrefix), 0)
    }))

  it.scoped("held outputs go out when the worker's store closes after every worker completed their epoch", () =>
    Effect.gen(function*() {
      const options = yield* freshStore("close")
      const backend = KafkaRecovery.backend(options)
      const w1 = yield* backend.open(pair(1))
      yield* Effect.scoped(Effect.gen(function*() {
        const w0 = yield* backend.open(pair(0))
        yield* w0.commit(1, [], [output("last")])
        yield* w1.commit(1, [], [])
        assert.deepStrictEqual(yield* readOutputs(options.outputTopic!("out")), [])
      }))
      assert.deepStrictEqual(
        (yield* readOutputs(options.outputTopic!("out"))).map((r) => [r.epoch, r.workerIndex, r.value]),
        [[1, 0, "last"]]
      )
    }))
})

describe("Kafka store: R6 for real", () => {
  it.scopedLive(
    "compaction shrinks the state topic to the live keys, whatever the number of epochs",
    () =>
      Effect.gen(function*() {
        const options = yield* freshStore("compaction", {
          topicConfig: {
            "segment.ms": "100",
            "min.cleanable.dirty.ratio": "0.01",
            "min.compaction.lag.ms": "0",
            "delete.retention.ms": "100"
          }
        })
        const keys = Array.from({ length: 10 }, (_, i) => `k${i}`)
        const lines = Array.from({ length: 80 }, () => keys.join(" "))
        yield* Dataflow.run(wordcount({ lines, counts: [] }), { epoch: Epoch.everyItems(1) }).pipe(
          Effect.provide(KafkaRecovery.layer(options))
        )
        const { state } = KafkaRecovery.topics(options.topicPrefix)
        const client = yield* testClient
        // offsets taken: 80 epochs of a new version of 11 keys, a tombstone for the old one, and a commit marker
        const written = (yield* client.offsets(state))[0].high
        assert.isAbove(written, 1_500)
        // The cleaner never touches the active segment, and it drops a tombstone only in a
        // later pass over a cleaned segment once delete.retention.ms has passed; both need
        // more writes. A running dataflow makes them; here, one more line per run does.
        let remaining = written
        let extra = 0
        const deadline = Date.now() + 40_000
        while (remaining > 40 && Date.now() < deadline) {
          yield* Effect.sleep("300 millis")
          extra++
          yield* Dataflow.run(
            wordcount({ lines: [...lines, ...Array.from({ length: extra }, () => "k0")], counts: [] }),
            { epoch: Epoch.everyItems(1) }
          ).pipe(Effect.provide(KafkaRecovery.layer(options)))
          remaining = (yield* readTopic(state)).length
        }
        console.log(`compaction: ${written} offsets written, ${remaining} records left after ${extra} more runs`)
        // the live versions (10 keys and the input position) plus the few records of the last epochs
        assert.isAtMost(remaining, 40, `the state topic still holds ${remaining} of ${written} records`)
        assert.strictEqual(yield* countVersions(options.topicPrefix), 11)
        const counts = yield* readState(KafkaRecovery.layer(options), "wordcount", "count", Schema.Number)
        assert.deepStrictEqual(counts.get("k0"), 80 + extra)
      }),
    60_000
  )
})
