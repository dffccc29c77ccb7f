/**
 * The entry of a worker thread: runs its worker's share of the dataflow
 * (`runWorker`) with the data the coordinator gave the thread.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { parentPort, workerData } from "node:worker_threads"
import type { WorkerData } from "./protocol.js"
import { runWorker } from "./workerLoop.js"

Effect.runFork(runWorker(workerData as WorkerData, parentPort!, { inThread: true }))
