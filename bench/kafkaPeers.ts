/**
 * The Kafka → Kafka word count of `pnpm bench --peers`: Sluice (`bench/kafkaChild.ts`) next to
 * Kafka Streams (`bench/peers/kafka-streams/`, built with Maven), on one broker from
 * `tools/kafka`, with the same input topic and the same read_committed check of each output.
 *
 * Each run gets fresh topics; the configurations alternate, so the machine's drifting load
 * falls on both. Every output topic is read back by Kafka's Java consumer with
 * `isolation.level=read_committed`: the last count of each word must be its count in the input.
 * The Sluice cells with `emit: "epoch"` (latest per epoch, as Kafka Streams' caching) on one
 * partition are checked record by record: each word's count at the close of each epoch it
 * occurs in, and nothing else.
 */
import type { Dataflow } from "@sluice/core"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import * as CompiledChild from "./compiledChild.js"
import * as Data from "./data.js"
import type { KafkaCellSpec } from "./kafkaChild.js"
import type { CellResult } from "./protocol.js"
import * as Report from "./report.js"
import * as W from "./workloads.js"

const benchDirectory = path.dirname(fileURLToPath(import.meta.url))
const repository = path.dirname(benchDirectory)
const peerDirectory = path.join(benchDirectory, "peers", "kafka-streams")
const KAFKA_STREAMS_VERSION = "3.9.1"

/** Sluice's epochs of this workload, in words: the bench's larger word-count epoch. */
const EPOCH_WORDS = 100_000
/** The same epochs in input records (lines), for the record-by-record check of `emit: "epoch"`. */
const EPOCH_LINES = (() => {
  const policy = W.wordEpoch(EPOCH_WORDS)
  if (policy._tag !== "EveryItems") throw new Error("the Kafka word count's epochs are counted in items")
  return policy.items
})()
/** Kafka Streams' default commit interval under exactly_once_v2. */
const COMMIT_MS = 100

export interface KafkaPeerOptions {
  readonly words: number
  /** Runs of each configuration; the row is their median. */
  readonly runs: number
  readonly scratch: string
  readonly timeoutMs: number
  readonly log: (line: string) => void
  readonly runChild: (
    command: string,
    args: ReadonlyArray<string>,
    timeoutMs: number,
    env?: NodeJS.ProcessEnv
  ) => Promise<CellResult>
}

export interface Broker {
  readonly brokers: ReadonlyArray<string>
  readonly stop: () => Promise<void>
}

/** A broker of `tools/kafka` of this run's own (fresh ports), or why it could not start. */
export const startKafkaBroker = async (): Promise<Broker | { error: string }> => {
  const brokerModule = pathToFileURL(path.join(repository, "tools", "kafka", "broker.mjs")).href
  const { startBroker } = (await import(brokerModule)) as {
    startBroker: (options: { quiet: boolean }) => Promise<Broker>
  }
  try {
    return await startBroker({ quiet: true })
  } catch (error) {
    return { error: `kafka broker: ${String(error).split("\n")[0]}` }
  }
}

/** `mvn package` of the peer (also the resume workload's, bench/kafkaStreamsResume.ts) (offline when `~/.m2` has it); the class path, or why not. */
export const buildPeer = (log: (line: string) => void): { classPath: string } | { error: string } => {
  const args = ["-B", "-q", "-f", path.join(peerDirectory, "pom.xml"), "package", "dependency:copy-dependencies"]
  let built = spawnSync("mvn", ["-o", ...args], { encoding: "utf8", timeout: 600_000 })
  if (built.status !== 0) {
    log(`building the Kafka Streams ${KAFKA_STREAMS_VERSION} peer with Maven (fetching from Maven Central)`)
    built = spawnSync("mvn", args, { encoding: "utf8", timeout: 600_000 })
  }
  if (built.status !== 0) {
    const why = `${built.error?.message ?? ""}${built.stdout ?? ""}${built.stderr ?? ""}`.trim().split("\n")
    return {
      error: `mvn package of bench/peers/kafka-streams failed: ${why.find((l) => l.includes("ERROR")) ?? why.pop()}`
    }
  }
  const target = path.join(peerDirectory, "target")
  return { classPath: `${path.join(target, "classes")}:${path.join(target, "dependency", "*")}` }
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >>> 1
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/** The run nearest the median time, with the median's figures. */
const medianRun = (runs: ReadonlyArray<CellResult>): CellResult => {
  const failed = runs.find((run) => run.error !== undefined)
  if (failed !== undefined) return failed
  const seconds = median(runs.map((run) => run.medianSeconds ?? 0))
  const nearest = runs.reduce((best, run) =>
    Math.abs((run.medianSeconds ?? 0) - seconds) < Math.abs((best.medianSeconds ?? 0) - seconds) ? run : best
  )
  return {
    ...nearest,
    medianSeconds: seconds,
    itemsPerSecond: (nearest.items ?? 0) / seconds,
    samplesMs: runs.map((run) => (run.medianSeconds ?? 0) * 1000).sort((a, b) => a - b)
  }
}

interface Configuration {
  readonly config: string
  readonly label: string
  readonly partitions: number
  readonly run: (topics: { input: string; output: string; id: string }) => Promise<CellResult>
  /** Extra arguments of the verifier: the epoch length of a record-by-record check. */
  readonly verify: ReadonlyArray<string>
}

/** Runs the workload; returns its rows (an error row when the peer or the broker cannot start). */
export const kafkaWordcount = async (options: KafkaPeerOptions): Promise<Array<Report.Row>> => {
  const { log, words } = options
  log(`wordcount-kafka: ${words.toLocaleString("en")} words, Kafka → Kafka exactly-once, one broker`)
  const row = (config: string, label: string, result: CellResult): Report.Row => ({
    workload: "wordcount-kafka",
    config,
    label,
    result
  })
  const peer = buildPeer(log)
  const compiled = CompiledChild.build()
  if ("error" in compiled) log(`  the Sluice runs start from their sources under tsx: ${compiled.error}`)
  const broker = await startKafkaBroker()
  if ("error" in broker) return [row("sluice-kafka", "sluice, Kafka store", broker)]
  try {
    if ("error" in peer) {
      return [row("kafka-streams", `Kafka Streams ${KAFKA_STREAMS_VERSION}`, { error: peer.error })]
    }
    const brokers = broker.brokers.join(",")
    const java = (args: ReadonlyArray<string>) =>
      options.runChild(
        "java",
        ["-cp", peer.classPath, "sluice.bench.KafkaStreamsWordCount", ...args],
        options.timeoutMs
      )
    const linesFile = path.join(options.scratch, "kafka-words.txt")
    Data.writeWordLines(linesFile, Data.wordLines(words))

    const configurations: Array<Configuration> = []
    for (const partitions of [1, 4]) {
      // latest per epoch on one partition only: there the epochs, and so the expected records, are fixed;
      // epochs of Kafka Streams' commit interval on one partition, per update: the same commits per second
      const cells: Array<{ readonly emit: Dataflow.KeyedEmit; readonly epochMillis?: number }> = partitions === 1
        ? [{ emit: "each" }, { emit: "epoch" }, { emit: "each", epochMillis: COMMIT_MS }]
        : [{ emit: "each" }]
      for (const { emit, epochMillis } of cells) {
        configurations.push({
          config: `sluice-kafka-p${partitions}-${epochMillis === undefined ? `e${EPOCH_WORDS}` : `t${epochMillis}`}${
            emit === "epoch" ? "-latest" : ""
          }`,
          label: `sluice, Kafka store, ${partitions} partition${partitions > 1 ? "s" : ""}, ${
            epochMillis === undefined ? `${Report.count(EPOCH_WORDS)}-word epochs` : `${epochMillis} ms epochs`
          }${emit === "epoch" ? ", latest per epoch" : ""}`,
          partitions,
          verify: emit === "epoch" ? [String(EPOCH_LINES)] : [],
          run: ({ id, input, output }) => {
            const spec: KafkaCellSpec = {
              brokers: broker.brokers,
              input,
              output,
              topicPrefix: id,
              epochWords: EPOCH_WORDS,
              ...(epochMillis === undefined ? {} : { epochMillis }),
              words,
              emit
            }
            return options.runChild(
              process.execPath,
              CompiledChild.nodeArguments("kafkaChild", JSON.stringify(spec)),
              options.timeoutMs
            )
          }
        })
      }
      for (const cache of ["default", "0"] as const) {
        configurations.push({
          config: `kafka-streams-p${partitions}-${cache === "0" ? "nocache" : "cache"}`,
          label: `Kafka Streams ${KAFKA_STREAMS_VERSION}, ${partitions} partition${partitions > 1 ? "s" : ""}, ${
            cache === "0" ? "caching off" : "caching on"
          }, ${COMMIT_MS} ms commits`,
          partitions,
          verify: [],
          run: async ({ id, input, output }) => {
            const stateDirectory = path.join(options.scratch, id)
            const result = await java([
              "run",
              brokers,
              input,
              output,
              id,
              stateDirectory,
              String(COMMIT_MS),
              cache,
              String(words)
            ])
            fs.rmSync(stateDirectory, { recursive: true, force: true })
            return result.error === undefined
              ? { ...result, items: words, itemsPerSecond: words / (result.medianSeconds ?? 1) }
              : result
          }
        })
      }
    }

    const results = new Map<string, Array<CellResult>>()
    let runIndex = 0
    for (let round = 0; round < options.runs; round++) {
      for (const configuration of configurations) {
        const id = `bench-${Date.now()}-${runIndex++}`
        const topics = { id, input: `${id}-lines`, output: `${id}-counts` }
        const t = performance.now()
        const produced = await java(["produce", brokers, topics.input, String(configuration.partitions), linesFile])
        let result = produced.error === undefined ? await configuration.run(topics) : produced
        if (result.error === undefined) {
          const verified = await java(["verify", brokers, topics.output, linesFile, ...configuration.verify])
          result = verified.error === undefined
            ? { ...result, outputRecords: verified.outputRecords ?? 0 }
            : { error: `read_committed check: ${verified.error}` }
        }
        const done = results.get(configuration.config) ?? []
        done.push(result)
        results.set(configuration.config, done)
        log(
          `  ${configuration.config}: ${Report.summary(result)}${
            result.outputRecords === undefined
              ? ""
              : `; ${result.cpuSeconds?.toFixed(1)} CPU s; ${result.outputRecords} records out, checked`
          } (${((performance.now() - t) / 1000).toFixed(1)} s)`
        )
      }
    }
    const rows = configurations.map((configuration) =>
      row(configuration.config, configuration.label, medianRun(results.get(configuration.config) ?? []))
    )
    const find = (config: string) => rows.find((r) => r.config === config && r.result.error === undefined)?.result
    for (const partitions of [1, 4]) {
      const sluiceConfigs = [
        `sluice-kafka-p${partitions}-e${EPOCH_WORDS}`,
        `sluice-kafka-p${partitions}-e${EPOCH_WORDS}-latest`,
        `sluice-kafka-p${partitions}-t${COMMIT_MS}`
      ]
      for (const sluiceConfig of sluiceConfigs) {
        const sluice = find(sluiceConfig)
        for (const cache of ["nocache", "cache"]) {
          const streams = find(`kafka-streams-p${partitions}-${cache}`)
          if (sluice?.itemsPerSecond === undefined || streams?.itemsPerSecond === undefined) continue
          log(
            `  ${partitions} partition${partitions > 1 ? "s" : ""}, ${sluiceConfig} ÷ Kafka Streams (${cache}): ` +
              `${(sluice.itemsPerSecond / streams.itemsPerSecond).toFixed(2)}× words/s, ` +
              `${((sluice.cpuSeconds ?? 0) / (streams.cpuSeconds ?? 1)).toFixed(2)}× CPU s, ` +
              `${sluice.outputRecords} vs ${streams.outputRecords} records out, first commit ` +
              `${sluice.startupSeconds?.toFixed(2)} s vs ${streams.startupSeconds?.toFixed(2)} s`
          )
        }
      }
    }
    return rows
  } finally {
    await broker.stop()
  }
}
