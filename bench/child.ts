/**
 * One configuration in a process of its own, started by `bench/run.ts` with a
 * JSON `CellSpec` as its argument; it prints one `@@result` line.
 *
 * Throughput cells run the workload once cold (peak RSS and store size are
 * read right after it; it is also tinybench's warm-up), then five timed runs.
 * Resume cells measure one process start each.
 */
import { Dataflow, Epoch, Input, RecoveryStore } from "@sluice/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as nodeModule from "node:module"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { Bench } from "tinybench"
import * as Data from "./data.js"
import { type CellResult, type CellSpec, RESULT_MARK } from "./protocol.js"
import * as Stores from "./stores.js"
import * as W from "./workloads.js"

/** Where each worker of a workers cell writes the count its output saw (`bench/workersFlow.ts`). */
const workersCounts = (spec: CellSpec) => path.join(spec.directory, "counts")

/**
 * The thread runtime of a workers cell. `prestarted`: `NodeWorkers.layerPool`
 * built now, its threads kept for the whole process (they end with it).
 */
const workerThreads = async (spec: CellSpec) => {
  // set before any thread starts: a prestarted thread shares this environment, one started per run copies it
  process.env.SLUICE_BENCH_WORDS = String(spec.size)
  process.env.SLUICE_BENCH_COUNTS = workersCounts(spec)
  // imported here, not at the top: a resume cell's RSS and start should hold what its app would load
  const { NodeWorkers } = await import("@sluice/platform-node")
  if (spec.threads !== "prestarted") return NodeWorkers.layer
  const context = await Effect.runPromise(
    Layer.buildWithScope(NodeWorkers.layerPool({ threads: (spec.workers ?? 1) - 1 }), Effect.runSync(Scope.make()))
  )
  return Layer.succeedContext(context)
}

const peakRss = (): number => process.resourceUsage().maxRSS * 1024

interface Prepared {
  /** Input items of one run, as BENCHMARKS.md counts them (words, events, numbers). */
  readonly items: number
  /** Items the output must count, from the hand-written loop. */
  readonly expected: number
  /** One run; resolves to the items the output counted. */
  readonly run: (directory: string) => Promise<number>
  /** Figures of the timed runs beyond their duration, given their count. */
  readonly extras?: (timedRuns: number) => Partial<CellResult>
}

const runSluice = async (
  flow: Dataflow.Dataflow,
  epoch: Epoch.EpochPolicy,
  store: Stores.StoreKind,
  directory: string,
  options: Pick<Dataflow.RunOptions, "restore"> = {}
) => {
  const restored: { lazy?: boolean } = {}
  const layer = Stores.notingLazyRestore(await Stores.storeLayer(store, directory), options.restore, restored)
  const summary = await Effect.runPromise(Dataflow.run(flow, { ...options, epoch }).pipe(Effect.provide(layer)))
  return { ...summary, lazy: restored.lazy === true }
}

const prepare = (spec: CellSpec): Prepared => {
  const epochItems = spec.epochItems ?? 100_000
  switch (spec.workload) {
    case "wordcount": {
      const workers = spec.kind === "workers"
      // Prestarted threads start first, before the input is generated and
      // the store opened: their imports overlap the rest of this process's
      // start, as they would an app's. The timed runs reuse them.
      const threads = workers ? workerThreads(spec) : undefined
      const lines = Data.wordLines(spec.size)
      const expected = W.wordcountLoop(lines)
      if (spec.kind === "loop") return { items: spec.size, expected, run: async () => W.wordcountLoop(lines) }
      if (threads !== undefined) {
        const counts = workersCounts(spec)
        const flow = Dataflow.fromModule<typeof import("./workersFlow.js")>(
          new URL(
            // compiled, this module sits in bench/dist beside the compiled flow module
            import.meta.url.endsWith(".js")
              ? "./workersFlow.js"
              : spec.builtPackages === true
              ? "./dist/workersFlow.js"
              : "./workersFlow.ts",
            import.meta.url
          ),
          "wordcount"
        )
        // per run: start to the first commit (threads, imports, first epoch), and
        // the same from the process's start (only the first, cold run's says
        // something), the rate after it, and the CPU time of all threads over the
        // wall time
        const runs: Array<{ startup: number; fromProcessStart: number; steady: number | undefined; cores: number }> = []
        return {
          items: spec.size,
          expected,
          run: async (directory) => {
            fs.rmSync(counts, { recursive: true, force: true })
            fs.mkdirSync(counts, { recursive: true })
            const layer = await Stores.storeLayer(spec.store ?? "memory", path.join(directory, "store"))
            const workerRuntime = await threads
            const startedAt = performance.now()
            const cpuBefore = process.cpuUsage()
            let firstCommit: { at: number; words: number } | undefined
            await Effect.runPromise(
              Dataflow.run(flow, {
                workers: spec.workers ?? 1,
                epoch: W.wordEpoch(epochItems),
                onEpochCommitted: (progress) =>
                  Effect.sync(() => {
                    firstCommit ??= { at: performance.now(), words: progress.items * Data.WORDS_PER_LINE }
                  })
              }).pipe(Effect.provide(layer), Effect.provide(workerRuntime))
            )
            const endedAt = performance.now()
            const cpu = process.cpuUsage(cpuBefore)
            if (firstCommit !== undefined) {
              runs.push({
                startup: (firstCommit.at - startedAt) / 1000,
                // performance.now() counts from performance.timeOrigin, the process's start
                fromProcessStart: firstCommit.at / 1000,
                // a rate only where most of the input comes after the first commit (not at --quick sizes)
                steady: firstCommit.words * 2 <= spec.size
                  ? (spec.size - firstCommit.words) / ((endedAt - firstCommit.at) / 1000)
                  : undefined,
                cores: (cpu.user + cpu.system) / 1000 / (endedAt - startedAt)
              })
            }
            return fs.readdirSync(counts).reduce(
              (sum, f) => sum + Number(fs.readFileSync(path.join(counts, f), "utf8")),
              0
            )
          },
          extras: (timedRuns) => {
            const timed = runs.slice(-timedRuns)
            const sorted = (values: Array<number | undefined>) =>
              values.filter((v): v is number => v !== undefined).sort((a, b) => a - b)
            const steady = sorted(timed.map((r) => r.steady))
            const cold = runs.length > timedRuns ? runs[0] : undefined
            return timed.length === 0 ? {} : {
              startupSeconds: median(sorted(timed.map((r) => r.startup))),
              ...(cold === undefined ? {} : {
                coldStartupSeconds: cold.startup,
                coldFromProcessStartSeconds: cold.fromProcessStart
              }),
              ...(steady.length === timed.length ? { steadyItemsPerSecond: median(steady) } : {}),
              cores: median(sorted(timed.map((r) => r.cores)))
            }
          }
        }
      }
      return {
        items: spec.size,
        expected,
        run: async (directory) => {
          const counter: W.Counter = { items: 0, firstAt: undefined }
          const flow = W.wordcountFlow(Input.fromIterable(lines), counter)
          await runSluice(flow, W.wordEpoch(epochItems), spec.store ?? "memory", directory)
          return counter.items
        }
      }
    }
    case "windowed": {
      const events = Data.events(spec.size)
      const expected = W.windowedLoop(events)
      if (spec.kind === "loop") return { items: spec.size, expected, run: async () => W.windowedLoop(events) }
      if (!W.windowsAvailable()) throw new Error("core has no windows yet (Window.ts, Dataflow.foldWindow)")
      const timed = W.timedEvents(events)
      return {
        items: spec.size,
        expected,
        run: async (directory) => {
          const counter: W.Counter = { items: 0, firstAt: undefined }
          await runSluice(
            W.windowedFlow(timed, counter),
            Epoch.everyItems(epochItems),
            spec.store ?? "sqlite",
            directory
          )
          return counter.items
        }
      }
    }
    case "stateless": {
      const numbers = Data.numbers(spec.size)
      const expected = W.statelessLoop(numbers)
      if (spec.kind === "loop") return { items: spec.size, expected, run: async () => W.statelessLoop(numbers) }
      return {
        items: spec.size,
        expected,
        run: async (directory) => {
          const counter: W.Counter = { items: 0, firstAt: undefined }
          await runSluice(W.statelessFlow(numbers, counter), Epoch.everyItems(epochItems), "memory", directory)
          return counter.items
        }
      }
    }
    case "join": {
      // the items of a run are the orders and the payments
      const input = Data.ordersAndPayments(spec.size / 2)
      const expected = W.joinLoop(input)
      if (spec.kind === "loop") return { items: spec.size, expected, run: async () => W.joinLoop(input) }
      if (!W.joinAvailable()) throw new Error("core has no join yet (Dataflow.join)")
      return {
        items: spec.size,
        expected,
        run: async (directory) => {
          const counter: W.Counter = { items: 0, firstAt: undefined }
          await runSluice(W.joinFlow(input, counter), Epoch.everyItems(epochItems), spec.store ?? "sqlite", directory)
          return counter.items
        }
      }
    }
    case "resume":
    case "large-state":
      throw new Error(`${spec.workload} cells are not throughput cells`)
  }
}

const median = (sorted: ReadonlyArray<number>): number => {
  const middle = sorted.length >>> 1
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/** Warm-up plus timed runs under tinybench; the first (cold) run gives peak RSS and store size. */
const throughput = async (spec: CellSpec, prepared: Prepared): Promise<CellResult> => {
  const directory = spec.directory
  let coldRss: number | undefined
  let storeBytes: number | undefined
  let wrong: string | undefined
  const bench = new Bench({
    time: 0,
    iterations: spec.iterations,
    warmupTime: 0,
    warmupIterations: spec.warmup,
    throws: true
  })
  bench.add(spec.config, async () => {
    const counted = await prepared.run(directory)
    if (counted !== prepared.expected) wrong = `output counted ${counted} items, the loop ${prepared.expected}`
  }, {
    beforeEach: () => Stores.emptyDirectory(directory),
    afterEach: () => {
      if (coldRss === undefined) coldRss = peakRss()
      storeBytes = Stores.directoryBytes(directory)
    }
  })
  await bench.warmup()
  await bench.run()
  if (wrong !== undefined) throw new Error(wrong)
  const samples = [...(bench.tasks[0].result?.samples ?? [])].sort((a, b) => a - b)
  const medianMs = median(samples)
  return {
    items: prepared.items,
    samplesMs: samples,
    medianSeconds: medianMs / 1000,
    itemsPerSecond: prepared.items / (medianMs / 1000),
    peakRssBytes: coldRss ?? peakRss(),
    storeBytes: spec.store === "sqlite" ? storeBytes : undefined,
    ...prepared.extras?.(samples.length)
  }
}

/**
 * The raw-store baseline: records the epochs' writes of one Sluice run, then
 * times upserting exactly those rows with better-sqlite3.
 */
const rawStore = async (spec: CellSpec): Promise<CellResult> => {
  const epochs: Array<Stores.RecordedEpoch> = []
  const layer = Stores.recordingLayer(epochs)
  if (spec.workload === "wordcount") {
    const counter: W.Counter = { items: 0, firstAt: undefined }
    const flow = W.wordcountFlow(Input.fromIterable(Data.wordLines(spec.size)), counter)
    await Effect.runPromise(
      Dataflow.run(flow, { epoch: W.wordEpoch(spec.epochItems ?? 100_000) }).pipe(Effect.provide(layer))
    )
  } else if (spec.workload === "windowed") {
    if (!W.windowsAvailable()) throw new Error("core has no windows yet (Window.ts, Dataflow.foldWindow)")
    const counter: W.Counter = { items: 0, firstAt: undefined }
    const flow = W.windowedFlow(W.timedEvents(Data.events(spec.size)), counter)
    await Effect.runPromise(
      Dataflow.run(flow, { epoch: Epoch.everyItems(spec.epochItems ?? 100_000) }).pipe(Effect.provide(layer))
    )
  } else throw new Error(`no raw-store baseline for ${spec.workload}`)
  let rows = 0
  for (const recorded of epochs) rows += recorded.writes.length
  const file = path.join(spec.directory, "raw.sqlite3")
  const result = await throughput(spec, {
    items: spec.size,
    expected: 0,
    run: async () => {
      Stores.replayRaw(file, epochs)
      return 0
    }
  })
  return {
    ...result,
    storeBytes: result.storeBytes ?? Stores.directoryBytes(spec.directory),
    rows,
    epochs: epochs.length
  }
}

/** Builds the resume workload's store: `size` distinct keys, committed in epochs. */
const resumeBuild = async (spec: CellSpec): Promise<CellResult> => {
  Stores.emptyDirectory(spec.directory)
  const counter: W.Counter = { items: 0, firstAt: undefined }
  const lines = Math.ceil(spec.size / Data.WORDS_PER_LINE)
  const started = performance.now()
  await runSluice(
    W.wordcountFlow(W.distinctLines(lines), counter),
    W.wordEpoch(spec.epochItems ?? 100_000),
    "sqlite",
    spec.directory
  )
  const seconds = (performance.now() - started) / 1000
  return {
    items: counter.items,
    medianSeconds: seconds,
    itemsPerSecond: counter.items / seconds,
    peakRssBytes: peakRss(),
    storeBytes: Stores.directoryBytes(spec.directory)
  }
}

/**
 * The start of a resume's run, on the SQLite store. stores.ts imports the SQLite package on
 * demand: here, so that loading its modules counts in "node + imports", as in an application
 * that imports it at start, and not in the run.
 */
const startResume = async (spec: CellSpec) => {
  await Stores.storeLayer("sqlite", spec.directory)
  const importedAt = performance.now()
  // what the process holds before the run (node, loader, modules): peak RSS minus this is the run's own
  const rssAtStart = process.memoryUsage.rss()
  const runStartedAt = performance.now()
  const cpuAtStart = process.cpuUsage()
  /** A resume's figures of its start: process start, imports and the run to its first item, in time and CPU. */
  const figures = (counter: W.Counter) => {
    if (counter.firstAt === undefined) throw new Error("no item came out after the resume")
    return {
      firstItemSeconds: counter.firstAt / 1000,
      importSeconds: importedAt / 1000,
      openSeconds: (counter.firstAt - runStartedAt) / 1000,
      ...(counter.firstCpuAt === undefined ? {} : {
        openCpuSeconds: (counter.firstCpuAt - (cpuAtStart.user + cpuAtStart.system) / 1000) / 1000
      }),
      rssAtStartBytes: rssAtStart
    }
  }
  return { runStartedAt, figures }
}

/** One resume of the built store: process start to the first item out of the dataflow. */
const resume = async (spec: CellSpec): Promise<CellResult> => {
  const counter: W.Counter = { items: 0, firstAt: undefined }
  const built = Math.ceil(spec.size / Data.WORDS_PER_LINE)
  const extraLines = Math.ceil((spec.epochItems ?? 100_000) / Data.WORDS_PER_LINE)
  const started = await startResume(spec)
  const summary = await runSluice(
    W.wordcountFlow(W.distinctLines(built + extraLines), counter),
    W.wordEpoch(spec.epochItems ?? 100_000),
    "sqlite",
    spec.directory,
    { restore: spec.restore ?? "eager" }
  )
  if (summary.resumeEpoch <= 1) throw new Error("the run did not resume: the store had no completed epoch")
  return {
    items: counter.items,
    ...started.figures(counter),
    resumeEpoch: summary.resumeEpoch,
    lazy: summary.lazy,
    peakRssBytes: peakRss(),
    storeBytes: Stores.directoryBytes(spec.directory)
  }
}

/**
 * The resume workload on the memory store, which lives only in its process:
 * the store is built here, then one run resumes it, timed from `Dataflow.run`
 * to the first item. Peak RSS holds the build, so the cell reports none.
 */
const resumeInProcess = async (spec: CellSpec): Promise<CellResult> => {
  const built = Math.ceil(spec.size / Data.WORDS_PER_LINE)
  const extraLines = Math.ceil((spec.epochItems ?? 100_000) / Data.WORDS_PER_LINE)
  const epoch = W.wordEpoch(spec.epochItems ?? 100_000)
  const layer = RecoveryStore.layerMemory(RecoveryStore.makeMemoryHandle())
  await Effect.runPromise(
    Dataflow.run(W.wordcountFlow(W.distinctLines(built), { items: 0, firstAt: undefined }), { epoch }).pipe(
      Effect.provide(layer)
    )
  )
  const counter: W.Counter = { items: 0, firstAt: undefined }
  const restored: { lazy?: boolean } = {}
  const runStartedAt = performance.now()
  const summary = await Effect.runPromise(
    Dataflow.run(W.wordcountFlow(W.distinctLines(built + extraLines), counter), {
      epoch,
      restore: spec.restore ?? "eager"
    }).pipe(Effect.provide(Stores.notingLazyRestore(layer, spec.restore, restored)))
  )
  if (counter.firstAt === undefined) throw new Error("no item came out after the resume")
  return {
    items: counter.items,
    firstItemSeconds: (counter.firstAt - runStartedAt) / 1000,
    resumeEpoch: summary.resumeEpoch,
    lazy: restored.lazy === true
  }
}

/**
 * State larger than the epoch, first process: `size` items over `keys`
 * distinct keys on SQLite, until the process SIGKILLs itself in the middle of
 * an epoch at item `killAt`. It reports nothing: the runner sees the kill.
 */
const largeStateKilled = async (spec: CellSpec): Promise<CellResult> => {
  Stores.emptyDirectory(spec.directory)
  const input = W.largeStateLines(spec.size, spec.keys ?? spec.size / 2, spec.killAt)
  await runSluice(
    W.wordcountFlow(input, { items: 0, firstAt: undefined }),
    W.wordEpoch(spec.epochItems ?? 100_000),
    "sqlite",
    spec.directory,
    { restore: "lazy" }
  )
  throw new Error(`the run ended without reaching item ${spec.killAt}`)
}

/** State larger than the epoch, after the kill: a lazy resume to the end, with its time to the first item. */
const largeStateResume = async (spec: CellSpec): Promise<CellResult> => {
  const counter: W.Counter = { items: 0, firstAt: undefined }
  const input = W.largeStateLines(spec.size, spec.keys ?? spec.size / 2, undefined)
  const started = await startResume(spec)
  const summary = await runSluice(
    W.wordcountFlow(input, counter),
    W.wordEpoch(spec.epochItems ?? 100_000),
    "sqlite",
    spec.directory,
    { restore: spec.restore ?? "lazy" }
  )
  if (summary.resumeEpoch <= 1) throw new Error("the run did not resume: the killed run committed no epoch")
  const seconds = (performance.now() - started.runStartedAt) / 1000
  return {
    items: counter.items,
    medianSeconds: seconds,
    itemsPerSecond: counter.items / seconds,
    ...started.figures(counter),
    resumeEpoch: summary.resumeEpoch,
    lazy: summary.lazy,
    peakRssBytes: peakRss(),
    storeBytes: Stores.directoryBytes(spec.directory)
  }
}

const main = async () => {
  const spec = JSON.parse(process.argv[2]) as CellSpec
  fs.mkdirSync(spec.directory, { recursive: true })
  let result: CellResult
  try {
    switch (spec.kind) {
      case "loop":
      case "sluice":
      case "workers":
        result = await throughput(spec, prepare(spec))
        break
      case "raw-store":
        result = await rawStore(spec)
        break
      case "resume-build":
        result = await resumeBuild(spec)
        break
      case "resume":
        result = await resume(spec)
        break
      case "resume-in-process":
        result = await resumeInProcess(spec)
        break
      case "large-state-killed":
        result = await largeStateKilled(spec)
        break
      case "large-state-resume":
        result = await largeStateResume(spec)
        break
      default:
        throw new Error(`child cannot run ${spec.kind} cells`)
    }
  } catch (error) {
    result = { error: describe(error) }
  }
  if (process.env.SLUICE_BENCH_SOURCE_MAPS) dumpSourceMaps(process.env.SLUICE_BENCH_SOURCE_MAPS)
  process.stdout.write(`${RESULT_MARK}${JSON.stringify(result)}\n`)
}

/**
 * For `bench/profile.ts`: the source maps of the TypeScript modules this
 * process ran, so a CPU profile of the loader's one-line output maps back to
 * source lines as they were when profiled.
 */
const dumpSourceMaps = (file: string) => {
  const repository = path.dirname(path.dirname(new URL(import.meta.url).pathname))
  const maps: Record<string, unknown> = {}
  const visit = (directory: string) => {
    for (const entry of fs.readdirSync(directory, { withFileTypes: true })) {
      const full = path.join(directory, entry.name)
      if (entry.isDirectory() && entry.name !== "node_modules") visit(full)
      else if (entry.name.endsWith(".ts")) {
        const map = nodeModule.findSourceMap(full)
        if (map !== undefined) maps[pathToFileURL(full).href] = map.payload
      }
    }
  }
  for (const directory of [path.join(repository, "packages"), path.join(repository, "bench")]) visit(directory)
  fs.writeFileSync(file, JSON.stringify(maps))
}

const describe = (error: unknown): string => {
  if (error instanceof Error) return error.message.split("\n")[0] || error.name
  if (typeof error === "object" && error !== null && "_tag" in error) {
    const tagged = error as { _tag: string; message?: string }
    return `${tagged._tag}${tagged.message ? `: ${tagged.message.split("\n")[0]}` : ""}`
  }
  return String(error)
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stdout.write(`${RESULT_MARK}${JSON.stringify({ error: describe(error) })}\n`)
    process.exit(0)
  }
)
