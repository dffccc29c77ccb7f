import { assert, describe, it } from "@effect/vitest"
import type { SnapshotWrite } from "@sluice/core/RecoveryStore"
import * as EpochWrites from "../src/internal/workers/epochWrites.js"

const bytes = (text: string) => new TextEncoder().encode(text)

const roundTrip = (writes: ReadonlyArray<SnapshotWrite>) => {
  const builder = new EpochWrites.EpochWritesBuilder()
  for (const { key, stepId, value } of writes) builder.write(stepId, key, value)
  const { transfer, writes: encoded } = builder.finish()
  // what postMessage does: a structured clone that moves the transferred buffers
  return EpochWrites.decode(structuredClone(encoded, { transfer: [...transfer] }))
}

const plain = (writes: ReadonlyArray<SnapshotWrite>) =>
  writes.map(({ key, stepId, value }) => ({ stepId, key, value: value === null ? null : [...value] }))

describe("an epoch's writes on their way to the coordinator", () => {
  it("keep their order, steps, keys, values and tombstones", () => {
    const writes: Array<SnapshotWrite> = [
      { stepId: "count", key: "a", value: bytes("1") },
      { stepId: "count", key: "ключ🦀", value: null },
      { stepId: "count", key: "", value: bytes("") },
      { stepId: "lines", key: "0", value: bytes("[17]") },
      { stepId: "count", key: "b", value: bytes("{\"n\":2}") }
    ]
    assert.deepStrictEqual(plain(roundTrip(writes)), plain(writes))
  })

  it("an epoch without writes decodes to none", () => {
    assert.deepStrictEqual(roundTrip([]), [])
  })

  it("each decoded value owns its bytes: keeping one does not keep the epoch's buffer", () => {
    const big = new Uint8Array(64 * 1024).fill(7)
    const [first] = roundTrip([{ stepId: "s", key: "k", value: bytes("1") }, { stepId: "s", key: "big", value: big }])
    assert.isTrue(first.value!.buffer.byteLength < big.byteLength)
  })
})
