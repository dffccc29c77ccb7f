/**
 * One Sluice run of the Kafka word count in a process of its own, started by
 * `bench/kafkaPeers.ts` with a JSON `KafkaCellSpec` as its argument: Kafka in
 * (`KafkaInput`, bounded), the word count of `workloads.ts` (every update, or
 * each word's latest count once per epoch), Kafka out
 * exactly-once (`KafkaOutput`), the Kafka store. Prints one `@@result` line;
 * the runner then checks the output topic with a read_committed reader.
 *
 * With a `KafkaResumeSpec` (`bench/kafkaResume.ts`) it is one process of the
 * resume after kill -9 instead: the keyed count on the Kafka or the SQLite
 * store, killed once its state is committed, or restarted on that state.
 */
import { Dataflow, Epoch } from "@sluice/core"
import type { RecoveryStore } from "@sluice/core"
import { KafkaInput, KafkaOutput } from "@sluice/kafka"
import { KafkaRecovery } from "@sluice/recovery-kafka"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Data from "./data.js"
import type { CellResult } from "./protocol.js"
import { RESULT_MARK } from "./protocol.js"
import * as Stores from "./stores.js"
import * as W from "./workloads.js"

/** What the runner hands this process. */
export interface KafkaCellSpec {
  readonly brokers: ReadonlyArray<string>
  readonly input: string
  readonly output: string
  readonly topicPrefix: string
  readonly epochWords: number
  /** Epochs of this many milliseconds instead of `epochWords` (`Epoch.interval`), as Kafka Streams' commit interval. */
  readonly epochMillis?: number
  readonly words: number
  /** `"epoch"`: one record per changed word per epoch (`emit: "epoch"`), as Kafka Streams' caching. */
  readonly emit: Dataflow.KeyedEmit
}

/** What the runner hands this process for one side of the resume after kill -9. */
export interface KafkaResumeSpec {
  readonly kind: "resume"
  readonly store: "kafka" | "sqlite"
  /**
   * `"killed"`: count until the epoch that holds every key has committed, then SIGKILL this process in the
   * middle of the next epoch. `"restarted"`: resume on that state and count two more epochs.
   */
  readonly phase: "killed" | "restarted"
  /** Distinct keys the keyed step holds when killed. */
  readonly keys: number
  readonly epochWords: number
  /** The Kafka store's broker and topics. */
  readonly brokers: ReadonlyArray<string>
  readonly topicPrefix: string
  /** The SQLite store's directory. */
  readonly directory: string
}

/** The same text the Kafka Streams peer writes, so one verifier reads both: `["word",count]`. */
const WordCount = Schema.parseJson(Schema.Tuple(Schema.String, Schema.Number))

const wordcount = (spec: KafkaCellSpec) =>
  Dataflow.make("wordcount-kafka").pipe(
    Dataflow.input(
      "lines",
      KafkaInput.make({ brokers: spec.brokers, topic: spec.input, value: Schema.String, bounded: true })
    ),
    Dataflow.map("text", (message) => message.value),
    W.countWordsEmitting(spec.emit),
    Dataflow.output(
      "counts",
      KafkaOutput.make({
        brokers: spec.brokers,
        topic: spec.output,
        value: WordCount,
        key: ([word]) => word,
        delivery: "exactly-once"
      })
    )
  )

const resumeStore = async (spec: KafkaResumeSpec): Promise<Layer.Layer<RecoveryStore.RecoveryStore, unknown>> =>
  spec.store === "kafka"
    ? KafkaRecovery.layer({ brokers: spec.brokers, topicPrefix: spec.topicPrefix })
    : Stores.storeLayer("sqlite", spec.directory)

/**
 * Both phases read the same input: the keys once, then two epochs more of the same keys, so the
 * restarted process updates restored state. The killed one never reaches the end.
 */
const resumePhase = async (spec: KafkaResumeSpec): Promise<CellResult> => {
  const counter: W.Counter = { items: 0, firstAt: undefined }
  const input = W.largeStateLines(spec.keys + 2 * spec.epochWords, spec.keys, undefined)
  const epoch = W.wordEpoch(spec.epochWords)
  const layer = await resumeStore(spec)
  let firstCommitAt: number | undefined
  const runStartedAt = performance.now()
  const summary = await Effect.runPromise(
    Dataflow.run(W.wordcountFlow(input, counter), {
      epoch,
      restore: "eager",
      onEpochCommitted: (progress) =>
        Effect.sync(() => {
          firstCommitAt ??= performance.now()
          // every key is in committed state: die mid-epoch, as kill -9 of a worker would
          if (spec.phase === "killed" && progress.totalItems * Data.WORDS_PER_LINE >= spec.keys) {
            process.kill(process.pid, "SIGKILL")
          }
        })
    }).pipe(Effect.provide(layer))
  )
  if (spec.phase === "killed") throw new Error(`the run ended before its ${spec.keys} keys were committed`)
  if (summary.resumeEpoch <= 1) throw new Error("the run did not resume: the killed run committed no epoch")
  if (firstCommitAt === undefined || counter.firstAt === undefined) throw new Error("no epoch committed after restart")
  const cpu = process.cpuUsage()
  return {
    items: counter.items,
    // from process start (performance.timeOrigin): node, imports, store open, restore, one epoch
    startupSeconds: firstCommitAt / 1000,
    firstItemSeconds: counter.firstAt / 1000,
    openSeconds: (counter.firstAt - runStartedAt) / 1000,
    resumeEpoch: summary.resumeEpoch,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    peakRssBytes: process.resourceUsage().maxRSS * 1024
  }
}

const main = async (): Promise<CellResult> => {
  const spec = JSON.parse(process.argv[2]) as KafkaCellSpec | KafkaResumeSpec
  if ("kind" in spec) return resumePhase(spec)
  let firstCommitAt: number | undefined
  const startedAt = performance.now()
  await Effect.runPromise(
    Dataflow.run(wordcount(spec), {
      epoch: spec.epochMillis === undefined ? W.wordEpoch(spec.epochWords) : Epoch.interval(spec.epochMillis),
      onEpochCommitted: () => Effect.sync(() => (firstCommitAt ??= performance.now()))
    }).pipe(Effect.provide(KafkaRecovery.layer({ brokers: spec.brokers, topicPrefix: spec.topicPrefix })))
  )
  const seconds = (performance.now() - startedAt) / 1000
  const cpu = process.cpuUsage()
  return {
    items: spec.words,
    medianSeconds: seconds,
    itemsPerSecond: spec.words / seconds,
    // from process start (performance.timeOrigin), as the peer's from JVM start
    ...(firstCommitAt === undefined ? {} : { startupSeconds: firstCommitAt / 1000 }),
    // of which node and the imports, up to the start of the run
    importSeconds: startedAt / 1000,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    peakRssBytes: process.resourceUsage().maxRSS * 1024
  }
}

main().then(
  (result) => process.stdout.write(`${RESULT_MARK}${JSON.stringify(result)}\n`),
  (error: unknown) => process.stdout.write(`${RESULT_MARK}${JSON.stringify({ error: String(error).split("\n")[0] })}\n`)
).finally(() => process.exit(0))
