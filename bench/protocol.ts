/**
 * What the runner hands a child process and what the child hands back.
 */

export type WorkloadName = "wordcount" | "windowed" | "resume" | "large-state" | "stateless" | "join"

/**
 * What the table reports: the child workloads, the Kafka word count of `bench/kafkaPeers.ts` and the
 * resume after kill -9 of `bench/kafkaResume.ts`.
 */
export type ReportedWorkload = WorkloadName | "wordcount-kafka" | "resume-kafka"

export type CellKind =
  | "loop"
  | "sluice"
  | "workers"
  | "raw-store"
  | "bytewax"
  | "resume-build"
  | "resume"
  | "resume-in-process"
  | "large-state-killed"
  | "large-state-resume"

export interface CellSpec {
  readonly workload: WorkloadName
  /** Stable id of the configuration, e.g. `sluice-sqlite-e100000`. */
  readonly config: string
  readonly kind: CellKind
  readonly store?: "memory" | "sqlite" | undefined
  /** Input items per epoch, counted as BENCHMARKS.md counts items (words, events, numbers). */
  readonly epochItems?: number | undefined
  /** Worker threads, for `workers` cells. */
  readonly workers?: number | undefined
  /** How keyed state comes back on resume (`RunOptions.restore`), for resume cells. */
  readonly restore?: "eager" | "lazy" | undefined
  /** Large state: distinct keys of the input (each seen `size / keys` times). */
  readonly keys?: number | undefined
  /** Large state: the item at which the first process SIGKILLs itself. */
  readonly killAt?: number | undefined
  /** Workers: threads started with each run (`NodeWorkers.layer`) or before the first, and reused (`layerPool`). */
  readonly threads?: "per-run" | "prestarted" | undefined
  /**
   * Run the library from its built `dist/` (node `-C sluice-dist`) and this child compiled
   * (`bench/dist/child.js`), with plain node, instead of everything from TypeScript sources under tsx.
   */
  readonly builtPackages?: boolean | undefined
  /** Items of the workload's input. */
  readonly size: number
  readonly warmup: number
  readonly iterations: number
  /** A scratch directory of the cell's own: the store, or the raw-store file. */
  readonly directory: string
}

export interface CellResult {
  readonly error?: string
  readonly items?: number
  /** Each timed run, ascending. */
  readonly samplesMs?: ReadonlyArray<number>
  readonly medianSeconds?: number
  readonly itemsPerSecond?: number
  readonly peakRssBytes?: number
  readonly storeBytes?: number | undefined
  /** Resume: process start to the first item out of the dataflow. */
  readonly firstItemSeconds?: number
  /** Resume: process start to the end of the imports (node, loader, modules). */
  readonly importSeconds?: number
  /** Resume: start of `Dataflow.run` to the first item (store open, snapshot load, first chunk). */
  readonly openSeconds?: number
  /** Resume: the process's CPU time over `openSeconds`, all threads (less sensitive than wall time to a shared machine). */
  readonly openCpuSeconds?: number
  /** Resume: the process's RSS when the run starts, imports done; `peakRssBytes` minus it is the run's own. */
  readonly rssAtStartBytes?: number
  readonly resumeEpoch?: number
  /** Resume: whether the store read keys on first use (`restore: "lazy"` on a store with `readKeys`). */
  readonly lazy?: boolean
  /** Workers: start of the run to its first committed epoch (threads, imports, epoch 1). */
  readonly startupSeconds?: number
  /** Workers: the first (cold) run's start to its first commit. */
  readonly coldStartupSeconds?: number
  /** Workers: process start (`performance.timeOrigin`) to the cold run's first commit. */
  readonly coldFromProcessStartSeconds?: number
  /** Workers: items per second from the first commit to the end. */
  readonly steadyItemsPerSecond?: number
  /** Workers: CPU time of every thread of the process (GC helpers included) over the run's wall time. */
  readonly cores?: number
  /** Raw store: rows written and epochs committed. */
  readonly rows?: number
  readonly epochs?: number
  /** Kafka word count: CPU seconds of the process (every thread), and records in the output topic (read_committed). */
  readonly cpuSeconds?: number
  readonly outputRecords?: number
  /** Kafka Streams' resume: its changelog restore (restore start to end) and the records it restored. */
  readonly restoreSeconds?: number
  readonly restoredRecords?: number
}

export const RESULT_MARK = "@@result "
