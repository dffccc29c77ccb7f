/**
 * The entry of a worker thread: imports the worker loop (hence `@sluice/core`
 * and Effect) as soon as the thread starts, then runs each worker it is
 * assigned (`runWorker`), one run after another. A thread can thus be started
 * before its run, and its imports overlap the caller's own start.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { parentPort } from "node:worker_threads"
import type { ThreadAssignment } from "./protocol.js"
import { runWorker } from "./workerLoop.js"

parentPort!.on("message", ({ coordinator, data }: ThreadAssignment) =>
  Effect.runFork(
    runWorker(data, coordinator, { inThread: true }).pipe(
      // the run is over for this worker: its ports to the other workers would
      // otherwise stay open, with their listeners, for as long as the thread
      Effect.ensuring(Effect.sync(() => {
        for (const peer of data.peers) peer?.close()
      }))
    )
  ))
