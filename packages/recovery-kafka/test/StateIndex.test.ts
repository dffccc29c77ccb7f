import { assert, describe, it } from "@effect/vitest"
import type { RecoveryStore } from "@sluice/core"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { decodeHeld, decodeStateKey, decodeValue, StateKeyJson, versionKey } from "../src/internal/records.js"
import { type Plan, StateIndex } from "../src/internal/stateIndex.js"

const encoder = new TextEncoder()
type Write = RecoveryStore.SnapshotWrite
const put = (key: string, value: string): Write => ({ stepId: "count", key, value })
const output = (value: string): RecoveryStore.OutputRecord => ({
  destination: "out",
  key: null,
  value: encoder.encode(value)
})

/** The plan's state records as text: `key → kind` or `key → tombstone`. */
const recordsOf = (plan: Plan) =>
  plan.stateRecords.map(({ key, value }) => {
    const decoded = decodeStateKey(key)
    assert.isDefined(decoded, `a state key sluice can read back: ${key.toString()}`)
    const kind = value === null ? "tombstone" : decodeValue(value)
    return `${key.toString()} → ${typeof kind === "string" ? kind : kind._tag === "Value" ? kind.kind : kind._tag}`
  })

describe("Kafka store: state index", () => {
  it("an epoch not every worker has completed holds its outputs in the state topic; a later agreed commit releases them", () => {
    const index = new StateIndex()
    const ahead = index.planCommit(1, [put("a", "1")], [output("x"), output("y")], 0)
    assert.deepStrictEqual(recordsOf(ahead), [
      `["v","count","a",1] → snapshot`,
      `["o",1,0] → held`,
      `["o",1,1] → held`
    ])
    assert.deepStrictEqual(ahead.outputs, [])
    const held = decodeValue(ahead.stateRecords[1].value!)
    assert.strictEqual(held._tag === "Value" && decodeHeld(held.payload)?.destination, "out")
    ahead.apply()
    assert.strictEqual(index.heldCount, 2)

    const agreed = index.planCommit(2, [put("a", "2")], [output("z")], 2)
    assert.deepStrictEqual(recordsOf(agreed), [
      `["v","count","a",2] → snapshot`,
      `["v","count","a",1] → tombstone`,
      `["o",1,0] → tombstone`,
      `["o",1,1] → tombstone`
    ])
    assert.deepStrictEqual(
      agreed.outputs.map(({ epoch, record }) => `${epoch}:${new TextDecoder().decode(record.value)}`),
      [
        "1:x",
        "1:y",
        "2:z"
      ]
    )
    agreed.apply()
    assert.strictEqual(index.heldCount, 0)
  })

  it("a discard deletes the versions and held outputs of redone epochs", () => {
    const index = new StateIndex()
    index.planCommit(1, [put("a", "1")], [], 1).apply()
    index.planCommit(2, [put("a", "2")], [output("x")], 1).apply()
    const discard = index.planDiscard(2)
    assert.deepStrictEqual(recordsOf(discard), [`["v","count","a",2] → tombstone`, `["o",2,0] → tombstone`])
    discard.apply()
    assert.strictEqual(index.heldCount, 0)
    assert.deepStrictEqual(recordsOf(index.planDiscard(2)), [])
  })

  it("a reset deletes everything and produces the held outputs of agreed epochs, not the others", () => {
    const index = new StateIndex()
    index.planCommit(1, [put("a", "1")], [output("x")], 0).apply()
    index.planCommit(2, [put("b", "2")], [output("y")], 0).apply()
    // the other workers have completed epoch 1 since
    const reset = index.planReset(1)
    assert.deepStrictEqual(reset.outputs.map(({ epoch }) => epoch), [1])
    assert.deepStrictEqual(recordsOf(reset), [
      `["v","count","a",1] → tombstone`,
      `["v","count","b",2] → tombstone`,
      `["o",1,0] → tombstone`,
      `["o",2,0] → tombstone`
    ])
    reset.apply()
    assert.strictEqual(index.heldCount, 0)
    assert.deepStrictEqual(index.versions.counts(), { snapshots: 0, deletions: 0 })
  })

  it("values read on resume serve the resume; after the first commit the index asks for a fresh read", () => {
    const index = new StateIndex()
    index.loadVersion({ stepId: "count", key: "a", epoch: 1 }, { deleted: false, payload: encoder.encode("1") })
    index.loadHeld(1, 0, { destination: "out", key: null, value: encoder.encode("x") })
    assert.strictEqual([...index.versions.snapshotsAt("count", 1) ?? []].length, 1)
    index.planCommit(2, [put("b", "2")], [], 0).apply()
    assert.strictEqual(index.versions.snapshotsAt("count", 1), undefined)
    assert.strictEqual(index.heldCount, 1)
  })

  describe("version keys are written and read by hand, exactly as the key schema would", () => {
    const awkward = ["", "a", "with \"quotes\" and \\", "ünïcödé ✓ 𝄞", "line\nbreak\u2028", "[\"v\"]", "0"]

    it("a written version key is the schema's text", () => {
      for (const stepId of awkward) {
        for (const key of awkward) {
          for (const epoch of [0, 1, 2 ** 31, Number.MAX_SAFE_INTEGER]) {
            assert.strictEqual(
              versionKey(stepId, key, epoch).toString("utf8"),
              Schema.encodeSync(StateKeyJson)({ _tag: "Version", stepId, key, epoch })
            )
          }
        }
      }
    })

    it("a read key is what the schema decodes, and a key the schema refuses is refused", () => {
      const texts = [
        ...awkward.map((key) => JSON.stringify(["v", "count", key, 3])),
        `["v","count","a",0]`,
        // step ids of one length after each other: a reader that reuses the last step's text must compare bytes
        `["v","coins","a",0]`,
        `["v","counT","a",0]`,
        `["v","count","a",0]`,
        `["v","cnt","a",0]`,
        `["v","count","a",-0]`,
        `["v","count","a",01]`,
        `["v","count","a",00]`,
        `["v","count","a",1e3]`,
        `["v","count","a",12345678901234567]`,
        `["v","count","a",999999999999999]`,
        `["v","count","a",9007199254740991]`,
        `["v","count","a",10]`,
        `["v","count","a",]`,
        `["v","count","a",1]x`,
        `["v","count","a",1 ]`,
        ` ["v","count","a",1]`,
        `["v","count","a\u0001",1]`,
        `["v","count","a\u0001b",1]`,
        `["v","count","a\x7f",1]`,
        `["v","count","\u00e9",1]`,
        `["v", "count","a",1]`,
        `["v","count" ,"a",1]`,
        `["v","count","a"`,
        `["v","count`,
        `["v","count","a",-1]`,
        `["v","count","a",1.5]`,
        `["v","count","a",9007199254740993]`,
        `["v","count","a","1"]`,
        `["v","count",1,1]`,
        `["v",null,"a",1]`,
        `["v","count","a",1,2]`,
        `["v","count","a"]`,
        `["V","count","a",1]`,
        `["o",1,2]`,
        `["o",1,-2]`,
        `{"0":"v","1":"count","2":"a","3":1,"length":4}`,
        `"v"`,
        `not json`,
        ``
      ]
      for (const text of texts) {
        const expected = Either.getOrUndefined(Schema.decodeEither(StateKeyJson)(text))
        assert.deepStrictEqual(decodeStateKey(encoder.encode(text)), expected, text)
      }
      assert.isDefined(decodeStateKey(encoder.encode(`["v","count","a",1]`)))
      assert.isUndefined(decodeStateKey(encoder.encode(`["v","count","a",-1]`)))
    })
  })
})
