/**
 * A rescale of the Kafka store SIGKILLed at random moments in a child
 * process; after each kill a rerun with `rescale: true`, with the old or the
 * new worker count, ends with the state of an uninterrupted rescale, and the
 * output topic, read with read_committed, holds every agreed epoch's records
 * exactly once.
 */
import { assert, describe, it } from "@effect/vitest"
import { DataflowError, RecoveryStore } from "@sluice/core"
import { KafkaRecovery } from "@sluice/recovery-kafka"
import {
  expectedRescaleOutputs,
  expectedRescaleState,
  readRescaledLayout,
  RESCALE_DATAFLOW,
  rescaleTo,
  runRescaleChild,
  TestSeed,
  writeRescaleLayout
} from "@sluice/store-testkit"
import { Cause, Effect, Exit, Option } from "effect"
import { fileURLToPath } from "node:url"
import { freshStore, readOutputs, storeContents, testClient } from "./fixtures/KafkaFixture.js"

const childScript = fileURLToPath(new URL("./crash/rescaleChild.ts", import.meta.url))
const packageDirectory = fileURLToPath(new URL("..", import.meta.url))
const KEYS = 2000

const runChild = (options: KafkaRecovery.Options, killAfterMs?: number) =>
  runRescaleChild({
    script: childScript,
    args: [JSON.stringify({ brokers: options.brokers, topicPrefix: options.topicPrefix, workers: 3 })],
    cwd: packageDirectory,
    ...(killAfterMs === undefined ? {} : { killAfterMs })
  })

/** Whether a rescale plan is stored, as any worker of the old layout sees it. */
const planStored = (backend: RecoveryStore.Backend) =>
  Effect.scoped(
    Effect.flatMap(backend.open({ workerIndex: 0, workerCount: 2 }), (worker) =>
      worker.rescaleJournal === undefined
        ? Effect.succeed(false)
        : Effect.map(worker.rescaleJournal.read, Option.isSome))
  )

const assertRerunFinishes = (options: KafkaRecovery.Options, rerunWith: number, what: string) =>
  Effect.gen(function*() {
    const backend = KafkaRecovery.backend(options)
    const rerun = yield* Effect.exit(rescaleTo(backend, rerunWith))
    assert.isTrue(Exit.isSuccess(rerun), `${what}, rerun with ${rerunWith}: ${rerun}`)
    assert.deepStrictEqual(yield* readRescaledLayout(backend, rerunWith), expectedRescaleState(2, KEYS), what)
    const outputs = (yield* readOutputs(options.outputTopic!("out"))).map((record) => record.value).sort()
    assert.deepStrictEqual(outputs, expectedRescaleOutputs(2), `${what}: the output topic`)
  })

describe("Kafka rescale under SIGKILL", () => {
  it.scoped(
    "a rescale killed at random moments is finished by a rerun of either count, without duplicate output",
    () =>
      Effect.gen(function*() {
        const seed = TestSeed.fromEnvironment()
        const random = TestSeed.random(seed)
        const clean = yield* freshStore("rescale-clean")
        yield* writeRescaleLayout(KafkaRecovery.backend(clean), 2, KEYS)
        const full = yield* runChild(clean)
        assert.isTrue(full.finished, full.output)
        yield* assertRerunFinishes(clean, 3, "uninterrupted")

        let killedWithPlan = 0
        for (let trial = 0; trial < 5; trial++) {
          yield* Effect.scoped(Effect.gen(function*() {
            const options = yield* freshStore("rescale-kill")
            const backend = KafkaRecovery.backend(options)
            yield* writeRescaleLayout(backend, 2, KEYS)
            // the later part of a rescale is the apply phase, where a kill leaves a plan
            const killAfterMs = Math.floor((0.2 + 0.8 * random()) * full.elapsedMs)
            const run = yield* runChild(options, killAfterMs)
            const what = `seed ${seed}, trial ${trial}, killed ${killAfterMs} ms after ready`
            assert.isTrue(run.killed || run.finished, `${what}: ${run.output}`)
            if (run.killed && (yield* planStored(backend))) {
              killedWithPlan++
              const before = yield* storeContents(options, ["out"])
              const exit = yield* RecoveryStore.make(backend).open({
                dataflowId: RESCALE_DATAFLOW,
                workerIndex: 0,
                workerCount: 3
              }).pipe(Effect.scoped, Effect.exit)
              const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
              assert.instanceOf(Option.getOrUndefined(failure), DataflowError.RescaleUnfinished, what)
              assert.deepStrictEqual(yield* storeContents(options, ["out"]), before, `${what}: a refused run wrote`)
            }
            yield* assertRerunFinishes(options, trial % 2 === 0 ? 2 : 3, what)
          }))
        }
        assert.isAtLeast(killedWithPlan, 1, `seed ${seed}: no kill landed after the plan was stored`)
      }),
    600_000
  )

  it.scoped("a growth of the topics killed between the state and the progress topic is completed by the rescale", () =>
    Effect.gen(function*() {
      const options = yield* freshStore("rescale-half-grown")
      const backend = KafkaRecovery.backend(options)
      yield* writeRescaleLayout(backend, 2)
      // a kill between the two `createPartitions` of a rescale to 3 workers leaves this
      const client = yield* testClient
      yield* client.createPartitions(KafkaRecovery.topics(options.topicPrefix).state, 3)
      assert.deepStrictEqual(yield* rescaleTo(backend, 3), Option.some(2))
      assert.deepStrictEqual(yield* readRescaledLayout(backend, 3), expectedRescaleState(2))
    }))
})
