/**
 * The body of a worker thread: imports the flow module, runs its share of
 * partitions and keys, exchanges keyed items with the other workers, and hands
 * each epoch to the coordinator, which commits it once every worker is ready.
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { parentPort, workerData } from "node:worker_threads"
import { DataflowErrorSchema, StoreUnavailable } from "../../DataflowError.js"
import * as Epoch from "../../Epoch.js"
import type { EpochTransaction, OutputRecord, Snapshot } from "../../RecoveryStore.js"
import type { RunContext } from "../operators.js"
import { buildOperators, openEpochReader, openInputs, validate } from "../run.js"
import { EpochWritesBuilder } from "./epochWrites.js"
import type { ExchangeOperator, ExchangeTransport } from "./exchange.js"
import { ownsPartition } from "./keyGroup.js"
import { loadDataflow } from "./module.js"
import type { ExchangeMessage, ToCoordinator, ToWorker, WorkerData } from "./protocol.js"

const data = workerData as WorkerData
const port = parentPort!
const post = (message: ToCoordinator, transfer?: ReadonlyArray<ArrayBuffer>) =>
  port.postMessage(message, transfer as Array<ArrayBuffer> | undefined)

const main = Effect.gen(function*() {
  const control = yield* Queue.unbounded<ToWorker>()
  const inbox = yield* Queue.unbounded<ExchangeMessage>()
  port.on("message", (message: ToWorker) => Queue.unsafeOffer(control, message))
  data.peers.forEach((peer) => peer?.on("message", (message: ExchangeMessage) => Queue.unsafeOffer(inbox, message)))

  const nextControl = Effect.flatMap(Queue.take(control), (message) =>
    message._tag === "Abort"
      ? Effect.interrupt
      : Effect.succeed(message))

  const dataflow = yield* loadDataflow(data.moduleUrl, data.exportName)
  yield* validate(dataflow)
  post({ _tag: "Opened", workerIndex: data.workerIndex })
  const start = yield* nextControl
  if (start._tag !== "Start") return yield* Effect.dieMessage(`expected Start, got ${start._tag}`)

  let requests = 0
  const snapshots = (stepId: string): Stream.Stream<Snapshot, StoreUnavailable> =>
    Stream.unwrap(Effect.sync(() => {
      const requestId = ++requests
      post({ _tag: "ReadSnapshots", requestId, stepId })
      return Stream.repeatEffectChunkOption(
        Effect.flatMap(Effect.orDie(nextControl), (message) => {
          if (message._tag === "Snapshots" && message.requestId === requestId) {
            return Effect.succeed(Chunk.unsafeFromArray(message.snapshots))
          }
          if (message._tag === "SnapshotsEnd" && message.requestId === requestId) {
            return message.error === undefined
              ? Effect.fail(Option.none())
              : Effect.fail(
                Option.some(
                  new StoreUnavailable({ store: "coordinator", reason: "snapshot read failed", cause: message.error })
                )
              )
          }
          return Effect.dieMessage(`unexpected ${message._tag} while reading snapshots`)
        })
      )
    }))

  const context: RunContext = { dataflowId: dataflow.id, workerIndex: data.workerIndex, epoch: start.resumeEpoch }

  let exchanges: ReadonlyArray<ExchangeOperator> = []
  const transport: ExchangeTransport = {
    workerIndex: data.workerIndex,
    workerCount: data.workerCount,
    send: (to, message, transfer) => data.peers[to]!.postMessage(message, transfer as Array<ArrayBuffer> | undefined),
    serveUntil: (ready) =>
      Effect.whileLoop({
        while: () => !ready(),
        body: () => Effect.flatMap(Queue.take(inbox), (message) => exchanges[message.exchange].receiveMessage(message)),
        step: () => {}
      })
  }
  const built = yield* buildOperators(dataflow, context, transport)
  exchanges = built.exchanges
  const { inputs, keyed } = built
  for (const operator of keyed) yield* operator.load(snapshots(operator.stepId))
  const stream = yield* openInputs(
    inputs,
    { resumeEpoch: start.resumeEpoch, snapshots },
    { replayUnresumableInputs: data.replayUnresumableInputs },
    context,
    (p) => ownsPartition(p, data.workerIndex, data.workerCount)
  )
  const policy = data.epoch._tag === "Interval" ? Epoch.interval(data.epoch.millis) : Epoch.everyItems(data.epoch.items)
  const reader = yield* openEpochReader(stream, policy, inputs, context, { inbox, exchanges })

  // Epoch e + 1 starts only after e is committed by every worker: a worker that
  // fails in e + 1 then never costs the others the commit of e. (Letting e + 1
  // overlap e's commit was measured, gained little, and lost that guarantee.)
  for (let epoch = start.resumeEpoch;; epoch++) {
    context.epoch = epoch
    const writes = new EpochWritesBuilder()
    const outputs: Array<OutputRecord> = []
    const transaction: EpochTransaction = {
      epoch,
      write: (stepId, key, value) => writes.write(stepId, key, value),
      writeOutput: (record) => outputs.push(record)
    }
    const progress = yield* reader.runEpoch(transaction)
    const encoded = writes.finish()
    post(
      { _tag: "EpochReady", epoch, writes: encoded.writes, outputs, drained: reader.drained, items: progress.items },
      encoded.transfer
    )
    const reply = yield* nextControl
    if (reply._tag !== "Committed" || reply.epoch !== epoch) {
      return yield* Effect.dieMessage(`expected the commit of epoch ${epoch}, got ${reply._tag}`)
    }
    if (reply.finish) break
  }
  post({ _tag: "Finished" })
}).pipe(Effect.scoped)

Effect.runPromiseExit(main).then((exit) => {
  if (exit._tag === "Success") return
  const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  const encoded = failure === undefined ? undefined : Schema.encodeUnknownEither(DataflowErrorSchema)(failure)
  post({
    _tag: "Failed",
    error: encoded !== undefined && encoded._tag === "Right"
      ? encoded.right
      : { _tag: "Defect", message: String(exit.cause) }
  })
})
