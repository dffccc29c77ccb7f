import * as Effect from "effect/Effect"
import { BarrierAlignment, Operator, type RunContext } from "../operators.js"
import * as KeyedChunk from "./keyedChunk.js"
import { ownerOfKey } from "./keyGroup.js"
import type { ExchangeMessage } from "./protocol.js"

/** How an exchange reaches the other workers. @internal */
export interface ExchangeTransport {
  readonly workerIndex: number
  readonly workerCount: number
  readonly send: (to: number, message: ExchangeMessage, transfer?: ReadonlyArray<ArrayBuffer>) => void
  /** Serves this worker's incoming messages until `ready` holds, so waiting for credit cannot deadlock. */
  readonly serveUntil: (ready: () => boolean) => Effect.Effect<void, any>
}

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

  constructor(
    stepId: string,
    context: RunContext,
    readonly exchangeIndex: number,
    readonly transport: ExchangeTransport
  ) {
    super(stepId, context)
    this.alignment = new BarrierAlignment(transport.workerCount)
    this.inFlight = new Array(transport.workerCount).fill(0)
  }

  get forwardedEpoch(): number {
    return this.alignment.forwardedEpoch
  }

  get allEnded(): boolean {
    return this.alignment.allEnded
  }

  push(_slot: number, items: ReadonlyArray<unknown>): Effect.Effect<void, any> {
    return Effect.suspend(() => {
      const { workerCount, workerIndex } = this.transport
      const shares: Array<Array<readonly [string, unknown]>> = Array.from({ length: workerCount }, () => [])
      const pairs = items as ReadonlyArray<readonly [string, unknown]>
      for (let i = 0; i < pairs.length; i++) shares[ownerOfKey(pairs[i][0], workerCount)].push(pairs[i])
      let saturated = false
      for (let to = 0; to < workerCount; to++) {
        if (to === workerIndex || shares[to].length === 0) continue
        const { chunk, transfer } = KeyedChunk.encode(shares[to])
        this.transport.send(to, { _tag: "Items", exchange: this.exchangeIndex, from: workerIndex, chunk }, transfer)
        if (++this.inFlight[to] >= CREDITS) saturated = true
      }
      const local = this.receive(workerIndex, shares[workerIndex])
      return saturated
        ? Effect.zipRight(local, this.transport.serveUntil(() => this.inFlight.every((n) => n < CREDITS)))
        : local
    })
  }

  /** Items from worker `from`, local or decoded from a message. */
  receive(from: number, items: ReadonlyArray<unknown>): Effect.Effect<void, any> {
    return this.alignment.items(from, items, this.pass)
  }

  receiveMessage(message: ExchangeMessage): Effect.Effect<void, any> {
    switch (message._tag) {
      case "Items":
        return Effect.suspend(() => {
          const { workerIndex } = this.transport
          return Effect.zipRight(
            this.receive(message.from, KeyedChunk.decode(message.chunk)),
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

  override barrier(_slot: number): Effect.Effect<void, any> {
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

  private receiveBarrier(from: number, epoch: number): Effect.Effect<void, any> {
    const forward = Effect.suspend(() => {
      const transaction = this.context.transaction
      return transaction === undefined || transaction.epoch !== epoch
        ? Effect.dieMessage(`exchange ${this.stepId} aligned epoch ${epoch} outside its transaction`)
        : this.forwardBarrier(transaction)
    })
    return this.alignment.barrier(from, epoch, forward, this.pass)
  }

  override end(_slot: number): Effect.Effect<void, any> {
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

  private receiveEnd(from: number): Effect.Effect<void, any> {
    return this.alignment.end(from, Effect.suspend(() => this.forwardEnd()))
  }
}
