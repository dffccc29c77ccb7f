import { assert, describe, it } from "@effect/vitest"
import { DataflowError, StoreKit } from "@sluice/core"
import type { KafkaClient } from "@sluice/kafka"
import { Effect, Exit } from "effect"
import { ProgressLog } from "../src/internal/progressLog.js"
import { encodeValue } from "../src/internal/records.js"
import { storeErrors } from "../src/internal/storeErrors.js"

const errors = storeErrors("unit")

/** A progress topic held in memory: records per partition, in offset order. */
const topicOf = (partitions: Array<Array<{ readonly key: Uint8Array | null; readonly value: Uint8Array | null }>>) => {
  const read = (
    partition: number,
    from: number | "start",
    apply: (record: KafkaClient.KafkaRecord) => DataflowError.RecoveryError | undefined
  ) =>
    Effect.gen(function*() {
      const records = partitions[partition] ?? []
      for (let offset = from === "start" ? 0 : from; offset < records.length; offset++) {
        const { key, value } = records[offset]
        const failure = apply({ topic: "unit-progress", partition, offset, key, value, timestamp: 0, headers: {} })
        if (failure !== undefined) return yield* failure
      }
      return records.length
    })
  return { partitions, read }
}

const logOver = (topic: ReturnType<typeof topicOf>, workerIndex = 0) =>
  new ProgressLog({ workerIndex, partitions: topic.partitions.length, errors, read: topic.read })

describe("Kafka store: progress log", () => {
  it.effect("reads every worker's progress, the meta and retired workers, and then only what came since", () =>
    Effect.gen(function*() {
      const topic = topicOf([[], []])
      const writer0 = logOver(topic, 0)
      const writer1 = logOver(topic, 1)
      const meta = { dataflowId: "wc", workerCount: 2, schemaVersion: 1, createdAt: 5 }
      topic.partitions[0].push(writer0.metaRecord(meta), writer0.progressRecord(3))
      topic.partitions[1].push(writer1.progressRecord(2))
      const log = logOver(topic, 0)
      yield* log.refresh([0, 1])
      assert.deepStrictEqual(log.meta, meta)
      assert.deepStrictEqual(log.workers, [{ workerIndex: 0, epoch: 3 }, { workerIndex: 1, epoch: 2 }])
      assert.strictEqual(log.agreedWith(4, 2), 2)
      // worker 1 commits 5, then is reset; progress of a rewind to nothing is a tombstone
      topic.partitions[1].push(writer1.progressRecord(5))
      yield* log.refresh([1])
      assert.strictEqual(log.agreedWith(4, 2), 4)
      topic.partitions[1].push(...writer1.resetRecords())
      yield* log.refresh([1])
      assert.deepStrictEqual(log.workers, [{ workerIndex: 0, epoch: 3 }])
      assert.isTrue(log.retired.has(1))
    }))

  it.effect("once loaded, this worker's own progress is what it commits, not what the topic said before", () =>
    Effect.gen(function*() {
      const topic = topicOf([[]])
      const log = logOver(topic)
      topic.partitions[0].push(log.progressRecord(7))
      yield* log.refresh([0])
      log.markOwnLoaded()
      log.setOwn(StoreKit.rewindProgress(7, 4))
      topic.partitions[0].push(log.progressRecord(9))
      yield* log.refresh([0])
      assert.deepStrictEqual(log.workers, [{ workerIndex: 0, epoch: 3 }])
    }))

  it.effect("a record sluice does not write is StoreCorrupt, naming the record", () =>
    Effect.gen(function*() {
      const encoder = new TextEncoder()
      const cases = [
        [
          { key: encoder.encode(`["user"]`), value: encoder.encode("x") },
          "record unit-progress/0@0 has a key sluice does not write"
        ],
        [
          { key: encoder.encode(`["progress",0]`), value: encoder.encode("x") },
          "record unit-progress/0@0 was not written by sluice"
        ],
        [
          { key: encoder.encode(`["progress",0]`), value: encodeValue("progress", encoder.encode(`{"epoch":"7"}`)) },
          "progress in record unit-progress/0@0 does not parse"
        ],
        [
          { key: encoder.encode(`["meta"]`), value: encodeValue("meta", encoder.encode(`{"dataflowId":"wc"}`)) },
          "the store meta in record unit-progress/0@0 does not parse"
        ]
      ] as const
      for (const [record, message] of cases) {
        const exit = yield* Effect.exit(logOver(topicOf([[record]])).refresh([0]))
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit) && exit.cause._tag === "Fail") {
          assert.instanceOf(exit.cause.error, DataflowError.StoreCorrupt)
          assert.include(exit.cause.error.message, message)
        } else {
          assert.fail(`expected StoreCorrupt for ${message}`)
        }
      }
    }))

  it.effect("a value of a newer format is StoreVersionUnsupported", () =>
    Effect.gen(function*() {
      const value = encodeValue("progress", StoreKit.encodeProgress(1))
      value[3] = 9
      const log = logOver(topicOf([[{ key: new TextEncoder().encode(`["progress",0]`), value }]]))
      const exit = yield* Effect.exit(log.refresh([0]))
      assert.isTrue(
        Exit.isFailure(exit) && exit.cause._tag === "Fail" &&
          exit.cause.error instanceof DataflowError.StoreVersionUnsupported && exit.cause.error.found === 9
      )
    }))
})
