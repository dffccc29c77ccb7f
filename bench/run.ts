/**
 * `pnpm bench`: the workloads of shared/design/BENCHMARKS.md, their baselines
 * in the same run, one table, and `bench/results.json`.
 *
 *   pnpm bench                 # full sizes (about 3 minutes here; 8-10 with --peers)
 *   pnpm bench --quick         # small sizes, for CI (40-50 s)
 *   pnpm bench --peers         # also bytewax (a throwaway virtualenv) and Kafka Streams (built with Maven)
 *   pnpm bench --only=wordcount,resume --out=/tmp/results.json --keep
 *   pnpm bench --peers --only=wordcount-kafka   # only the Kafka → Kafka word count, Sluice and Kafka Streams
 *   pnpm bench --peers --only=resume-kafka      # only the Kafka store's resume after kill -9, against SQLite's and Kafka Streams'
 *
 * `--rounds=N` sets the alternated rounds of the two Kafka cells (3 at full size, 1 with
 * `--quick`): one full-size round of `wordcount-kafka` takes about half an hour here.
 *
 * `--keep` leaves the scratch directory (stores, peer inputs) in the temp dir;
 * `SLUICE_BENCH_BYTEWAX_VENV=dir` reuses a virtualenv that has the pinned bytewax.
 *
 * Every configuration runs in a child process of its own (`bench/child.ts`,
 * or `bench/peers/bytewax_bench.py`), one at a time, so each has its own peak
 * RSS and none disturbs another. Benchmarks report, they never fail: a
 * configuration that errors prints its error in its row, and the exit code is 0.
 */
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as CompiledChild from "./compiledChild.js"
import * as Data from "./data.js"
import * as KafkaPeers from "./kafkaPeers.js"
import * as KafkaResume from "./kafkaResume.js"
import { type CellResult, type CellSpec, type ReportedWorkload, RESULT_MARK, type WorkloadName } from "./protocol.js"
import * as Report from "./report.js"
import * as W from "./workloads.js"

const BYTEWAX_VERSION = "0.21.1"

const benchDirectory = path.dirname(fileURLToPath(import.meta.url))
const repository = path.dirname(benchDirectory)

interface Options {
  readonly quick: boolean
  readonly peers: boolean
  readonly only: ReadonlySet<ReportedWorkload | "workers"> | undefined
  readonly output: string
  readonly keep: boolean
  /** Rounds of the Kafka cells, when `--rounds=N` sets them. */
  readonly rounds: number | undefined
}

const parseOptions = (argv: ReadonlyArray<string>): Options => {
  let only: Set<ReportedWorkload | "workers"> | undefined
  let output = path.join(benchDirectory, "results.json")
  let rounds: number | undefined
  for (const arg of argv) {
    // --only=workers runs only the worker-thread cells of the word count
    if (arg.startsWith("--only=")) {
      only = new Set(arg.slice("--only=".length).split(",") as Array<ReportedWorkload | "workers">)
    }
    if (arg.startsWith("--out=")) output = path.resolve(arg.slice("--out=".length))
    if (arg.startsWith("--rounds=")) {
      rounds = Number(arg.slice("--rounds=".length))
      if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds wants a whole number ≥ 1, not ${arg}`)
    }
  }
  return {
    quick: argv.includes("--quick"),
    peers: argv.includes("--peers"),
    only,
    output,
    keep: argv.includes("--keep"),
    rounds
  }
}

/** Sizes of BENCHMARKS.md, and the small ones of `--quick`. */
const sizesOf = (quick: boolean) =>
  quick
    ? {
      wordcount: 200_000,
      windowed: 200_000,
      resume: 100_000,
      largeState: { items: 200_000, keys: 100_000, killAt: 150_000 },
      stateless: 1_000_000,
      join: 40_000
    }
    : {
      wordcount: 2_000_000,
      windowed: 1_000_000,
      resume: 1_000_000,
      largeState: { items: 20_000_000, keys: 10_000_000, killAt: 15_000_000 },
      stateless: 10_000_000,
      join: 2_000_000
    }

const WORD_EPOCHS = [10_000, 100_000] as const
const WINDOWED_EPOCH = 100_000
const RESUME_EPOCH = 100_000
const STATELESS_EPOCH = 100_000
/** Epochs far smaller than the state: 100k items against 10M keys. */
const LARGE_STATE_EPOCH = 100_000
/** Memory-store resumes build their store in the process first: fewer of them. */
const IN_PROCESS_RESUMES = 3
const WARMUP = 1
const ITERATIONS = 5
const JOIN_EPOCH = 100_000
/** The workers cells that time the start: an epoch a tenth of each worker's --quick input. */
const STARTUP_EPOCH = 10_000
/**
 * The join's configurations take turns this many times, one cold timed run
 * each (a run of 2M items is long enough to warm itself up), so load drift
 * hits them alike.
 */
const JOIN_ROUNDS = 3
/** Rounds of the word count's cells at full size, and timed runs per cell in each (after one warm-up). */
const WORD_ROUNDS = 3
const WORD_ITERATIONS = 2

const log = (line: string) => process.stderr.write(`${line}\n`)

/** Runs one child and returns the result it printed, or what went wrong. */
const runChild = (
  command: string,
  args: ReadonlyArray<string>,
  timeoutMs: number,
  env?: NodeJS.ProcessEnv
): Promise<CellResult> =>
  new Promise((resolve) => {
    const child = spawn(command, args, { cwd: repository, env: env ?? process.env, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (data) => (stdout += data))
    child.stderr.on("data", (data) => (stderr = (stderr + data).slice(-4000)))
    // a child may SIGKILL itself (the large-state workload's kill -9): only our own kill is a timeout
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill("SIGKILL")
    }, timeoutMs)
    child.on("error", (error) => {
      clearTimeout(timer)
      resolve({ error: `could not start ${command}: ${error.message}` })
    })
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      const line = stdout.split("\n").find((l) => l.startsWith(RESULT_MARK))
      if (line !== undefined) return resolve(JSON.parse(line.slice(RESULT_MARK.length)) as CellResult)
      const last = stderr.trim().split("\n").slice(-1)[0] ?? ""
      resolve({
        error: timedOut
          ? `timed out after ${Math.round(timeoutMs / 1000)} s`
          : `exited with ${signal ?? code}${last ? `: ${last}` : ""}`
      })
    })
  })

const runNodeCell = (spec: CellSpec, timeoutMs: number) =>
  runChild(
    process.execPath,
    spec.builtPackages === true
      // the packages' dist/ and this child compiled, with plain node, as an installed app runs
      ? CompiledChild.nodeArguments("child", JSON.stringify(spec))
      : ["--import", "tsx", path.join(benchDirectory, "child.ts"), JSON.stringify(spec)],
    timeoutMs
  )

/** Installs bytewax into a throwaway virtualenv; returns its python, or why not. */
const installBytewax = (scratch: string): { python: string } | { error: string } => {
  const reuse = process.env.SLUICE_BENCH_BYTEWAX_VENV || undefined
  const venv = reuse ?? path.join(scratch, "bytewax-venv")
  const python = path.join(venv, "bin", "python")
  const installed = () =>
    spawnSync(python, ["-c", "import importlib.metadata as m; print(m.version('bytewax'))"], { encoding: "utf8" })
      .stdout?.trim()
  if (reuse !== undefined && installed() === BYTEWAX_VERSION) return { python }
  log(`installing bytewax ${BYTEWAX_VERSION} into ${venv}`)
  const made = spawnSync("python3", ["-m", "venv", venv], { encoding: "utf8" })
  if (made.status !== 0) return { error: `python3 -m venv failed: ${(made.stderr ?? "").trim().split("\n").pop()}` }
  const pip = spawnSync(python, [
    "-m",
    "pip",
    "install",
    "--quiet",
    "--disable-pip-version-check",
    `bytewax==${BYTEWAX_VERSION}`
  ], {
    encoding: "utf8",
    timeout: 300_000
  })
  if (pip.status !== 0) {
    return { error: `pip install bytewax==${BYTEWAX_VERSION} failed: ${(pip.stderr ?? "").trim().split("\n").pop()}` }
  }
  const version = installed()
  return version === BYTEWAX_VERSION ? { python } : { error: `bytewax ${version ?? "missing"} after install` }
}

const machine = () => ({
  cpu: os.cpus()[0]?.model ?? "unknown",
  cores: os.cpus().length,
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  platform: `${os.type()} ${os.release()}`,
  loadAverage: os.loadavg().map((l) => l.toFixed(2)).join(" ")
})

const main = async () => {
  const options = parseOptions(process.argv.slice(2))
  const sizes = sizesOf(options.quick)
  const wanted = (workload: ReportedWorkload | "workers") => options.only === undefined || options.only.has(workload)
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-bench-"))
  const cellTimeout = options.quick ? 120_000 : 900_000
  const rows: Array<Report.Row> = []
  const started = performance.now()
  const host = machine()
  log(
    `sluice bench${options.quick ? " --quick" : ""}${options.peers ? " --peers" : ""}: ` +
      `${host.cpu}, ${host.cores} cores, ${host.memoryGiB} GiB, node ${host.node}, load ${host.loadAverage}`
  )

  let cellIndex = 0
  const cell = async (
    row: Omit<Report.Row, "result"> & { readonly workload: WorkloadName },
    spec: Omit<CellSpec, "workload" | "config" | "directory" | "warmup" | "iterations"> & {
      readonly warmup?: number
      readonly iterations?: number
    }
  ): Promise<CellResult> => {
    const directory = path.join(scratch, `cell-${cellIndex++}`)
    const t = performance.now()
    const result = await runNodeCell({
      workload: row.workload,
      config: row.config,
      warmup: WARMUP,
      iterations: ITERATIONS,
      directory,
      ...spec
    }, cellTimeout)
    if (!options.keep) fs.rmSync(directory, { recursive: true, force: true })
    rows.push({ ...row, result })
    log(`  ${row.workload} ${row.config}: ${Report.summary(result)} (${((performance.now() - t) / 1000).toFixed(1)} s)`)
    return result
  }

  let bytewax: { python: string } | { error: string } | undefined
  const peerInputs = path.join(scratch, "peer-inputs")
  // bytewax runs only in these two workloads
  if (options.peers && (wanted("wordcount") || wanted("windowed"))) {
    bytewax = installBytewax(scratch)
    fs.mkdirSync(peerInputs, { recursive: true })
  }
  const bytewaxCell = async (
    row: Omit<Report.Row, "result"> & { readonly workload: WorkloadName },
    args: {
      input: string
      items: number
      epochItems: number
      expected: number
      warmup?: number
      iterations?: number
    }
  ) => {
    const t = performance.now()
    let result: CellResult
    if (bytewax === undefined) return
    if ("error" in bytewax) result = { error: bytewax.error }
    else {
      const dbDir = path.join(scratch, `cell-${cellIndex++}`)
      result = await runChild(bytewax.python, [
        path.join(benchDirectory, "peers", "bytewax_bench.py"),
        row.workload,
        "--input",
        args.input,
        "--items",
        String(args.items),
        "--epoch-items",
        String(args.epochItems),
        "--expected",
        String(args.expected),
        "--db-dir",
        dbDir,
        "--warmup",
        String(args.warmup ?? WARMUP),
        "--iterations",
        String(args.iterations ?? ITERATIONS)
      ], options.quick ? cellTimeout : 1_800_000)
      if (!options.keep) fs.rmSync(dbDir, { recursive: true, force: true })
    }
    rows.push({ ...row, result })
    log(`  ${row.workload} ${row.config}: ${Report.summary(result)} (${((performance.now() - t) / 1000).toFixed(1)} s)`)
  }

  if (wanted("wordcount")) {
    const size = sizes.wordcount
    log(`wordcount: ${size.toLocaleString("en")} words, vocabulary ${Data.VOCABULARY_SIZE.toLocaleString("en")}`)
    let peerInput: { file: string; expected: number } | undefined
    if (bytewax !== undefined) {
      const lines = Data.wordLines(size)
      peerInput = { file: path.join(peerInputs, "words.txt"), expected: W.wordcountLoop(lines) }
      Data.writeWordLines(peerInput.file, lines)
    }
    // The configurations a ratio compares run next to each other, in rounds that alternate their order: the
    // host's speed drifts by ±40% over minutes (bench/RESULTS.md, "A quiet, faster host"), and one run of each
    // after the other read that drift as a recovery overhead.
    const rounds = options.quick ? 1 : WORD_ROUNDS
    const runs = options.quick ? {} : { warmup: WARMUP, iterations: WORD_ITERATIONS }
    const first = rows.length
    for (let round = 0; round < rounds; round++) {
      if (rounds > 1) log(` round ${round + 1} of ${rounds}`)
      await cell({ workload: "wordcount", config: "loop", label: "hand-written loop" }, { kind: "loop", size, ...runs })
      for (const epochItems of WORD_EPOCHS) {
        const epochs = `${Report.count(epochItems)} epochs`
        const stores = round % 2 === 0 ? ["memory", "sqlite"] as const : ["sqlite", "memory"] as const
        for (const store of stores) {
          await cell(
            { workload: "wordcount", config: `sluice-${store}-e${epochItems}`, label: `sluice ${store}, ${epochs}` },
            { kind: "sluice", store, epochItems, size, ...runs }
          )
        }
        await cell(
          { workload: "wordcount", config: `raw-store-e${epochItems}`, label: `raw store, ${epochs}` },
          { kind: "raw-store", store: "sqlite", epochItems, size, ...runs }
        )
      }
    }
    rows.push(...Report.mergeRounds(rows.splice(first)))
    // bytewax once (a 2M-word cell takes minutes), each after its epoch size's rows
    if (peerInput !== undefined) {
      for (const epochItems of WORD_EPOCHS) {
        await bytewaxCell(
          {
            workload: "wordcount",
            config: `bytewax-sqlite-e${epochItems}`,
            label: `bytewax ${BYTEWAX_VERSION} sqlite, ${Report.count(epochItems)} epochs`
          },
          {
            input: peerInput.file,
            items: size,
            epochItems: epochItems / Data.WORDS_PER_LINE,
            expected: peerInput.expected
          }
        )
        const bytewaxRow = rows.pop()!
        const after = rows.findIndex((row) => row.config === `raw-store-e${epochItems}`)
        rows.splice(after + 1, 0, bytewaxRow)
      }
    }
  }

  if (wanted("wordcount") || wanted("workers")) {
    // Issue 6: the same word count as a module, on 1 and then 2 worker threads (8 partitions).
    const size = sizes.wordcount
    const one = await cell(
      {
        workload: "wordcount",
        config: "sluice-memory-e100000-workers1",
        label: "sluice memory, 100k epochs, 1 worker"
      },
      { kind: "workers", store: "memory", epochItems: 100_000, workers: 1, size }
    )
    const two = await cell(
      {
        workload: "wordcount",
        config: "sluice-memory-e100000-workers2",
        label: "sluice memory, 100k epochs, 2 workers"
      },
      { kind: "workers", store: "memory", epochItems: 100_000, workers: 2, size }
    )
    // threads that load the built library instead of compiling its TypeScript sources at start
    // and a flow module compiled to JavaScript, as an installed app's threads would load
    const built = CompiledChild.build()
    if ("ok" in built) {
      // At --quick sizes a 100k-word epoch is each worker's whole input: its first
      // commit times the whole run's cold code, not the start. Kept for
      // comparison with earlier sessions; the 10k-word cells time the start.
      const twoBuilt = await cell(
        {
          workload: "wordcount",
          config: "sluice-memory-e100000-workers2-built",
          label: "sluice memory, 100k epochs, 2 workers, built packages"
        },
        { kind: "workers", store: "memory", epochItems: 100_000, workers: 2, size, builtPackages: true }
      )
      if (two.startupSeconds !== undefined && twoBuilt.startupSeconds !== undefined) {
        log(
          `  2 workers, first commit: ${two.startupSeconds.toFixed(2)} s from sources, ` +
            `${twoBuilt.startupSeconds.toFixed(2)} s from built packages (100k-word epochs)`
        )
      }
      for (const threads of ["per-run", "prestarted"] as const) {
        const startup = await cell(
          {
            workload: "wordcount",
            config: `sluice-memory-e${STARTUP_EPOCH}-workers2-built-${threads}`,
            label: `sluice memory, ${Report.count(STARTUP_EPOCH)} epochs, 2 workers, built packages, ${
              threads === "prestarted" ? "prestarted threads (layerPool)" : "threads per run (layer)"
            }`
          },
          {
            kind: "workers",
            store: "memory",
            epochItems: STARTUP_EPOCH,
            workers: 2,
            size,
            builtPackages: true,
            threads
          }
        )
        if (startup.coldStartupSeconds !== undefined && startup.coldFromProcessStartSeconds !== undefined) {
          log(
            `  2 workers, ${threads} threads, cold run's first commit: ${startup.coldStartupSeconds.toFixed(2)} s ` +
              `after its start, ${startup.coldFromProcessStartSeconds.toFixed(2)} s after the process's (target < 1 s)`
          )
        }
      }
    } else {
      log(`  2 workers from built packages: not run, ${built.error}`)
    }
    if (one.itemsPerSecond !== undefined && two.itemsPerSecond !== undefined) {
      const steady = one.steadyItemsPerSecond !== undefined && two.steadyItemsPerSecond !== undefined
        ? `, after the first commit ${(two.steadyItemsPerSecond / one.steadyItemsPerSecond).toFixed(2)}×`
        : ""
      log(
        `  2 workers ÷ 1 worker: ${
          (two.itemsPerSecond / one.itemsPerSecond).toFixed(2)
        }× whole run${steady} (target 1.7×)`
      )
      // one worker already keeps more than one core busy (V8's GC threads): that bounds what two can gain here
      if (one.cores !== undefined) {
        log(`  ceiling on ${os.cpus().length} cores: ${(os.cpus().length / one.cores).toFixed(2)}×`)
      }
    }
  }

  if (wanted("windowed")) {
    const size = sizes.windowed
    log(
      `windowed: ${size.toLocaleString("en")} events, ${Data.USERS.toLocaleString("en")} users, 10 s tumbling windows`
    )
    await cell({ workload: "windowed", config: "loop", label: "hand-written loop" }, { kind: "loop", size })
    const epochLabel = `${Report.count(WINDOWED_EPOCH)} epochs`
    await cell(
      { workload: "windowed", config: `sluice-sqlite-e${WINDOWED_EPOCH}`, label: `sluice sqlite, ${epochLabel}` },
      { kind: "sluice", store: "sqlite", epochItems: WINDOWED_EPOCH, size }
    )
    await cell(
      { workload: "windowed", config: `raw-store-e${WINDOWED_EPOCH}`, label: `raw store, ${epochLabel}` },
      { kind: "raw-store", store: "sqlite", epochItems: WINDOWED_EPOCH, size }
    )
    if (bytewax !== undefined) {
      const events = Data.events(size)
      const input = path.join(peerInputs, "events.csv")
      Data.writeEvents(input, events)
      await bytewaxCell(
        {
          workload: "windowed",
          config: `bytewax-sqlite-e${WINDOWED_EPOCH}`,
          label: `bytewax ${BYTEWAX_VERSION} sqlite, ${epochLabel}`
        },
        { input, items: size, epochItems: WINDOWED_EPOCH, expected: W.windowedLoop(events) }
      )
    }
  }

  if (wanted("resume")) {
    const size = sizes.resume
    log(`resume: ${size.toLocaleString("en")} live keys in the SQLite store`)
    // Resumes are timed from the process's start and their peak RSS is read: they run as an installed
    // app does (built packages, this child compiled, no TypeScript loader in the figures).
    const builtPackages = "ok" in CompiledChild.build()
    const built = path.join(scratch, "resume-store")
    const buildResult = await runNodeCell({
      workload: "resume",
      config: "sluice-sqlite-build",
      kind: "resume-build",
      store: "sqlite",
      builtPackages,
      epochItems: RESUME_EPOCH,
      size,
      warmup: 0,
      iterations: 1,
      directory: built
    }, cellTimeout)
    rows.push({
      workload: "resume",
      config: "sluice-sqlite-build",
      label: `sluice sqlite, build ${Report.count(size)} keys`,
      result: buildResult
    })
    log(`  resume build: ${Report.summary(buildResult)}`)
    // Each resume starts from the same store: a copy of the built one.
    const resumeCells = async (restore: "eager" | "lazy"): Promise<CellResult> => {
      const resumes: Array<CellResult> = []
      if (buildResult.error !== undefined) return Report.medianResume(resumes, buildResult)
      for (let attempt = 0; attempt < WARMUP + ITERATIONS; attempt++) {
        const directory = path.join(scratch, `resume-${restore}-${attempt}`)
        fs.cpSync(built, directory, { recursive: true })
        const result = await runNodeCell({
          workload: "resume",
          config: restore === "lazy" ? "sluice-sqlite-lazy" : "sluice-sqlite",
          kind: "resume",
          store: "sqlite",
          builtPackages,
          restore,
          epochItems: RESUME_EPOCH,
          size,
          warmup: 0,
          iterations: 1,
          directory
        }, cellTimeout)
        fs.rmSync(directory, { recursive: true, force: true })
        if (result.error !== undefined) return Report.medianResume([result], buildResult)
        if (attempt >= WARMUP) resumes.push(result)
      }
      return Report.medianResume(resumes, buildResult)
    }
    const eager = await resumeCells("eager")
    rows.push({
      workload: "resume",
      config: "sluice-sqlite",
      label: `sluice sqlite, resume ${Report.count(size)} keys`,
      result: eager,
      target: `< 1.5 s to the first item at 1M keys`
    })
    log(`  resume: ${Report.summary(eager)}`)
    const lazy = await resumeCells("lazy")
    rows.push({
      workload: "resume",
      config: "sluice-sqlite-lazy",
      label: `sluice sqlite, lazy resume ${Report.count(size)} keys`,
      result: lazy,
      target: `< 0.3 s to the first item at 1M keys, peak RSS < half of eager (${
        eager.peakRssBytes === undefined || lazy.peakRssBytes === undefined
          ? "—"
          : `${Math.round((lazy.peakRssBytes / eager.peakRssBytes) * 100)}% here`
      })`
    })
    log(`  lazy resume: ${Report.summary(lazy)}`)
    // The memory store lives in its process: build and resume in one, timed from Dataflow.run to the first item.
    for (const restore of ["eager", "lazy"] as const) {
      const inProcess: Array<CellResult> = []
      for (let attempt = 0; attempt < IN_PROCESS_RESUMES; attempt++) {
        const result = await runNodeCell({
          workload: "resume",
          config: `sluice-memory-${restore}`,
          kind: "resume-in-process",
          store: "memory",
          builtPackages,
          restore,
          epochItems: RESUME_EPOCH,
          size,
          warmup: 0,
          iterations: 1,
          directory: path.join(scratch, `resume-memory-${restore}`)
        }, cellTimeout)
        inProcess.push(result)
        if (result.error !== undefined) break
      }
      const failed = inProcess.find((r) => r.error !== undefined)
      const result = Report.medianResume(failed === undefined ? inProcess : [failed], {})
      rows.push({
        workload: "resume",
        config: `sluice-memory-${restore}`,
        label: `sluice memory, ${restore === "lazy" ? "lazy " : ""}resume ${Report.count(size)} keys (run to 1st item)`,
        result,
        ...(restore === "lazy" ? { target: "< 0.3 s at 1M keys (run only: no node start)" } : {})
      })
      log(`  memory ${restore} resume: ${Report.summary(result)}`)
    }
    if (!options.keep) fs.rmSync(built, { recursive: true, force: true })
  }

  if (wanted("large-state")) {
    const { items, keys, killAt } = sizes.largeState
    log(
      `large-state: ${Report.count(keys)} distinct keys over ${Report.count(items)} items, SQLite, lazy restore; ` +
        `kill -9 at ${Report.count(killAt)}`
    )
    const directory = path.join(scratch, "large-state")
    const cell = {
      workload: "large-state" as const,
      // its resume is timed from the process's start: run as an installed app runs (see the resume cells)
      builtPackages: "ok" in CompiledChild.build(),
      store: "sqlite" as const,
      restore: "lazy" as const,
      epochItems: LARGE_STATE_EPOCH,
      size: items,
      keys,
      killAt,
      warmup: 0,
      iterations: 1,
      directory
    }
    const timeoutMs = options.quick ? cellTimeout : 3_600_000
    const killed = await runNodeCell(
      { ...cell, config: "sluice-sqlite-lazy-killed", kind: "large-state-killed" },
      timeoutMs
    )
    const wasKilled = killed.error?.startsWith("exited with SIGKILL") === true
    log(`  killed run: ${wasKilled ? "SIGKILL as planned" : Report.summary(killed)}`)
    const resumed = wasKilled
      ? await runNodeCell({ ...cell, config: "sluice-sqlite-lazy", kind: "large-state-resume" }, timeoutMs)
      : { error: `the killed run: ${killed.error ?? "it was not killed"}` }
    rows.push({
      workload: "large-state",
      config: "sluice-sqlite-lazy",
      label: `sluice sqlite, lazy resume after kill -9 at ${Report.count(killAt)} of ${Report.count(items)} items`,
      result: resumed,
      target: "finishes, < 1 s to the first item after the resume"
    })
    log(`  resume to the end: ${Report.summary(resumed)}`)
    if (!options.keep) fs.rmSync(directory, { recursive: true, force: true })
  }

  if (wanted("stateless")) {
    const size = sizes.stateless
    log(`stateless: ${size.toLocaleString("en")} numbers`)
    await cell({ workload: "stateless", config: "loop", label: "hand-written loop" }, { kind: "loop", size })
    await cell(
      {
        workload: "stateless",
        config: `sluice-memory-e${STATELESS_EPOCH}`,
        label: `sluice memory, ${Report.count(STATELESS_EPOCH)} epochs`
      },
      { kind: "sluice", store: "memory", epochItems: STATELESS_EPOCH, size }
    )
  }

  if (wanted("join")) {
    const size = sizes.join
    const pairs = Data.ordersAndPayments(size / 2)
    log(`join: ${Report.count(size / 2)} orders ⋈ ${Report.count(size / 2)} payments by order id`)
    let peerInput: string | undefined
    if (bytewax !== undefined) {
      peerInput = path.join(peerInputs, "orders-payments.csv")
      Data.writeOrdersAndPayments(peerInput, pairs)
    }
    const epochLabel = `${Report.count(JOIN_EPOCH)} epochs`
    const rounds = options.quick ? 1 : JOIN_ROUNDS
    const runs = options.quick ? { warmup: WARMUP, iterations: ITERATIONS } : { warmup: 0, iterations: 1 }
    const first = rows.length
    for (let round = 0; round < rounds; round++) {
      if (rounds > 1) log(` round ${round + 1} of ${rounds}`)
      await cell({ workload: "join", config: "loop", label: "hand-written loop" }, { kind: "loop", size, ...runs })
      // --quick runs in `pnpm test`: the SQLite cell alone shows the join works end to end
      for (const store of options.quick ? ["sqlite" as const] : ["memory", "sqlite"] as const) {
        await cell(
          { workload: "join", config: `sluice-${store}-e${JOIN_EPOCH}`, label: `sluice ${store}, ${epochLabel}` },
          { kind: "sluice", store, epochItems: JOIN_EPOCH, size, ...runs }
        )
      }
      if (peerInput !== undefined) {
        await bytewaxCell(
          {
            workload: "join",
            config: `bytewax-sqlite-e${JOIN_EPOCH}`,
            label: `bytewax ${BYTEWAX_VERSION} sqlite, ${epochLabel}`
          },
          // two inputs, each a batch per epoch: half the epoch each
          { input: peerInput, items: size, epochItems: JOIN_EPOCH / 2, expected: W.joinLoop(pairs), ...runs }
        )
      }
    }
    rows.push(...Report.mergeRounds(rows.splice(first)))
  }

  if (options.peers && wanted("wordcount-kafka")) {
    rows.push(
      ...await KafkaPeers.kafkaWordcount({
        words: sizes.wordcount,
        runs: options.rounds ?? (options.quick ? 1 : 3),
        scratch,
        timeoutMs: cellTimeout,
        log,
        runChild
      })
    )
  }

  if (options.peers && wanted("resume-kafka")) {
    rows.push(
      ...await KafkaResume.kafkaResume({
        keys: sizes.resume,
        runs: options.rounds ?? (options.quick ? 1 : 3),
        scratch,
        timeoutMs: options.quick ? cellTimeout : 3_600_000,
        log,
        runChild
      })
    )
  }

  if (!options.keep) fs.rmSync(scratch, { recursive: true, force: true })
  const results = Report.results(rows)
  fs.writeFileSync(options.output, JSON.stringify(results, null, 2) + "\n")
  const seconds = (performance.now() - started) / 1000
  process.stdout.write(Report.table(rows, results, {
    title: `sluice bench${options.quick ? " --quick" : ""}${options.peers ? " --peers" : ""}`,
    machine:
      `${host.cpu}, ${host.cores} cores, ${host.memoryGiB} GiB, node ${host.node}, load at start ${host.loadAverage}`,
    sizes: `wordcount ${Report.count(sizes.wordcount)} words, windowed ${Report.count(sizes.windowed)} events, ` +
      `resume ${Report.count(sizes.resume)} keys, large-state ${Report.count(sizes.largeState.keys)} keys over ` +
      `${Report.count(sizes.largeState.items)} items, stateless ${Report.count(sizes.stateless)} numbers, ` +
      `join ${Report.count(sizes.join)} orders and payments` +
      `${options.quick ? "" : ` (median of ${JOIN_ROUNDS} rounds of one cold run each)`}; ` +
      (options.quick
        ? `median of ${ITERATIONS} after ${WARMUP} warm-up`
        : `word count: median of ${WORD_ROUNDS} rounds × ${WORD_ITERATIONS} runs after ${WARMUP} warm-up each, ` +
          `the stores' order alternated; others: median of ${ITERATIONS} after ${WARMUP} warm-up`),
    seconds,
    targetsJudged: !options.quick
  }))
  log(`wrote ${path.relative(process.cwd(), options.output)}`)
}

main().catch((error) => {
  // A benchmark reports; even a broken runner does not fail the build.
  log(`bench runner failed: ${error instanceof Error ? error.stack : String(error)}`)
}).finally(() => process.exit(0))
