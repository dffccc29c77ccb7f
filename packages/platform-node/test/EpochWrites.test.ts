import { assert, describe, it } from "@effect/vitest"
import type { SnapshotWrite } from "@sluice/core/RecoveryStore"
import * as EpochWrites from "../src/internal/epochWrites.js"

const bytes = (text: string) => new TextEncoder().encode(text)

const received = (writes: ReadonlyArray<SnapshotWrite>) => {
  const builder = new EpochWrites.EpochWritesBuilder()
  for (const { key, stepId, value } of writes) builder.write(stepId, key, value)
  const { transfer, writes: encoded } = builder.finish()
  // what postMessage does: a structured clone that moves the transferred buffers
  const message = structuredClone(encoded, { transfer: [...transfer] })
  return { message, writes: EpochWrites.decode(message) }
}

const roundTrip = (writes: ReadonlyArray<SnapshotWrite>) => received(writes).writes

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
    const { message, writes } = received([
      { stepId: "s", key: "k", value: bytes("1") },
      { stepId: "s", key: "big", value: big }
    ])
    // the property, not a size: Node's Buffer pool differs by version (8 KiB on 20, 64 KiB on 24)
    assert.notStrictEqual(writes[0].value!.buffer, message.values)
    assert.notStrictEqual(writes[1].value!.buffer, message.values)
    assert.notStrictEqual(writes[0].value!.buffer, writes[1].value!.buffer)
  })
})
