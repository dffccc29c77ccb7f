import { assert, describe, it } from "@effect/vitest"
import { NodeWorkers } from "@sluice/platform-node"
import { KafkaRecovery } from "@sluice/recovery-kafka"
import { countsOf, expectedWords, runPartitionedWordcount } from "@sluice/store-testkit"
import { Effect, Option } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { freshStore, testClient } from "./fixtures/KafkaFixture.js"

/** A fresh store, and the output directory `partitionedWordcount` writes to, both removed afterwards. */
const storeForFlow = (name: string) =>
  Effect.gen(function*() {
    const options = yield* freshStore(name)
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-kafka-workers-out-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(out, { recursive: true, force: true })))
    process.env.SLUICE_TEST_OUT = out
    return { options, layer: KafkaRecovery.layer(options) }
  })

describe("workers on Kafka", () => {
  it.scoped(
    "a rescale from 2 to 3 workers grows the topics, one from 3 to 1 retires partitions, and the state carries across",
    () =>
      Effect.gen(function*() {
        const { layer, options } = yield* storeForFlow("workers")
        const client = yield* testClient
        const partitionsOf = (topic: string) =>
          Effect.map(client.describeTopic(topic), (d) => Option.getOrThrow(d).partitions)
        const runWith = (workers: number, perPartition: number, rescale: boolean) =>
          runPartitionedWordcount(layer, { workers, perPartition, rescale, threads: NodeWorkers.layer })

        yield* runWith(2, 300, false)
        assert.deepStrictEqual(yield* countsOf(layer, 2), expectedWords(6, 300))

        const three = yield* runWith(3, 500, true)
        assert.strictEqual(three.items, 6 * 200)
        assert.strictEqual(yield* partitionsOf(`${options.topicPrefix}-state`), 3)
        assert.deepStrictEqual(yield* countsOf(layer, 3), expectedWords(6, 500))

        const one = yield* runWith(1, 600, true)
        assert.strictEqual(one.items, 6 * 100)
        // Kafka cannot shrink a topic: the partitions of workers 1 and 2 stay, retired
        assert.strictEqual(yield* partitionsOf(`${options.topicPrefix}-progress`), 3)
        assert.deepStrictEqual(yield* countsOf(layer, 1), expectedWords(6, 600))

        // without asking for a rescale, the old worker count is refused (R7)
        const refused = yield* Effect.flip(runWith(3, 600, false))
        assert.strictEqual((refused as { _tag: string })._tag, "RecoveryMismatch")
        delete process.env.SLUICE_TEST_ITEMS
      }),
    120_000
  )

  it.scoped(
    "a rescale that reset only some workers is named when the store is opened again",
    () =>
      Effect.gen(function*() {
        const { layer, options } = yield* storeForFlow("half-rescaled")
        yield* runPartitionedWordcount(layer, {
          workers: 2,
          perPartition: 300,
          rescale: false,
          threads: NodeWorkers.layer
        })
        // what a crash in the middle of a rescale leaves: worker 0 reset, worker 1 not
        yield* Effect.scoped(Effect.flatMap(
          KafkaRecovery.backend(options).open({ workerIndex: 0, workerCount: 2 }),
          (worker) => worker.reset!
        ))
        const error = yield* Effect.flip(
          runPartitionedWordcount(layer, { workers: 3, perPartition: 300, rescale: true, threads: NodeWorkers.layer })
        )
        assert.strictEqual((error as { _tag: string })._tag, "StoreCorrupt")
        assert.include((error as Error).message, "a rescale of this store was left unfinished")
        delete process.env.SLUICE_TEST_ITEMS
      }),
    60_000
  )
})
