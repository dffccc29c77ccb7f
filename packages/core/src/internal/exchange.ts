import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type { DataflowError } from "../DataflowError.js"
import { ownerOfKey } from "./keyGroup.js"
import { BarrierAlignment, Operator, type RunContext } from "./operators.js"

/**
 * What travels between workers for one exchange step: a chunk of keyed items,
 * a barrier, or the end of a sender's input. A thread runtime chooses the wire
 * form of `items` (the Node runtime sends keys and values as transferred
 * buffers) and hands received messages back decoded. Public through
 * `WorkerRuntime.ts`.
 */
export type ExchangeMessage =
  | {
    readonly _tag: "Items"
    readonly exchange: number
    readonly from: number
    readonly items: ReadonlyArray<readonly [string, unknown]>
  }
  | { readonly _tag: "Barrier"; readonly exchange: number; readonly from: number; readonly epoch: number }
  | { readonly _tag: "End"; readonly exchange: number; readonly from: number }
  /** A chunk from `from` was processed: the receiver grants one credit back. */
  | { readonly _tag: "Ack"; readonly exchange: number; readonly from: number }

/**
 * How a worker reaches the others: `send` delivers a message to worker `to`,
 * and `inbox` receives the messages the others sent to this worker. Public
 * through `WorkerRuntime.ts`.
 */
export interface ExchangeLink {
  readonly workerIndex: number
  readonly workerCount: number
  readonly send: (to: number, message: ExchangeMessage) => void
  readonly inbox: Queue.Queue<ExchangeMessage>
}

/** An exchange link and the exchange steps it serves. @internal */
export class ExchangeTransport {
  exchanges: ReadonlyArray<ExchangeOperator> = []
  constructor(readonly link: ExchangeLink) {}

  get workerIndex(): number {
    return this.link.workerIndex
  }

  get workerCount(): number {
    return this.link.workerCount
  }

  send(to: number, message: ExchangeMessage): void {
    this.link.send(to, message)
  }

  /** Hands one received message to the exchange step it is for. */
  dispatch(message: ExchangeMessage): Effect.Effect<void, DataflowError> {
    return this.exchanges[message.exchange].receiveMessage(message)
  }

  /** Serves incoming messages until `ready` holds, so waiting for credit cannot deadlock. */
  serveUntil(ready: () => boolean): Effect.Effect<void, DataflowError> {
    return Effect.whileLoop({
      while: () => !ready(),
      body: () => Effect.flatMap(Queue.take(this.link.inbox), (message) => this.dispatch(message)),
      step: () => {}
    })
  }
}

/**
 * How an exchange picks the worker of an item: the owner of its key, or the
 * next worker in turn (`redistribute`, for items without keys).
 *
 * @internal
 */
export type ExchangeRoute = "byKey" | "roundRobin"

/**
 * Chunks a sender may have in flight to one receiver: a slow worker makes its
 * senders wait instead of growing their queues.
 *
 * @internal
 */
export const CREDITS = 8

/**
 * Routes keyed items to the worker that owns their key, a chunk per
 * destination, and aligns barriers over every sender: the barrier of epoch `e`
 * goes on only when all workers have sent theirs, and items that arrive from a
 * sender already past `e` wait until then (R2 across workers).
 *
 * @internal
 */
export class ExchangeOperator extends Operator {
  private readonly alignment: BarrierAlignment
  private readonly inFlight: Array<number>
  private readonly pass = (items: ReadonlyArray<unknown>) => this.emit(0, items)
  /** The worker the next item goes to, for `roundRobin`. */
  private nextWorker: number

  constructor(
    stepId: string,
    context: RunContext,
    readonly exchangeIndex: number,
    readonly transport: ExchangeTransport,
    readonly route: ExchangeRoute = "byKey"
  ) {
    super(stepId, context)
    this.alignment = new BarrierAlignment(transport.workerCount)
    this.inFlight = new Array(transport.workerCount).fill(0)
    // workers start at their own index so that their first items do not all go to worker 0
    this.nextWorker = transport.workerIndex
  }

  /** Splits a chunk by destination worker; round robin items travel as `["", item]`, the wire form of keyed items. */
  private split(items: ReadonlyArray<unknown>): Array<Array<unknown>> {
    const workerCount = this.transport.workerCount
    const shares: Array<Array<unknown>> = Array.from({ length: workerCount }, () => [])
    if (this.route === "byKey") {
      const pairs = items as ReadonlyArray<readonly [string, unknown]>
      for (let i = 0; i < pairs.length; i++) shares[ownerOfKey(pairs[i][0], workerCount)].push(pairs[i])
      return shares
    }
    const workerIndex = this.transport.workerIndex
    let to = this.nextWorker
    for (let i = 0; i < items.length; i++) {
      shares[to].push(to === workerIndex ? items[i] : ["", items[i]])
      to = to + 1 === workerCount ? 0 : to + 1
    }
    this.nextWorker = to
    return shares
  }

  get forwardedEpoch(): number {
    return this.alignment.forwardedEpoch
  }

  get allEnded(): boolean {
    return this.alignment.allEnded
  }

  push(_slot: number, items: ReadonlyArray<unknown>): Effect.Effect<void, DataflowError> {
    return Effect.suspend(() => {
      const { workerCount, workerIndex } = this.transport
      const shares = this.split(items)
      let saturated = false
      for (let to = 0; to < workerCount; to++) {
        if (to === workerIndex || shares[to].length === 0) continue
        const sent = shares[to] as ReadonlyArray<readonly [string, unknown]>
        this.transport.send(to, { _tag: "Items", exchange: this.exchangeIndex, from: workerIndex, items: sent })
        if (++this.inFlight[to] >= CREDITS) saturated = true
      }
      const local = this.receive(workerIndex, shares[workerIndex])
      return saturated
        ? Effect.zipRight(local, this.transport.serveUntil(() => this.inFlight.every((n) => n < CREDITS)))
        : local
    })
  }

  /** Items from worker `from`, local or decoded from a message. */
  receive(from: number, items: ReadonlyArray<unknown>): Effect.Effect<void, DataflowError> {
    return this.alignment.items(from, items, this.pass)
  }

  receiveMessage(message: ExchangeMessage): Effect.Effect<void, DataflowError> {
    switch (message._tag) {
      case "Items":
        return Effect.suspend(() => {
          const { workerIndex } = this.transport
          const items = this.route === "byKey" ? message.items : message.items.map((pair) => pair[1])
          return Effect.zipRight(
            this.receive(message.from, items),
            Effect.sync(() =>
              this.transport.send(message.from, { _tag: "Ack", exchange: this.exchangeIndex, from: workerIndex })
            )
          )
        })
      case "Ack":
        return Effect.sync(() => {
          this.inFlight[message.from]--
        })
      case "Barrier":
        return this.receiveBarrier(message.from, message.epoch)
      case "End":
        return this.receiveEnd(message.from)
    }
  }

  override barrier(_slot: number): Effect.Effect<void, DataflowError> {
    return Effect.suspend(() => {
      const { workerCount, workerIndex } = this.transport
      const epoch = this.context.epoch
      for (let to = 0; to < workerCount; to++) {
        if (to !== workerIndex) {
          this.transport.send(to, { _tag: "Barrier", exchange: this.exchangeIndex, from: workerIndex, epoch })
        }
      }
      return this.receiveBarrier(workerIndex, epoch)
    })
  }

  private receiveBarrier(from: number, epoch: number): Effect.Effect<void, DataflowError> {
    const forward = Effect.suspend(() => {
      const transaction = this.context.transaction
      return transaction === undefined || transaction.epoch !== epoch
        ? Effect.dieMessage(`exchange ${this.stepId} aligned epoch ${epoch} outside its transaction`)
        : this.forwardBarrier(transaction)
    })
    return this.alignment.barrier(from, epoch, forward, this.pass)
  }

  override end(_slot: number): Effect.Effect<void, DataflowError> {
    return Effect.suspend(() => {
      const { workerCount, workerIndex } = this.transport
      for (let to = 0; to < workerCount; to++) {
        if (to !== workerIndex) {
          this.transport.send(to, { _tag: "End", exchange: this.exchangeIndex, from: workerIndex })
        }
      }
      return this.receiveEnd(workerIndex)
    })
  }

  private receiveEnd(from: number): Effect.Effect<void, DataflowError> {
    return this.alignment.end(from, Effect.suspend(() => this.forwardEnd()))
  }
}
