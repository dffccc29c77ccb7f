import { assert, describe, it } from "@effect/vitest"
import type { SnapshotWrite } from "@sluice/core/RecoveryStore"
import * as EpochWrites from "../src/internal/epochWrites.js"

const received = (writes: ReadonlyArray<SnapshotWrite>) => {
  const builder = new EpochWrites.EpochWritesBuilder()
  for (const { key, stepId, value } of writes) builder.write(stepId, key, value)
  const { transfer, writes: encoded } = builder.finish()
  // what postMessage does: a structured clone that moves the transferred buffers
  const message = structuredClone(encoded, { transfer: [...transfer] })
  return { message, writes: EpochWrites.decode(message) }
}

const roundTrip = (writes: ReadonlyArray<SnapshotWrite>) => received(writes).writes

const plain = (writes: ReadonlyArray<SnapshotWrite>) => writes.map(({ key, stepId, value }) => ({ stepId, key, value }))

describe("an epoch's writes on their way to the coordinator", () => {
  it("keep their order, steps, keys, values and tombstones", () => {
    const writes: Array<SnapshotWrite> = [
      { stepId: "count", key: "a", value: "1" },
      { stepId: "count", key: "ключ🦀", value: null },
      { stepId: "count", key: "", value: "" },
      { stepId: "lines", key: "0", value: "[17]" },
      { stepId: "count", key: "b", value: "{\"n\":\"ключ🦀\"}" }
    ]
    assert.deepStrictEqual(plain(roundTrip(writes)), plain(writes))
  })

  it("an epoch without writes decodes to none", () => {
    assert.deepStrictEqual(roundTrip([]), [])
  })

  it("the values' buffer is the epoch's own: transferring it leaves the sending thread's Buffer pool alone", () => {
    // small values: what Node would have put in its shared pool
    const pooled = Buffer.from("pool")
    const { message, writes } = received([
      { stepId: "s", key: "k", value: "1" },
      { stepId: "s", key: "l", value: "22" }
    ])
    assert.strictEqual(message.values.byteLength, 2 * 3)
    assert.notStrictEqual(pooled.buffer.byteLength, 0)
    assert.strictEqual(Buffer.from("after").toString(), "after")
    assert.deepStrictEqual(writes.map((write) => write.value), ["1", "22"])
  })
})
