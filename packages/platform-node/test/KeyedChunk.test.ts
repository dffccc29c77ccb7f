import { assert, describe, it } from "@effect/vitest"
import * as KeyedChunk from "../src/internal/keyedChunk.js"

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
