/**
 * One Sluice run of the Kafka word count in a process of its own, started by
 * `bench/kafkaPeers.ts` with a JSON `KafkaCellSpec` as its argument: Kafka in
 * (`KafkaInput`, bounded), the word count of `workloads.ts` (every update, or
 * each word's latest count once per epoch), Kafka out
 * exactly-once (`KafkaOutput`), the Kafka store. Prints one `@@result` line;
 * the runner then checks the output topic with a read_committed reader.
 */
import { Dataflow } from "@sluice/core"
import { KafkaInput, KafkaOutput } from "@sluice/kafka"
import { KafkaRecovery } from "@sluice/recovery-kafka"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { CellResult } from "./protocol.js"
import { RESULT_MARK } from "./protocol.js"
import * as W from "./workloads.js"

/** What the runner hands this process. */
export interface KafkaCellSpec {
  readonly brokers: ReadonlyArray<string>
  readonly input: string
  readonly output: string
  readonly topicPrefix: string
  readonly epochWords: number
  readonly words: number
  /** `"epoch"`: one record per changed word per epoch (`emit: "epoch"`), as Kafka Streams' caching. */
  readonly emit: Dataflow.KeyedEmit
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

const main = async (): Promise<CellResult> => {
  const spec = JSON.parse(process.argv[2]) as KafkaCellSpec
  let firstCommitAt: number | undefined
  const startedAt = performance.now()
  await Effect.runPromise(
    Dataflow.run(wordcount(spec), {
      epoch: W.wordEpoch(spec.epochWords),
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
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    peakRssBytes: process.resourceUsage().maxRSS * 1024
  }
}

main().then(
  (result) => process.stdout.write(`${RESULT_MARK}${JSON.stringify(result)}\n`),
  (error: unknown) => process.stdout.write(`${RESULT_MARK}${JSON.stringify({ error: String(error).split("\n")[0] })}\n`)
).finally(() => process.exit(0))
