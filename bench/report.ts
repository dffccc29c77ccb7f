/**
 * The table `pnpm bench` prints and the objects of `bench/results.json`.
 */
import type { CellResult, ReportedWorkload } from "./protocol.js"
import { SQLITE_TARGETS } from "./stores.js"

export interface Row {
  readonly workload: ReportedWorkload
  readonly config: string
  readonly label: string
  readonly result: CellResult
  /** The target of issue or design this row measures, printed next to the measurement. */
  readonly target?: string
}

/** One object of `bench/results.json`. */
export interface ResultEntry {
  readonly workload: ReportedWorkload
  readonly config: string
  readonly label: string
  readonly target?: string
  /** Resume: whether keys were read on first use (`restore: "lazy"` on a store with `readKeys`). */
  readonly lazy?: boolean
  readonly itemsPerSecond: number | null
  readonly peakRssBytes: number | null
  readonly storeBytes: number | null
  readonly ratioToLoop: number | null
  readonly ratioToBytewax?: number
  readonly medianSeconds?: number
  readonly samplesMs?: ReadonlyArray<number>
  /** Resume: process start to the first item processed. */
  readonly firstItemSeconds?: number
  readonly importSeconds?: number
  readonly openSeconds?: number
  /** Resume: the process's CPU time over `openSeconds`, and its RSS when the run started. */
  readonly openCpuSeconds?: number
  readonly rssAtStartBytes?: number
  /** SQLite rows: time over the memory store's at the same epoch size, minus 1. */
  readonly recoveryOverhead?: number
  /** Raw store rows: its time as a share of the Sluice SQLite run's at the same epoch size. */
  readonly storeShare?: number
  readonly rows?: number
  readonly epochs?: number
  /** Workers rows: start to the first commit, the rate after it, and the cores the process kept busy. */
  readonly startupSeconds?: number
  /** Workers rows: the cold (first) run's start, and the process's start, to its first commit. */
  readonly coldStartupSeconds?: number
  readonly coldFromProcessStartSeconds?: number
  readonly steadyItemsPerSecond?: number
  readonly cores?: number
  /** Kafka word count: CPU seconds, read_committed output records, and Sluice's words/s over Kafka Streams' (caching off). */
  readonly cpuSeconds?: number
  readonly outputRecords?: number
  readonly ratioToKafkaStreams?: number
  /** Kafka Streams' resume: changelog restore time and records. */
  readonly restoreSeconds?: number
  readonly restoredRecords?: number
  readonly error?: string
}

export const count = (n: number): string =>
  n >= 1_000_000 && n % 1_000_000 === 0 ? `${n / 1_000_000}M` : n >= 1_000 && n % 1_000 === 0 ? `${n / 1_000}k` : `${n}`

const rate = (n: number): string =>
  n >= 1e6 ? `${(n / 1e6).toFixed(n >= 1e8 ? 0 : 2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)} k` : n.toFixed(0)

const bytes = (n: number): string =>
  n >= 2 ** 30
    ? `${(n / 2 ** 30).toFixed(2)} GiB`
    : n >= 2 ** 20
    ? `${(n / 2 ** 20).toFixed(n >= 100 * 2 ** 20 ? 0 : 1)} MiB`
    : n >= 2 ** 10
    ? `${(n / 2 ** 10).toFixed(0)} KiB`
    : `${n} B`

const ratio = (n: number): string =>
  n >= 10 ? n.toFixed(0) : n >= 1 ? n.toFixed(1) : n >= 0.1 ? n.toFixed(2) : n.toFixed(3)

const percent = (n: number): string => `${n >= 0 ? "+" : ""}${(n * 100).toFixed(0)}%`

export const summary = (result: CellResult): string => {
  if (result.error !== undefined) return `error: ${result.error}`
  if (result.firstItemSeconds !== undefined) return `first item after ${result.firstItemSeconds.toFixed(2)} s`
  const workers = [
    result.startupSeconds === undefined ? undefined : `first commit at ${result.startupSeconds.toFixed(2)} s`,
    result.coldFromProcessStartSeconds === undefined || result.coldStartupSeconds === undefined
      ? undefined
      : `cold run's at ${result.coldStartupSeconds.toFixed(2)} s (${
        result.coldFromProcessStartSeconds.toFixed(2)
      } s from process start)`,
    result.steadyItemsPerSecond === undefined ? undefined : `${rate(result.steadyItemsPerSecond)} items/s after it`,
    result.cores === undefined ? undefined : `${result.cores.toFixed(2)} cores busy`
  ].filter((part) => part !== undefined)
  return `${rate(result.itemsPerSecond ?? 0)} items/s${workers.length === 0 ? "" : `; ${workers.join("; ")}`}`
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >>> 1
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/**
 * One row per configuration from rounds in which the configurations took
 * turns: the timed runs of every round together, and their median; an error
 * in any round is the row's.
 */
export const mergeRounds = (rounds: ReadonlyArray<Row>): Array<Row> => {
  const configs = [...new Set(rounds.map((row) => row.config))]
  return configs.map((config) => {
    const own = rounds.filter((row) => row.config === config)
    const failed = own.find((row) => row.result.error !== undefined)
    if (failed !== undefined || own.length === 1) return failed ?? own[0]
    const samplesMs = own.flatMap((row) => row.result.samplesMs ?? []).sort((a, b) => a - b)
    const medianSeconds = median(samplesMs) / 1000
    const items = own[0].result.items ?? 0
    const peaks = own.map((row) => row.result.peakRssBytes ?? 0)
    return {
      ...own[0],
      result: {
        ...own[own.length - 1].result,
        samplesMs,
        medianSeconds,
        itemsPerSecond: items / medianSeconds,
        peakRssBytes: Math.max(...peaks)
      }
    }
  })
}

/** The median resume of several processes; its parts come from the process nearest the median. */
export const medianResume = (resumes: ReadonlyArray<CellResult>, build: CellResult): CellResult => {
  if (build.error !== undefined) return { error: `build: ${build.error}` }
  if (resumes.length === 0) return { error: "no resume ran" }
  if (resumes[0].error !== undefined) return resumes[0]
  const firsts = resumes.map((r) => r.firstItemSeconds ?? 0)
  const middle = median(firsts)
  const nearest = resumes.reduce((best, r) =>
    Math.abs((r.firstItemSeconds ?? 0) - middle) < Math.abs((best.firstItemSeconds ?? 0) - middle) ? r : best
  )
  return {
    firstItemSeconds: middle,
    samplesMs: [...firsts].sort((a, b) => a - b).map((s) => s * 1000),
    ...(nearest.importSeconds === undefined ? {} : { importSeconds: nearest.importSeconds }),
    ...(nearest.openSeconds === undefined ? {} : { openSeconds: nearest.openSeconds }),
    ...(nearest.openCpuSeconds === undefined ? {} : { openCpuSeconds: nearest.openCpuSeconds }),
    ...(nearest.rssAtStartBytes === undefined ? {} : { rssAtStartBytes: nearest.rssAtStartBytes }),
    ...(nearest.resumeEpoch === undefined ? {} : { resumeEpoch: nearest.resumeEpoch }),
    ...(nearest.lazy === undefined ? {} : { lazy: nearest.lazy }),
    // an in-process resume reports none: its peak holds the build
    ...(resumes.some((r) => r.peakRssBytes !== undefined)
      ? { peakRssBytes: Math.max(...resumes.map((r) => r.peakRssBytes ?? 0)) }
      : {}),
    ...(build.storeBytes === undefined ? {} : { storeBytes: build.storeBytes })
  }
}

export const results = (rows: ReadonlyArray<Row>): Array<ResultEntry> => {
  const find = (workload: ReportedWorkload, config: string) =>
    rows.find((row) => row.workload === workload && row.config === config && row.result.error === undefined)?.result
  return rows.map((row): ResultEntry => {
    const { result } = row
    const loop = find(row.workload, "loop")
    const itemsPerSecond = result.firstItemSeconds === undefined ? result.itemsPerSecond ?? null : null
    const entry: {
      -readonly [K in keyof ResultEntry]: ResultEntry[K]
    } = {
      workload: row.workload,
      config: row.config,
      label: row.label,
      itemsPerSecond,
      peakRssBytes: result.peakRssBytes ?? null,
      storeBytes: result.storeBytes ?? null,
      ratioToLoop: itemsPerSecond !== null && loop?.itemsPerSecond !== undefined
        ? itemsPerSecond / loop.itemsPerSecond
        : null
    }
    const epochSuffix = /-e(\d+)$/.exec(row.config)?.[0] ?? ""
    if (row.config.startsWith("sluice-sqlite-e")) {
      const bytewax = find(row.workload, `bytewax-sqlite${epochSuffix}`)
      if (itemsPerSecond !== null && bytewax?.itemsPerSecond !== undefined) {
        entry.ratioToBytewax = itemsPerSecond / bytewax.itemsPerSecond
      }
      const memory = find(row.workload, `sluice-memory${epochSuffix}`)
      if (itemsPerSecond !== null && memory?.itemsPerSecond !== undefined) {
        entry.recoveryOverhead = memory.itemsPerSecond / itemsPerSecond - 1
      }
    }
    if (row.config.startsWith("raw-store-e")) {
      const sqlite = find(row.workload, `sluice-sqlite${epochSuffix}`)
      if (result.medianSeconds !== undefined && sqlite?.medianSeconds !== undefined) {
        entry.storeShare = result.medianSeconds / sqlite.medianSeconds
      }
    }
    const partitions = /^sluice-kafka-(p\d+)-/.exec(row.config)?.[1]
    if (partitions !== undefined) {
      const streams = find(row.workload, `kafka-streams-${partitions}-nocache`)
      if (itemsPerSecond !== null && streams?.itemsPerSecond !== undefined) {
        entry.ratioToKafkaStreams = itemsPerSecond / streams.itemsPerSecond
      }
    }
    if (row.target !== undefined) entry.target = row.target
    if (result.lazy !== undefined) entry.lazy = result.lazy
    if (result.cpuSeconds !== undefined) entry.cpuSeconds = result.cpuSeconds
    if (result.outputRecords !== undefined) entry.outputRecords = result.outputRecords
    if (result.restoreSeconds !== undefined) entry.restoreSeconds = result.restoreSeconds
    if (result.restoredRecords !== undefined) entry.restoredRecords = result.restoredRecords
    if (result.medianSeconds !== undefined) entry.medianSeconds = result.medianSeconds
    if (result.samplesMs !== undefined) entry.samplesMs = result.samplesMs
    if (result.firstItemSeconds !== undefined) entry.firstItemSeconds = result.firstItemSeconds
    if (result.importSeconds !== undefined) entry.importSeconds = result.importSeconds
    if (result.openSeconds !== undefined) entry.openSeconds = result.openSeconds
    if (result.openCpuSeconds !== undefined) entry.openCpuSeconds = result.openCpuSeconds
    if (result.rssAtStartBytes !== undefined) entry.rssAtStartBytes = result.rssAtStartBytes
    if (result.rows !== undefined) entry.rows = result.rows
    if (result.epochs !== undefined) entry.epochs = result.epochs
    if (result.startupSeconds !== undefined) entry.startupSeconds = result.startupSeconds
    if (result.coldStartupSeconds !== undefined) entry.coldStartupSeconds = result.coldStartupSeconds
    if (result.coldFromProcessStartSeconds !== undefined) {
      entry.coldFromProcessStartSeconds = result.coldFromProcessStartSeconds
    }
    if (result.steadyItemsPerSecond !== undefined) entry.steadyItemsPerSecond = result.steadyItemsPerSecond
    if (result.cores !== undefined) entry.cores = result.cores
    if (result.error !== undefined) entry.error = result.error
    return entry
  })
}

/**
 * The SQLite store's targets (issue #15) beside what this run measured, each
 * met or missed; at sizes other than the targets' (`--quick`), not judged:
 * a small run is mostly its fixed costs.
 */
const sqliteTargets = (entry: ResultEntry, judged: boolean): Array<string> => {
  const epochItems = /^sluice-sqlite-e(\d+)$/.exec(entry.config)?.[1]
  const targets = entry.workload === "wordcount" && epochItems !== undefined
    ? SQLITE_TARGETS.get(Number(epochItems))
    : undefined
  if (targets === undefined) return []
  const verdict = (met: boolean) => (!judged ? "(judged at full size only)" : met ? "met" : "missed")
  const parts: Array<string> = []
  if (entry.ratioToLoop !== null) {
    parts.push(
      `target ÷ loop ≥ ${targets.toLoop}: ${ratio(entry.ratioToLoop)} ${verdict(entry.ratioToLoop >= targets.toLoop)}`
    )
  }
  if (targets.toBytewax !== undefined && entry.ratioToBytewax !== undefined) {
    parts.push(
      `target ≥ ${targets.toBytewax}× bytewax: ${ratio(entry.ratioToBytewax)}× ${
        verdict(entry.ratioToBytewax >= targets.toBytewax)
      }`
    )
  }
  if (targets.overhead !== undefined && entry.recoveryOverhead !== undefined) {
    parts.push(
      `target overhead < ${percent(targets.overhead)}: ${percent(entry.recoveryOverhead)} ${
        verdict(entry.recoveryOverhead < targets.overhead)
      }`
    )
  }
  return parts
}

const notes = (entry: ResultEntry, targetsJudged: boolean): string => {
  if (entry.error !== undefined) return `error: ${entry.error}`
  const parts: Array<string> = []
  if (entry.firstItemSeconds !== undefined && entry.importSeconds !== undefined && entry.openSeconds !== undefined) {
    parts.push(
      `node + imports ${entry.importSeconds.toFixed(2)} s, run to first item ${entry.openSeconds.toFixed(2)} s`
    )
  }
  if (entry.openCpuSeconds !== undefined) parts.push(`the run's CPU ${entry.openCpuSeconds.toFixed(2)} s`)
  if (entry.rssAtStartBytes !== undefined) parts.push(`RSS ${bytes(entry.rssAtStartBytes)} before the run`)
  if (entry.firstItemSeconds !== undefined && entry.medianSeconds !== undefined) {
    parts.push(`ran to the end in ${entry.medianSeconds.toFixed(1)} s`)
  }
  if (entry.lazy === false && entry.config.includes("lazy")) parts.push("the store has no readKeys: restored eagerly")
  if (entry.target !== undefined) parts.push(`target ${entry.target}`)
  if (entry.recoveryOverhead !== undefined) parts.push(`recovery overhead ${percent(entry.recoveryOverhead)} vs memory`)
  parts.push(...sqliteTargets(entry, targetsJudged))
  if (entry.storeShare !== undefined) {
    parts.push(`${(entry.storeShare * 100).toFixed(0)}% of the sluice sqlite run's time`)
  }
  if (entry.rows !== undefined && entry.epochs !== undefined) {
    parts.push(`${entry.rows.toLocaleString("en")} rows in ${entry.epochs} epochs`)
  }
  if (entry.startupSeconds !== undefined) parts.push(`first commit at ${entry.startupSeconds.toFixed(2)} s`)
  if (entry.steadyItemsPerSecond !== undefined) parts.push(`${rate(entry.steadyItemsPerSecond)} items/s after it`)
  if (entry.cores !== undefined) parts.push(`${entry.cores.toFixed(2)} cores busy`)
  if (entry.cpuSeconds !== undefined) parts.push(`${entry.cpuSeconds.toFixed(1)} CPU s`)
  if (entry.outputRecords !== undefined) {
    parts.push(`${entry.outputRecords.toLocaleString("en")} records out (read_committed, counts checked)`)
  }
  if (entry.restoreSeconds !== undefined && entry.restoredRecords !== undefined) {
    parts.push(
      `changelog restore ${entry.restoreSeconds.toFixed(2)} s (${entry.restoredRecords.toLocaleString("en")} records)`
    )
  }
  if (entry.ratioToKafkaStreams !== undefined) {
    parts.push(`${ratio(entry.ratioToKafkaStreams)}× Kafka Streams (caching off)`)
  }
  return parts.join("; ")
}

export const table = (
  rows: ReadonlyArray<Row>,
  entries: ReadonlyArray<ResultEntry>,
  header: {
    readonly title: string
    readonly machine: string
    readonly sizes: string
    readonly seconds: number
    /** Whether the run's sizes are the targets' (not `--quick`): only then are targets met or missed. */
    readonly targetsJudged: boolean
  }
): string => {
  const head = ["workload", "configuration", "items/s", "peak RSS", "store", "÷ loop", "sluice ÷ bytewax", "notes"]
  const body = entries.map((entry, i) => [
    i === 0 || rows[i - 1].workload !== entry.workload ? entry.workload : "",
    entry.label,
    entry.error !== undefined
      ? "—"
      : entry.firstItemSeconds !== undefined
      ? `${entry.firstItemSeconds.toFixed(2)} s to 1st item`
      : entry.itemsPerSecond === null
      ? "—"
      : rate(entry.itemsPerSecond),
    entry.peakRssBytes === null ? "—" : bytes(entry.peakRssBytes),
    entry.storeBytes === null ? "—" : bytes(entry.storeBytes),
    entry.ratioToLoop === null || entry.config === "loop" ? "" : ratio(entry.ratioToLoop),
    entry.ratioToBytewax === undefined ? "" : `${ratio(entry.ratioToBytewax)}×`,
    notes(entry, header.targetsJudged)
  ])
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((r) => r[c].length)))
  const numeric = new Set([2, 3, 4, 5, 6])
  const line = (cells: ReadonlyArray<string>) =>
    `| ${cells.map((cell, c) => numeric.has(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c])).join(" | ")} |`
  const rule = `|${widths.map((w, c) => numeric.has(c) ? `${"-".repeat(w + 1)}:` : "-".repeat(w + 2)).join("|")}|`
  return [
    "",
    `${header.title} — ${header.machine}`,
    `${header.sizes}; ${header.seconds.toFixed(0)} s in all`,
    "",
    line(head),
    rule,
    ...body.map(line),
    ""
  ].join("\n")
}
