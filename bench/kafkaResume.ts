/**
 * The resume after kill -9 of `pnpm bench --peers` (issue 17): the keyed count of
 * `bench/workloads.ts` holding N distinct keys on the Kafka store, then the same flow on
 * the SQLite store. Each store gets one process (`bench/kafkaChild.ts`) that counts until
 * the epoch holding every key has committed and then SIGKILLs itself in the next epoch, and
 * a second one started on that state: the figure is the time from the second process's
 * start to its first committed epoch (node, imports, store open, every key restored, one
 * epoch of updates), and to its first item out. Target: the Kafka store within 2× SQLite's.
 *
 * Kafka Streams takes its turn in each round (bench/kafkaStreamsResume.ts): the same keys, its
 * JVM killed with kill -9 once all are committed, restarted, timed to its first commit after the
 * changelog restore.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as CompiledChild from "./compiledChild.js"
import type { KafkaResumeSpec } from "./kafkaChild.js"
import type { KafkaPeerOptions } from "./kafkaPeers.js"
import { buildPeer, startKafkaBroker } from "./kafkaPeers.js"
import { kafkaStreamsResume } from "./kafkaStreamsResume.js"
import type { CellResult } from "./protocol.js"
import * as Report from "./report.js"

/** The bench's larger epoch, in words: a 1M-key state is ten of them. */
const EPOCH_WORDS = 100_000
/** Issue 17's target: the Kafka store's resume within this many times SQLite's. */
const TARGET_RATIO = 2

export interface KafkaResumeOptions extends Omit<KafkaPeerOptions, "words"> {
  readonly keys: number
}

/** Runs the workload; returns a row per store (an error row when the broker cannot start or a run fails). */
export const kafkaResume = async (options: KafkaResumeOptions): Promise<Array<Report.Row>> => {
  const { keys, log } = options
  log(`resume-kafka: ${Report.count(keys)} keys, kill -9 once committed, restart to the first committed epoch`)
  const labelOf = (store: KafkaResumeSpec["store"]) =>
    `sluice, ${store === "kafka" ? "Kafka" : "SQLite"} store, restart after kill -9 on ${Report.count(keys)} keys`
  const peer = buildPeer(log)
  const compiled = CompiledChild.build()
  if ("error" in compiled) log(`  the Sluice processes run from their sources under tsx: ${compiled.error}`)
  const broker = await startKafkaBroker()
  if ("error" in broker) {
    return [{ workload: "resume-kafka", config: "sluice-kafka", label: labelOf("kafka"), result: broker }]
  }
  try {
    const samples = new Map<KafkaResumeSpec["store"], Array<CellResult>>([["kafka", []], ["sqlite", []]])
    const streamsSamples: Array<CellResult> = []
    for (let round = 0; round < options.runs; round++) {
      // the stores take turns, so the machine's drifting load falls on both
      for (const store of ["kafka", "sqlite"] as const) {
        const id = `bench-resume-${Date.now()}-${round}`
        const spec: KafkaResumeSpec = {
          kind: "resume",
          store,
          phase: "killed",
          keys,
          epochWords: EPOCH_WORDS,
          brokers: broker.brokers,
          topicPrefix: id,
          directory: path.join(options.scratch, id)
        }
        const run = (phase: KafkaResumeSpec["phase"]) =>
          options.runChild(
            process.execPath,
            CompiledChild.nodeArguments("kafkaChild", JSON.stringify({ ...spec, phase })),
            options.timeoutMs
          )
        const killed = await run("killed")
        const result = killed.error?.startsWith("exited with SIGKILL") === true
          ? await run("restarted")
          : { error: `the killed run: ${killed.error ?? "it was not killed"}` }
        fs.rmSync(spec.directory, { recursive: true, force: true })
        samples.get(store)?.push(result)
        log(
          `  ${store}: ${
            result.error ??
              `first commit ${result.startupSeconds?.toFixed(2)} s, first item ${
                result.firstItemSeconds?.toFixed(2)
              } s after restart; ${result.cpuSeconds?.toFixed(1)} CPU s; resumed at epoch ${result.resumeEpoch}`
          }`
        )
      }
      const streams = "error" in peer ? { error: peer.error } : await kafkaStreamsResume({
        keys,
        brokers: broker.brokers,
        classPath: peer.classPath,
        id: `bench-resume-streams-${Date.now()}-${round}`,
        scratch: options.scratch,
        timeoutMs: options.timeoutMs,
        runChild: options.runChild
      })
      streamsSamples.push(streams)
      log(
        `  Kafka Streams: ${
          streams.error ??
            `first commit ${streams.startupSeconds?.toFixed(2)} s after restart (changelog restore ${
              streams.restoreSeconds?.toFixed(2)
            } s, ${streams.restoredRecords} records); ${streams.cpuSeconds?.toFixed(1)} CPU s`
        }`
      )
    }
    const medianOfRuns = (runs: ReadonlyArray<CellResult>): CellResult => {
      const failed = runs.find((run) => run.error !== undefined)
      if (failed !== undefined) return failed
      // the run with the median time to the first commit, all its figures
      return [...runs].sort((a, b) => (a.startupSeconds ?? 0) - (b.startupSeconds ?? 0))[runs.length >>> 1]
    }
    const medianOf = (store: KafkaResumeSpec["store"]) => medianOfRuns(samples.get(store) ?? [])
    const kafka = medianOf("kafka")
    const sqlite = medianOf("sqlite")
    const streams = medianOfRuns(streamsSamples)
    if (kafka.startupSeconds !== undefined && streams.startupSeconds !== undefined) {
      log(
        `  Kafka store ÷ Kafka Streams, restart to first commit: ${
          (kafka.startupSeconds / streams.startupSeconds).toFixed(2)
        }×`
      )
    }
    if (kafka.startupSeconds !== undefined && sqlite.startupSeconds !== undefined) {
      const ratio = kafka.startupSeconds / sqlite.startupSeconds
      log(
        `  Kafka store ÷ SQLite store, restart to first commit: ${ratio.toFixed(2)}× ` +
          `(target ≤ ${TARGET_RATIO}×: ${ratio <= TARGET_RATIO ? "met" : "missed"})`
      )
    }
    return [
      {
        workload: "resume-kafka",
        config: "sluice-kafka",
        label: labelOf("kafka"),
        result: kafka,
        target: `first commit within ${TARGET_RATIO}× the SQLite store's`
      },
      { workload: "resume-kafka", config: "sluice-sqlite", label: labelOf("sqlite"), result: sqlite },
      {
        workload: "resume-kafka",
        config: "kafka-streams",
        label: `Kafka Streams 3.9.1, restart after kill -9 on ${Report.count(keys)} keys (changelog restore)`,
        result: streams
      }
    ]
  } finally {
    await broker.stop()
  }
}
