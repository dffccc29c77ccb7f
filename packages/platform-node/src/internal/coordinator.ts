import { type Dataflow, DataflowError, Epoch, RecoveryStore, WorkerRuntime } from "@sluice/core"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { MessageChannel, type MessagePort } from "node:worker_threads"
import * as EpochWrites from "./epochWrites.js"
import { ToCoordinator, type ToWorker, type WorkerData } from "./protocol.js"
import type { ThreadSource } from "./threadPool.js"
import { runWorker } from "./workerLoop.js"

type Event =
  | { readonly _tag: "Message"; readonly workerIndex: number; readonly message: ToCoordinator }
  | { readonly _tag: "Crashed"; readonly workerIndex: number; readonly reason: string }

const decodeMessage = Schema.decodeUnknownEither(ToCoordinator)

/**
 * Runs a dataflow on `workerCount` workers: worker 0 in the calling thread,
 * the others on worker threads lent by `threads`. The calling thread holds the
 * recovery store: it opens one session per worker, serves the workers'
 * snapshot reads, and commits epoch `e` for every worker only once all of them
 * have finished it, so a failing worker leaves the epoch committed by none.
 *
 * @internal
 */
export const runWorkers = (
  module: Dataflow.DataflowModule,
  workerCount: number,
  options: Dataflow.RunOptions,
  threads: ThreadSource
): Effect.Effect<Dataflow.RunSummary, DataflowError.DataflowError, RecoveryStore.RecoveryStore> =>
  Effect.gen(function*() {
    // The threads start first: loading the library and the flow module in each
    // takes longer than anything below, and they wait for Start before
    // touching any input.
    const events = yield* Queue.unbounded<Event>()
    const peers: Array<Array<MessagePort | undefined>> = Array.from(
      { length: workerCount },
      () => new Array(workerCount)
    )
    for (let i = 0; i < workerCount; i++) {
      for (let j = i + 1; j < workerCount; j++) {
        const channel = new MessageChannel()
        peers[i][j] = channel.port1
        peers[j][i] = channel.port2
      }
    }
    const policy = options.epoch ?? Epoch.defaultPolicy
    // what each worker's handle does: post to it, and end it when the run does
    const posts: Array<(message: ToWorker) => void> = []
    let finished = 0
    const workerData = (workerIndex: number): WorkerData => ({
      moduleUrl: module.url,
      exportName: module.exportName,
      workerIndex,
      workerCount,
      epoch: policy._tag === "Interval"
        ? { _tag: "Interval", millis: Duration.toMillis(policy.duration) }
        : { _tag: "EveryItems", items: policy.items },
      replayUnresumableInputs: options.replayUnresumableInputs === true,
      peers: peers[workerIndex]
    })
    const onMessage = (workerIndex: number) => (message: unknown) => {
      const decoded = decodeMessage(message)
      Queue.unsafeOffer(
        events,
        decoded._tag === "Right"
          ? { _tag: "Message", workerIndex, message: decoded.right }
          : { _tag: "Crashed", workerIndex, reason: `sent a message the coordinator cannot read: ${decoded.left}` }
      )
    }
    // Workers 1… each run on a thread, which must load the library and the flow
    // module before its first item (most of a short run's start-up, less when
    // the thread was started, and the library loaded, before the run); worker 0
    // runs here, in the calling thread, where both are loaded already.
    const lent = yield* threads(workerCount - 1)
    for (let workerIndex = 1; workerIndex < workerCount; workerIndex++) {
      const thread = lent[workerIndex - 1]
      // a channel of this run's own: a pooled thread serves several runs in turn
      const toThread = new MessageChannel()
      toThread.port1.on("message", onMessage(workerIndex))
      thread.onDeath = (reason) => Queue.unsafeOffer(events, { _tag: "Crashed", workerIndex, reason })
      thread.assign({ data: workerData(workerIndex), coordinator: toThread.port2 })
      posts[workerIndex] = (message) => toThread.port1.postMessage(message)
      yield* Effect.addFinalizer(() => Effect.sync(() => toThread.port1.close()))
    }
    const toWorkerZero = new MessageChannel()
    toWorkerZero.port1.on("message", onMessage(0))
    posts[0] = (message) => toWorkerZero.port1.postMessage(message)
    // A fiber of its own runtime, as a thread would have: the caller's services
    // (a TestClock, a logger) are the coordinator's, not the worker's.
    const workerZero = Effect.runFork(runWorker(workerData(0), toWorkerZero.port2, { inThread: false }))
    yield* Effect.addFinalizer(() =>
      Effect.zipRight(
        Fiber.interrupt(workerZero),
        Effect.sync(() => {
          // open ports keep the process alive: close the ones that stayed in this thread
          toWorkerZero.port1.close()
          toWorkerZero.port2.close()
          for (const peer of peers[0]) peer?.close()
        })
      )
    )
    const send = (workerIndex: number, message: ToWorker) => posts[workerIndex](message)

    const dataflow = yield* WorkerRuntime.loadDataflow(module)
    return yield* WorkerRuntime.observeRun(
      dataflow.id,
      workerCount,
      Effect.gen(function*() {
        yield* WorkerRuntime.rescaleIfAsked(dataflow, workerCount, options)
        const store = yield* RecoveryStore.RecoveryStore
        const sessions: Array<RecoveryStore.WorkerRecovery> = []
        yield* Effect.gen(function*() {
          for (let workerIndex = 0; workerIndex < workerCount; workerIndex++) {
            sessions.push(yield* store.open({ dataflowId: dataflow.id, workerIndex, workerCount }))
          }
        }).pipe(Effect.withSpan("sluice.resume", { attributes: { "sluice.dataflow": dataflow.id } }))
        const resumeEpoch = sessions[0].resumeEpoch
        const restore = options.restore === "lazy" && sessions.every((s) => s.snapshotsOf !== undefined)
          ? "lazy"
          : "eager"
        if (resumeEpoch > 1) {
          yield* Effect.logInfo(`resuming dataflow ${dataflow.id} at epoch ${resumeEpoch} on ${workerCount} workers`)
        }
        yield* WorkerRuntime.runStarted(dataflow.id, workerCount, resumeEpoch)
        let epochStart = yield* Clock.currentTimeMillis

        const ready = new Map<number, Map<number, Extract<ToCoordinator, { _tag: "EpochReady" }>>>()
        let opened = 0
        let lastEpoch = resumeEpoch - 1
        let totalItems = 0
        while (finished < workerCount) {
          const event = yield* Queue.take(events)
          if (event._tag === "Crashed") {
            return yield* new DataflowError.WorkerFailed({ workerIndex: event.workerIndex, reason: event.reason })
          }
          const { message, workerIndex } = event
          switch (message._tag) {
            case "Opened": {
              if (++opened === workerCount) {
                for (let w = 0; w < workerCount; w++) {
                  send(w, { _tag: "Start", resumeEpoch, restore })
                }
              }
              break
            }
            case "ReadSnapshots": {
              const exit = yield* Stream.runForEachChunk(
                sessions[workerIndex].snapshots(message.stepId),
                (chunk) =>
                  Effect.sync(() =>
                    send(workerIndex, {
                      _tag: "Snapshots",
                      requestId: message.requestId,
                      snapshots: Chunk.toReadonlyArray(chunk)
                    })
                  )
              ).pipe(Effect.exit)
              send(workerIndex, {
                _tag: "SnapshotsEnd",
                requestId: message.requestId,
                ...(exit._tag === "Failure" ? { failure: Cause.pretty(exit.cause) } : {})
              })
              break
            }
            case "ReadKeys": {
              const snapshotsOf = sessions[workerIndex].snapshotsOf
              const exit = snapshotsOf === undefined
                ? Exit.die("a worker read keys from a store that cannot")
                : yield* Effect.exit(snapshotsOf(message.stepId, message.keys))
              send(
                workerIndex,
                Exit.isSuccess(exit)
                  ? { _tag: "KeysRead", requestId: message.requestId, snapshots: exit.value }
                  : { _tag: "KeysRead", requestId: message.requestId, snapshots: [], failure: Cause.pretty(exit.cause) }
              )
              break
            }
            case "EpochReady": {
              const byWorker = ready.get(message.epoch) ?? new Map()
              byWorker.set(workerIndex, message)
              ready.set(message.epoch, byWorker)
              if (byWorker.size < workerCount) break
              ready.delete(message.epoch)
              // every worker finished the epoch: only now does anyone commit it
              let items = 0
              let snapshots = 0
              const { commitMillis } = yield* WorkerRuntime.tracedEpoch(
                message.epoch,
                (inTransaction) =>
                  Effect.zipRight(
                    inTransaction(Effect.void),
                    Effect.forEach(sessions, (session, w) => {
                      const epochReady = byWorker.get(w)!
                      items += epochReady.items
                      const writes = EpochWrites.decode(epochReady.writes)
                      snapshots += writes.length
                      return session.transaction(message.epoch, (transaction) =>
                        Effect.sync(() => {
                          for (const { key, stepId, value } of writes) transaction.write(stepId, key, value)
                          for (const record of epochReady.outputs) transaction.writeOutput(record)
                        }))
                    }, { discard: true })
                  )
              )
              totalItems += items
              lastEpoch = message.epoch
              const committedAt = yield* Clock.currentTimeMillis
              yield* WorkerRuntime.epochCommitted({
                dataflowId: dataflow.id,
                epoch: message.epoch,
                totalItems,
                epochMillis: committedAt - epochStart,
                commitMillis,
                workers: [...byWorker].map(([workerIndex, r]) => ({ workerIndex, items: r.items, metrics: r.metrics }))
              })
              epochStart = committedAt
              if (options.onEpochCommitted !== undefined) {
                yield* options.onEpochCommitted({
                  dataflowId: dataflow.id,
                  epoch: message.epoch,
                  items,
                  snapshots,
                  totalItems
                })
              }
              const finish = [...byWorker.values()].every((r) => r.drained)
              for (let w = 0; w < workerCount; w++) send(w, { _tag: "Committed", epoch: message.epoch, finish })
              break
            }
            case "Failed":
              return yield* Effect.fail(
                message.error._tag === "Defect"
                  ? new DataflowError.WorkerFailed({ workerIndex, reason: message.error.message })
                  : message.error
              )
            case "Finished":
              finished++
              break
          }
        }
        return { dataflowId: dataflow.id, resumeEpoch, lastEpoch, items: totalItems }
      })
    )
  }).pipe(Effect.scoped)
