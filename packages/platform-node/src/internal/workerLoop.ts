/**
 * One worker's share of a dataflow: imports the flow module, then runs its
 * partitions and keys through the engine (`WorkerRuntime.runShare`). It only
 * moves messages: snapshot reads and epoch commits go to the coordinator over
 * `coordinator`, keyed items to the other workers in their wire form. Worker
 * threads run it (`worker.js`), and so does the calling thread for worker 0,
 * whose modules are loaded already.
 *
 * @internal
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { DataflowError, Epoch, type RecoveryStore, WorkerRuntime } from "@sluice/core"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { createRequire } from "node:module"
import { pathToFileURL } from "node:url"
import type { MessagePort } from "node:worker_threads"
import { EpochWritesBuilder } from "./epochWrites.js"
import * as KeyedChunk from "./keyedChunk.js"
import { ToCoordinator, ToWorker, WireExchangeMessage, type WorkerData } from "./protocol.js"

const encodeToCoordinator = Schema.encodeSync(ToCoordinator)
const decodeToWorker = Schema.decodeUnknownSync(ToWorker)
const decodeWire = Schema.decodeUnknownSync(WireExchangeMessage)

const fromWire = (message: WireExchangeMessage): WorkerRuntime.ExchangeMessage =>
  message._tag === "Items"
    ? { _tag: "Items", exchange: message.exchange, from: message.from, items: KeyedChunk.decode(message.chunk) }
    : message

/**
 * A TypeScript flow module in a thread: Node 22.18+ and 24 strip the types
 * themselves; on older Nodes the loader the parent runs under (`node --import
 * tsx`) is not inherited by worker threads, so the thread registers tsx
 * itself, found from the flow module's own project. Without either, the flow
 * module fails to import with an error that says so.
 */
const typeScriptLoaderIfNeeded = (moduleUrl: string): Effect.Effect<void> => {
  const typeScript = /\.[cm]?tsx?$/.test(new URL(moduleUrl).pathname)
  const strips = (process.features as { readonly typescript?: string | false }).typescript
  if (!typeScript || (strips !== undefined && strips !== false)) return Effect.void
  return Effect.promise(async () => {
    for (const base of [moduleUrl, pathToFileURL(`${process.cwd()}/`).href]) {
      try {
        const api = await import(pathToFileURL(createRequire(base).resolve("tsx/esm/api")).href)
        api.register()
        return
      } catch {
        // not found from here: try the next place, then let the import fail with its own words
      }
    }
  })
}

/**
 * Runs worker `data.workerIndex` until the dataflow ends, talking to the
 * coordinator over `coordinator`. Never fails: a failure is posted to the
 * coordinator as `Failed`, which is how it learns of it. `inThread` says
 * whether it runs in a worker thread of its own, which may have to register a
 * TypeScript loader; the calling thread has imported the flow module already.
 *
 * @internal
 */
export const runWorker = (
  data: WorkerData,
  coordinator: MessagePort,
  options: { readonly inThread: boolean }
): Effect.Effect<void> => {
  const post = (message: ToCoordinator, transfer?: ReadonlyArray<ArrayBuffer>) =>
    coordinator.postMessage(encodeToCoordinator(message), transfer as Array<ArrayBuffer> | undefined)

  /** Sends an exchange message to worker `to`, keyed items in their compact form with buffers transferred. */
  const send = (to: number, message: WorkerRuntime.ExchangeMessage) => {
    const peer = data.peers[to]!
    if (message._tag !== "Items") return peer.postMessage(message)
    const { chunk, transfer } = KeyedChunk.encode(message.items)
    peer.postMessage(
      { _tag: "Items", exchange: message.exchange, from: message.from, chunk },
      transfer as Array<ArrayBuffer>
    )
  }

  const main = Effect.gen(function*() {
    const control = yield* Queue.unbounded<ToWorker>()
    const inbox = yield* Queue.unbounded<WorkerRuntime.ExchangeMessage>()
    coordinator.on("message", (message: unknown) => Queue.unsafeOffer(control, decodeToWorker(message)))
    data.peers.forEach((peer) =>
      peer?.on("message", (message: unknown) => Queue.unsafeOffer(inbox, fromWire(decodeWire(message))))
    )

    const nextControl = Effect.flatMap(Queue.take(control), (message) =>
      message._tag === "Abort"
        ? Effect.interrupt
        : Effect.succeed(message))

    if (options.inThread) yield* typeScriptLoaderIfNeeded(data.moduleUrl)
    const dataflow = yield* WorkerRuntime.loadDataflow({ url: data.moduleUrl, exportName: data.exportName })
    post({ _tag: "Opened", workerIndex: data.workerIndex })
    const start = yield* nextControl
    if (start._tag !== "Start") return yield* Effect.dieMessage(`expected Start, got ${start._tag}`)

    let requests = 0
    const snapshots = (stepId: string): Stream.Stream<RecoveryStore.Snapshot, DataflowError.StoreUnavailable> =>
      Stream.unwrap(Effect.sync(() => {
        const requestId = ++requests
        post({ _tag: "ReadSnapshots", requestId, stepId })
        return Stream.repeatEffectChunkOption(
          Effect.flatMap(Effect.orDie(nextControl), (message) => {
            if (message._tag === "Snapshots" && message.requestId === requestId) {
              return Effect.succeed(Chunk.unsafeFromArray(message.snapshots))
            }
            if (message._tag === "SnapshotsEnd" && message.requestId === requestId) {
              return message.failure === undefined
                ? Effect.fail(Option.none())
                : Effect.fail(Option.some(
                  new DataflowError.StoreUnavailable({
                    store: "coordinator",
                    reason: `reading the snapshots of step ${stepId} failed`,
                    cause: message.failure
                  })
                ))
            }
            return Effect.dieMessage(`unexpected ${message._tag} while reading snapshots`)
          })
        )
      }))

    const snapshotsOf = (
      stepId: string,
      keys: ReadonlyArray<string>
    ): Effect.Effect<ReadonlyArray<RecoveryStore.Snapshot>, DataflowError.StoreUnavailable> =>
      Effect.suspend(() => {
        const requestId = ++requests
        post({ _tag: "ReadKeys", requestId, stepId, keys })
        return Effect.flatMap(nextControl, (message) => {
          if (message._tag !== "KeysRead" || message.requestId !== requestId) {
            return Effect.dieMessage(`unexpected ${message._tag} while reading keys`)
          }
          return message.failure === undefined
            ? Effect.succeed(message.snapshots)
            : new DataflowError.StoreUnavailable({
              store: "coordinator",
              reason: `reading ${keys.length} keys of step ${stepId} failed`,
              cause: message.failure
            })
        })
      })

    let writes = new EpochWritesBuilder()
    let outputs: Array<RecoveryStore.OutputRecord> = []
    yield* WorkerRuntime.runShare(dataflow, {
      workerIndex: data.workerIndex,
      workerCount: data.workerCount,
      resumeEpoch: start.resumeEpoch,
      epoch: data.epoch._tag === "Interval" ? Epoch.interval(data.epoch.millis) : Epoch.everyItems(data.epoch.items),
      replayUnresumableInputs: data.replayUnresumableInputs,
      link: { workerIndex: data.workerIndex, workerCount: data.workerCount, send, inbox },
      snapshots,
      ...(start.restore === "lazy" ? { snapshotsOf } : {}),
      beginEpoch: (epoch) => {
        writes = new EpochWritesBuilder()
        outputs = []
        return {
          epoch,
          write: (stepId, key, value) => writes.write(stepId, key, value),
          writeOutput: (record) => outputs.push(record)
        }
      },
      epochFinished: (epoch, { drained, items, metrics }) =>
        Effect.gen(function*() {
          const encoded = writes.finish()
          post(
            {
              _tag: "EpochReady",
              epoch,
              writes: encoded.writes,
              outputs,
              drained,
              items,
              // a thread carries the gauges of its own registry; in the calling
              // thread they are set in the coordinator's registry already
              metrics: options.inThread ? metrics : { ...metrics, gauges: [] }
            },
            encoded.transfer
          )
          const reply = yield* nextControl
          if (reply._tag !== "Committed" || reply.epoch !== epoch) {
            return yield* Effect.dieMessage(`expected the commit of epoch ${epoch}, got ${reply._tag}`)
          }
          return { finish: reply.finish }
        })
    })
    post({ _tag: "Finished" })
  }).pipe(Effect.scoped, Effect.provide(NodeContext.layer))

  return Effect.catchAllCause(main, (cause) =>
    Effect.sync(() => {
      if (Cause.isInterruptedOnly(cause)) return
      const failure = Cause.failureOption(cause)
      post({
        _tag: "Failed",
        error: Option.isSome(failure) ? failure.value : { _tag: "Defect", message: Cause.pretty(cause) }
      })
    }))
}
