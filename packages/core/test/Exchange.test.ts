import { assert, describe, it } from "@effect/vitest"
import type { EpochTransaction } from "@sluice/core/RecoveryStore"
import { Effect, Queue } from "effect"
import { CREDITS, type ExchangeMessage, ExchangeOperator, ExchangeTransport } from "../src/internal/exchange.js"
import { KEY_GROUPS, keyGroupOf, ownerOfGroup, ownerOfKey } from "../src/internal/keyGroup.js"
import { Operator, type RunContext } from "../src/internal/operators.js"

class Collect extends Operator {
  readonly items: Array<unknown> = []
  barriers: Array<number> = []
  push(_slot: number, items: ReadonlyArray<unknown>) {
    return Effect.sync(() => void this.items.push(...items))
  }
  override barrier(_slot: number, transaction: EpochTransaction) {
    return Effect.sync(() => void this.barriers.push(transaction.epoch))
  }
}

const keyOwnedBy = (worker: number, workerCount: number, n: number) =>
  Array.from({ length: 10_000 }, (_, i) => `k${i}`).filter((k) => ownerOfKey(k, workerCount) === worker).slice(0, n)

describe("key groups", () => {
  it("every key group has one owner, and owners cover contiguous ranges of groups", () => {
    for (const workers of [1, 2, 3, 5, 8]) {
      const owners = Array.from({ length: KEY_GROUPS }, (_, g) => ownerOfGroup(g, workers))
      assert.deepStrictEqual([...new Set(owners)], Array.from({ length: workers }, (_, w) => w))
      assert.deepStrictEqual(owners, [...owners].sort((a, b) => a - b))
    }
    assert.strictEqual(keyGroupOf("user-42"), keyGroupOf("user-42"))
  })
})

describe("exchange", () => {
  const setup = () => {
    const sent: Array<{ to: number; message: ExchangeMessage }> = []
    let waits = 0
    let maxInFlight = 0
    const context: RunContext = { dataflowId: "x", workerIndex: 0, epoch: 1 }

    let acked = 0
    const unacked = () => sent.filter((s) => s.message._tag === "Items").length - acked
    const transport = new (class extends ExchangeTransport {
      // the receiver catches up: it acknowledges everything in flight
      override serveUntil(ready: () => boolean) {
        return Effect.gen(function*() {
          waits++
          while (!ready()) {
            acked++
            yield* exchange.receiveMessage({ _tag: "Ack", exchange: 0, from: 1 })
          }
        })
      }
    })({
      workerIndex: 0,
      workerCount: 2,
      send: (to, message) => {
        sent.push({ to, message })
        maxInFlight = Math.max(maxInFlight, unacked())
      },
      inbox: Effect.runSync(Queue.unbounded<ExchangeMessage>())
    })
    const exchange: ExchangeOperator = new ExchangeOperator("count/exchange", context, 0, transport)
    const downstream = new Collect("count", context)
    exchange.targets[0].push({ operator: downstream, slot: 0 })
    return { context, downstream, exchange, sent, stats: () => ({ maxInFlight, waits }) }
  }

  it.effect("routes each key to its owner and keeps local keys local", () =>
    Effect.gen(function*() {
      const { downstream, exchange, sent } = setup()
      const mine = keyOwnedBy(0, 2, 3)
      const theirs = keyOwnedBy(1, 2, 2)
      yield* exchange.push(0, [...mine, ...theirs].map((k) => [k, 1] as const))
      assert.deepStrictEqual(downstream.items.map((p: any) => p[0]), mine)
      assert.deepStrictEqual(sent.map((s) => [s.to, s.message._tag]), [[1, "Items"]])
    }))

  it.effect("a sender never has more than CREDITS chunks unacknowledged by one receiver", () =>
    Effect.gen(function*() {
      const { exchange, stats } = setup()
      const [remote] = keyOwnedBy(1, 2, 1)
      for (let i = 0; i < 3 * CREDITS; i++) yield* exchange.push(0, [[remote, i]])
      assert.strictEqual(stats().maxInFlight, CREDITS)
      // the fake receiver grants one credit per wait, so once saturated every further chunk waits
      assert.strictEqual(stats().waits, 3 * CREDITS - (CREDITS - 1))
    }))

  it.effect("the barrier goes on only when every worker has sent it; items of a sender already past it wait", () =>
    Effect.gen(function*() {
      const { context, downstream, exchange, sent } = setup()
      const writes: Array<unknown> = []
      context.transaction = { epoch: 1, write: (...args) => writes.push(args), writeOutput: () => {} }
      yield* exchange.barrier(0)
      assert.deepStrictEqual(sent.map((s) => s.message._tag), ["Barrier"])
      assert.deepStrictEqual(downstream.barriers, [])
      // worker 0 is past epoch 1: its next items are held until worker 1's barrier arrives
      const [local] = keyOwnedBy(0, 2, 1)
      yield* exchange.receive(0, [[local, "early"]])
      assert.deepStrictEqual(downstream.items, [])
      yield* exchange.receiveMessage({ _tag: "Barrier", exchange: 0, from: 1, epoch: 1 })
      assert.deepStrictEqual(downstream.barriers, [1])
      assert.deepStrictEqual(downstream.items, [[local, "early"]])
    }))
})
