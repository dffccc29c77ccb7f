/**
 * Workers for `Dataflow.run(module, { workers: n })`: worker 0 in the calling
 * thread, each other worker on a thread of its own that imports the flow
 * module; each runs its share of input partitions and keys;
 * keyed items cross between threads through `MessageChannel`s in a compact
 * wire form; the calling thread holds the recovery store and commits epoch `e`
 * for every worker once all of them have finished it.
 *
 * @since 0.1.0
 */
import { WorkerRuntime } from "@sluice/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { runWorkers } from "./internal/coordinator.js"
import * as ThreadPool from "./internal/threadPool.js"

/**
 * The thread runtime as a layer: provide it next to the store layer to run a
 * dataflow module on several worker threads. The module may be `.js`, or
 * `.ts` when the process runs TypeScript (threads inherit the parent's
 * `execArgv`, so `node --import tsx` and Node's own type stripping both work).
 *
 * @example
 * ```ts
 * import { Dataflow, RecoveryStore } from "@sluice/core"
 * import { NodeWorkers } from "@sluice/platform-node"
 * import { Effect, Layer } from "effect"
 *
 * const flow = Dataflow.fromModule(new URL("./flow.js", import.meta.url), "wordcount")
 * const program = Dataflow.run(flow, { workers: 2 }).pipe(
 *   Effect.provide(Layer.merge(NodeWorkers.layer, RecoveryStore.layerMemory()))
 * )
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<WorkerRuntime.WorkerRuntime> = Layer.succeed(WorkerRuntime.WorkerRuntime, {
  run: (module, workerCount, options) => runWorkers(module, workerCount, options, ThreadPool.perRun)
})

/**
 * The thread runtime with threads started when the layer is built: each
 * imports the library (Effect and `@sluice/core`) right away, so that loading
 * overlaps the program's own start (opening the store, building the flow),
 * and a run then only sends each thread its flow module. A run on `n` workers
 * uses `n − 1` threads (worker 0 runs in the calling thread): ask for
 * `threads: n − 1`. Later runs in the same scope reuse the threads, which
 * have the flow module loaded and its code compiled by then; a run that
 * fails has its threads ended and replaced, so it leaves nothing behind for
 * the next, and a thread that dies is replaced, never reused. Closing the
 * layer's scope ends the threads.
 *
 * Idle threads hold memory (an isolate with the library loaded: tens of MB
 * each). The threads share the process's environment (`SHARE_ENV`), so a flow
 * module reads `process.env` as the run's caller sees it, as it would in
 * threads started with the run.
 *
 * @example
 * ```ts
 * import { Dataflow, RecoveryStore } from "@sluice/core"
 * import { NodeWorkers } from "@sluice/platform-node"
 * import { Effect, Layer } from "effect"
 *
 * const flow = Dataflow.fromModule(new URL("./flow.js", import.meta.url), "wordcount")
 * // the thread starts loading the library while the store opens; both runs use it
 * const program = Effect.gen(function*() {
 *   yield* Dataflow.run(flow, { workers: 2 })
 *   yield* Dataflow.run(flow, { workers: 2 })
 * }).pipe(Effect.provide(Layer.merge(NodeWorkers.layerPool({ threads: 1 }), RecoveryStore.layerMemory())))
 * ```
 * @since 0.2.0
 * @category layers
 */
export const layerPool = (options: { readonly threads: number }): Layer.Layer<WorkerRuntime.WorkerRuntime> =>
  Layer.scoped(
    WorkerRuntime.WorkerRuntime,
    Effect.map(ThreadPool.makePool(options.threads), (threads) => ({
      run: (module, workerCount, runOptions) => runWorkers(module, workerCount, runOptions, threads)
    }))
  )
