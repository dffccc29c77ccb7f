import { assert, describe, it } from "@effect/vitest"
import type { EpochTransaction } from "@sluice/core/RecoveryStore"
import { Effect } from "effect"
import { Operator, type RunContext } from "../src/internal/operators.js"
import { CREDITS, ExchangeOperator } from "../src/internal/workers/exchange.js"
import * as KeyedChunk from "../src/internal/workers/keyedChunk.js"
import { KEY_GROUPS, keyGroupOf, ownerOfGroup, ownerOfKey } from "../src/internal/workers/keyGroup.js"
import type { ExchangeMessage } from "../src/internal/workers/protocol.js"

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

describe("keyed chunks on the wire", () => {
  const roundTrip = (pairs: ReadonlyArray<readonly [string, unknown]>) => {
    const { chunk, transfer } = KeyedChunk.encode(pairs)
    // what postMessage does: a structured clone that moves the transferred buffers
    return { decoded: KeyedChunk.decode(structuredClone(chunk, { transfer: [...transfer] })), chunk, transfer }
  }

  it("returns the pairs in order, keys of any length and alphabet included", () => {
    const pairs = [["", 0], ["a", { n: 1 }], ["ключ", [1, 2]], ["🦀🦀", null], ["a", "not a"], [
      "x".repeat(5000),
      1.5
    ]] as const
    assert.deepStrictEqual(roundTrip(pairs).decoded, pairs.map((p) => [...p]))
  })

  it("sends no values when every value is its key, and gets them back as the keys", () => {
    const words = ["to", "be", "or", "not", "to", "be"]
    const { chunk, decoded, transfer } = roundTrip(words.map((w) => [w, w]))
    assert.strictEqual(chunk.values, undefined)
    assert.strictEqual(transfer.length, 1)
    assert.deepStrictEqual(decoded, words.map((w) => [w, w]))
  })

  it("an empty chunk stays empty", () => {
    assert.deepStrictEqual(roundTrip([]).decoded, [])
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
    const exchange: ExchangeOperator = new ExchangeOperator("count/exchange", context, 0, {
      workerIndex: 0,
      workerCount: 2,
      send: (to, message) => {
        sent.push({ to, message })
        maxInFlight = Math.max(maxInFlight, unacked())
      },
      // the receiver catches up: it acknowledges everything in flight
      serveUntil: (ready) =>
        Effect.gen(function*() {
          waits++
          while (!ready()) {
            acked++
            yield* exchange.receiveMessage({ _tag: "Ack", exchange: 0, from: 1 })
          }
        })
    })
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
