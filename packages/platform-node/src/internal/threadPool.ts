/**
 * Where a run's worker threads come from. A thread is started empty: its entry
 * (`worker.ts`) imports the worker loop, hence `@sluice/core` and Effect, and
 * waits for an assignment (`ThreadAssignment`: a worker's data and the port to
 * its coordinator). So a thread can be started before anyone knows which flow
 * it will run, and run several in turn.
 *
 * Two sources: `perRun` starts a run's threads when the run starts and ends
 * them when it ends (`NodeWorkers.layer`); `makePool` starts threads when the
 * layer is built, lends them to runs and takes them back
 * (`NodeWorkers.layerPool`).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import { type MessagePort, SHARE_ENV, Worker } from "node:worker_threads"
import type { ThreadAssignment } from "./protocol.js"

/**
 * The thread entry: `worker.js` beside this file once built; inside this
 * repository, where the library runs from its TypeScript sources,
 * `threadFromSources.mjs`, which registers tsx in the thread first.
 */
const threadEntry = new URL(
  import.meta.url.endsWith(".ts") ? "./threadFromSources.mjs" : "./worker.js",
  import.meta.url
)

/** A started thread, idle or lent to one run. @internal */
export interface WorkerThread {
  /** Node's id of the thread (`worker_threads.threadId` inside it). */
  readonly threadId: number
  /** Runs a worker on this thread: its messages arrive at the other end of `assignment.coordinator`. */
  readonly assign: (assignment: ThreadAssignment) => void
  /** Called once if the thread dies (an uncaught error, `process.exit`); the run holding it sets it. */
  onDeath: (reason: string) => void
  /** Whether the thread has died or been ended: a dead thread is never lent again. */
  readonly isDead: () => boolean
  readonly terminate: Effect.Effect<void>
  /** Waits until the thread has stopped (its `exit` event), however it ended. */
  readonly exited: Effect.Effect<void>
}

const startThread = (options: { readonly shareEnv: boolean }): WorkerThread => {
  // Pooled threads start before the run that uses them: sharing the parent's
  // environment lets a flow module read `process.env` as the run's caller
  // set it, as a thread started with the run (a copy made then) would.
  const worker = new Worker(threadEntry, options.shareEnv ? { env: SHARE_ENV } : {})
  let dead = false
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()))
  const thread: WorkerThread = {
    threadId: worker.threadId,
    assign: (assignment) =>
      worker.postMessage(assignment, [
        assignment.coordinator,
        ...assignment.data.peers.filter((p): p is MessagePort => p !== undefined)
      ]),
    onDeath: () => {},
    isDead: () => dead,
    terminate: Effect.promise(() => {
      dead = true
      return worker.terminate()
    }),
    exited: Effect.promise(() => exited)
  }
  const died = (reason: string) => {
    if (dead) return
    dead = true
    thread.onDeath(reason)
  }
  worker.on("error", (error) => died(error.message))
  worker.on("exit", (code) => died(`exited with code ${code}`))
  return thread
}

/**
 * Lends a run `count` threads until `scope` closes; the scope's exit says how
 * the run ended.
 *
 * @internal
 */
export type ThreadSource = (count: number) => Effect.Effect<ReadonlyArray<WorkerThread>, never, Scope.Scope>

/**
 * A run's own threads, started when it starts and ended when it ends.
 *
 * @internal
 */
export const perRun: ThreadSource = (count) =>
  Effect.acquireRelease(
    Effect.sync(() => Array.from({ length: count }, () => startThread({ shareEnv: false }))),
    (threads) => Effect.forEach(threads, (thread) => thread.terminate, { discard: true, concurrency: "unbounded" })
  )

/**
 * Starts `threads` threads now and lends them to runs. A run that ends with
 * every worker finished gives its threads back; a run that fails or is
 * interrupted may have left a thread mid-epoch, with the flow module's state
 * half-changed, so its threads are ended and replaced, as is a thread that
 * dies while idle. A run that needs more threads than are idle gets new ones,
 * which join the pool afterwards. Closing the scope ends every thread.
 *
 * @internal
 */
export const makePool = (threads: number): Effect.Effect<ThreadSource, never, Scope.Scope> =>
  Effect.gen(function*() {
    const idle = yield* Queue.unbounded<WorkerThread>()
    const live = new Set<WorkerThread>()
    let closing = false
    const start = (): WorkerThread => {
      const thread = startThread({ shareEnv: true })
      live.add(thread)
      thread.onDeath = () => replace(thread)
      return thread
    }
    const replace = (thread: WorkerThread) => {
      live.delete(thread)
      if (!closing) Queue.unsafeOffer(idle, start())
    }
    for (let i = 0; i < threads; i++) Queue.unsafeOffer(idle, start())
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        closing = true
        return Effect.forEach(live, (thread) => thread.terminate, { discard: true, concurrency: "unbounded" })
      })
    )

    const idleThread: Effect.Effect<WorkerThread> = Effect.flatMap(
      Queue.poll(idle),
      Option.match({
        onNone: () => Effect.sync(start),
        // a thread that died while idle was replaced already: skip it
        onSome: (thread) => thread.isDead() ? idleThread : Effect.succeed(thread)
      })
    )
    return (count) =>
      Effect.acquireRelease(
        Effect.replicateEffect(idleThread, count),
        (lent, exit) =>
          Effect.forEach(lent, (thread) => {
            if (Exit.isSuccess(exit) && !thread.isDead()) {
              thread.onDeath = () => replace(thread)
              return Queue.offer(idle, thread)
            }
            thread.onDeath = () => {}
            return Effect.zipRight(thread.terminate, Effect.sync(() => replace(thread)))
          }, { discard: true })
      )
  })
