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
import * as Layer from "effect/Layer"
import { runWorkers } from "./internal/coordinator.js"

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
  run: runWorkers
})
