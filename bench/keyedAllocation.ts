/**
 * Bytes allocated per word on the keyed path of the word count, next to the
 * time, for A/B comparisons of the per-item loop on a loaded machine: the
 * allocation does not depend on the load, the time does.
 *
 *   pnpm exec tsx bench/keyedAllocation.ts 1000000 4 pairs fused
 *
 * runs each variant in a child of its own (`--trace-gc-nvp --expose-gc`),
 * interleaved ABAB…, `rounds` times; each child runs the word count three
 * times on the memory store and reports its last run: the sum of V8's
 * `allocated=` between a full GC before and one after it, its wall time and
 * its CPU time (less disturbed by other processes than the wall time).
 *
 * Variants: `pairs` keys with a `map` to `[word, word]` (what `keyBy` did before
 * it could fuse), `fused` with `keyBy` (fused into the keyed step), `fold` a
 * `fold` instead of `statefulMap` (no `[next, emitted]` tuple from user code),
 * `epoch` `statefulMap` with `emit: "epoch"`.
 */
import { Dataflow, Input, RecoveryStore } from "@sluice/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Data from "./data.js"
import * as W from "./workloads.js"

type Variant = "pairs" | "fused" | "fold" | "epoch"
const MARK = "@@allocation"
const EPOCH_WORDS = 100_000

const flowOf = (variant: Variant, lines: ReadonlyArray<string>, counter: W.Counter) => {
  const dataflow = Dataflow.make("wordcount")
  const words = dataflow.pipe(
    Dataflow.input("lines", Input.fromIterable(lines)),
    Dataflow.flatMap("split", (line: string) => line.split(" "))
  )
  const keyed = variant === "pairs"
    ? words.pipe(Dataflow.map("key", (word) => [word, word] as const))
    : words.pipe(Dataflow.keyBy("key", (word) => word))
  const counted = variant === "fold"
    ? keyed.pipe(Dataflow.fold("count", { state: Schema.Number, init: () => 0, fold: (n, _w: string) => n + 1 }))
    : keyed.pipe(Dataflow.statefulMap("count", {
      state: Schema.Number,
      init: () => 0,
      step: (count: number, _word: string) => [count + 1, count + 1] as const,
      emit: variant === "epoch" ? "epoch" : "each"
    }))
  counted.pipe(Dataflow.output("out", W.countingOutput(counter)))
  return dataflow
}

interface Measured {
  readonly bytes: number
  readonly seconds: number
  readonly cpuSeconds: number
}

/** The child: three runs, the last one measured between two full GCs. */
const child = async (variant: Variant, words: number) => {
  const lines = Data.wordLines(words)
  const gc = (globalThis as { gc?: () => void }).gc!
  for (let run = 0; run < 3; run++) {
    const counter: W.Counter = { items: 0, firstAt: undefined }
    const flow = flowOf(variant, lines, counter)
    gc()
    process.stdout.write(`${MARK} start\n`)
    const startedAt = performance.now()
    const cpuAtStart = process.cpuUsage()
    await Effect.runPromise(
      Dataflow.run(flow, { epoch: W.wordEpoch(EPOCH_WORDS) }).pipe(Effect.provide(RecoveryStore.layerMemory()))
    )
    const cpu = process.cpuUsage(cpuAtStart)
    const seconds = (performance.now() - startedAt) / 1000
    gc()
    process.stdout.write(`${MARK} end ${seconds} ${(cpu.user + cpu.system) / 1e6}\n`)
  }
}

/** Sums `allocated=` of the GCs between the last start mark and the end mark after it. */
const allocatedInLastRun = (output: string): Measured => {
  const lines = output.split("\n")
  const start = lines.map((line) => line.startsWith(`${MARK} start`)).lastIndexOf(true)
  let bytes = 0
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith(`${MARK} end`)) {
      const [, , seconds, cpuSeconds] = line.split(" ")
      return { bytes, seconds: Number(seconds), cpuSeconds: Number(cpuSeconds) }
    }
    const allocated = /\ballocated=(\d+)/.exec(line)
    if (allocated !== null) bytes += Number(allocated[1])
  }
  throw new Error("the child printed no end mark")
}

/** Per word: bytes allocated, and the wall and CPU (all threads, GC included) time. */
const show = (words: number, { bytes, cpuSeconds, seconds }: Measured) =>
  `${(bytes / words).toFixed(1)} B/word, ${(words / seconds / 1e6).toFixed(2)} M words/s, ${
    (cpuSeconds * 1e9 / words).toFixed(0)
  } CPU ns/word`

const compare = (words: number, rounds: number, variants: ReadonlyArray<Variant>) => {
  const self = fileURLToPath(import.meta.url)
  const results = new Map<Variant, Array<Measured>>()
  for (let round = 0; round < rounds; round++) {
    for (const variant of variants) {
      const ran = spawnSync(
        process.execPath,
        ["--trace-gc-nvp", "--expose-gc", "--import", "tsx", self, "--child", variant, String(words)],
        { encoding: "utf8", maxBuffer: 1 << 30, cwd: path.dirname(path.dirname(self)) }
      )
      if (ran.status !== 0) throw new Error(`${variant}: ${ran.stderr}`)
      const result = allocatedInLastRun(ran.stdout)
      results.set(variant, [...(results.get(variant) ?? []), result])
      process.stdout.write(`${variant}: ${show(words, result)}\n`)
    }
  }
  const median = (values: Array<number>) => values.sort((a, b) => a - b)[values.length >> 1]
  for (const [variant, runs] of results) {
    const of = (field: keyof Measured) => median(runs.map((run) => run[field]))
    process.stdout.write(
      `median ${variant}: ${
        show(words, { bytes: of("bytes"), seconds: of("seconds"), cpuSeconds: of("cpuSeconds") })
      }\n`
    )
  }
}

const [first, ...rest] = process.argv.slice(2)
if (first === "--child") {
  await child(rest[0] as Variant, Number(rest[1]))
} else {
  await compare(Number(first ?? 1_000_000), Number(rest[0] ?? 4), rest.slice(1) as Array<Variant>)
}
