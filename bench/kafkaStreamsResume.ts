/**
 * Kafka Streams' side of the resume after kill -9 in `pnpm bench --peers --only=resume-kafka`
 * (issue 17): the word count of `bench/peers/kafka-streams/` (exactly_once_v2, RocksDB, its
 * defaults of 100 ms commits and record caching) on an input topic holding each of N distinct
 * keys once, the same keys as the Sluice side's (`Data.distinctLine`). A first JVM counts until
 * all N counts are committed and SIGKILLs itself; the runner then appends the same keys again, and
 * a second JVM on the same application id and state directory restores the count store from its
 * changelog (exactly_once_v2 wipes local state after an unclean stop) and commits new counts.
 * The figure is the second JVM's start to that first commit, as the Sluice side's is its process's
 * start to its first committed epoch; the changelog restore is reported beside it.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as Data from "./data.js"
import type { KafkaPeerOptions } from "./kafkaPeers.js"
import type { CellResult } from "./protocol.js"

export interface KafkaStreamsResumeOptions {
  readonly keys: number
  readonly brokers: ReadonlyArray<string>
  /** The peer's class path (`buildPeer` of bench/kafkaPeers.ts). */
  readonly classPath: string
  /** A fresh name for this run's topics, application id and state directory. */
  readonly id: string
  readonly scratch: string
  readonly timeoutMs: number
  readonly runChild: KafkaPeerOptions["runChild"]
}

/** One kill -9 and restart of Kafka Streams on `keys` keys: the restarted JVM's figures, or why it failed. */
export const kafkaStreamsResume = async (options: KafkaStreamsResumeOptions): Promise<CellResult> => {
  const { id, keys } = options
  const directory = path.join(options.scratch, id)
  fs.mkdirSync(directory, { recursive: true })
  try {
    const linesFile = path.join(directory, "keys.txt")
    const keyLines = Math.max(1, Math.floor(keys / Data.WORDS_PER_LINE))
    Data.writeWordLines(linesFile, Array.from({ length: keyLines }, (_, line) => Data.distinctLine(line)))
    const brokers = options.brokers.join(",")
    const input = `${id}-in`
    const java = (args: ReadonlyArray<string>) =>
      options.runChild(
        "java",
        ["-cp", options.classPath, "sluice.bench.KafkaStreamsWordCount", ...args],
        options.timeoutMs
      )
    const resume = (phase: "killed" | "restarted") =>
      java(["resume", brokers, input, `${id}-out`, id, path.join(directory, "state"), phase, String(keyLines * 10)])

    const first = await java(["produce", brokers, input, "1", linesFile])
    if (first.error !== undefined) return { error: `producing the keys: ${first.error}` }
    const killed = await resume("killed")
    if (killed.error?.startsWith("exited with SIGKILL") !== true) {
      return { error: `the killed Kafka Streams run: ${killed.error ?? "it was not killed"}` }
    }
    // the same keys again: after its restore, each count the restarted JVM commits is an update
    const again = await java(["produce", brokers, input, "1", linesFile])
    if (again.error !== undefined) return { error: `producing the keys again: ${again.error}` }
    const restarted = await resume("restarted")
    if (restarted.error !== undefined) return restarted
    if ((restarted.restoredRecords ?? 0) < keyLines * Data.WORDS_PER_LINE) {
      return {
        error: `Kafka Streams restored ${restarted.restoredRecords} records of ${
          keyLines * Data.WORDS_PER_LINE
        } keys: it did not start from its changelog`
      }
    }
    return restarted
  } finally {
    fs.rmSync(directory, { recursive: true, force: true })
  }
}
