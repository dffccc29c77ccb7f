import { assert, describe, it } from "@effect/vitest"
import { type RecoveryStore, StoreKit } from "@sluice/core"
import { Either } from "effect"
import * as zlib from "node:zlib"

const encoder = new TextEncoder()
const put = (key: string, value: string, stepId = "count"): RecoveryStore.SnapshotWrite => ({ stepId, key, value })
const del = (key: string, stepId = "count"): RecoveryStore.SnapshotWrite => ({ stepId, key, value: null })

const texts = (snapshots: Iterable<RecoveryStore.Snapshot> | undefined) =>
  snapshots === undefined
    ? undefined
    : Object.fromEntries(Array.from(snapshots, ({ key, value }) => [key, value] as const))

const refs = (plan: StoreKit.VersionPlan) => ({
  written: plan.written.map(({ epoch, key, value }) => `${key}@${epoch}${value === null ? " deleted" : ""}`),
  dropped: plan.dropped.map(({ epoch, key }) => `${key}@${epoch}`)
})

describe("StoreKit agreement", () => {
  it("the agreed epoch is the smallest last completed epoch; a worker that completed none holds it at 0", () => {
    assert.strictEqual(StoreKit.agreedEpoch([{ workerIndex: 0, epoch: 7 }, { workerIndex: 1, epoch: 5 }], 2), 5)
    assert.strictEqual(StoreKit.agreedEpoch([{ workerIndex: 0, epoch: 7 }], 2), 0)
    assert.strictEqual(StoreKit.agreedEpoch(new Map([[0, 3], [1, 9]]), 2), 3)
    // progress of workers beyond the worker count (a smaller rescale) does not count
    assert.strictEqual(StoreKit.agreedEpoch([{ workerIndex: 0, epoch: 4 }, { workerIndex: 1, epoch: 2 }], 1), 4)
    assert.strictEqual(StoreKit.agreedEpoch([], 0), 0)
  })

  it("a committing worker counts with the epoch it commits, not with what it completed before", () => {
    const progress = new Map([[0, 2], [1, 6]])
    assert.strictEqual(StoreKit.agreedEpoch(progress, 2, { workerIndex: 0, epoch: 3 }), 3)
    assert.strictEqual(StoreKit.agreedEpoch(progress, 2, { workerIndex: 0, epoch: 8 }), 6)
    assert.strictEqual(StoreKit.agreedEpoch(new Map(), 1, { workerIndex: 0, epoch: 4 }), 4)
  })

  it("R3: the resume epoch is one past the agreed epoch", () => {
    assert.strictEqual(StoreKit.resumeEpoch([{ workerIndex: 0, epoch: 7 }, { workerIndex: 1, epoch: 5 }], 2), 6)
    assert.strictEqual(StoreKit.resumeEpoch([], 3), 1)
  })

  it("a discard rewinds a worker that is ahead, and leaves one that is behind", () => {
    assert.strictEqual(StoreKit.rewindProgress(9, 6), 5)
    assert.strictEqual(StoreKit.rewindProgress(6, 6), 5)
    assert.strictEqual(StoreKit.rewindProgress(5, 6), 5)
    assert.strictEqual(StoreKit.rewindProgress(3, 1), undefined)
    assert.strictEqual(StoreKit.rewindProgress(undefined, 4), undefined)
  })
})

describe("StoreKit collection", () => {
  const version = (epoch: number, deleted = false) => ({ epoch, deleted })

  it("R6: keeps the newest version at or before the agreed epoch and every newer one", () => {
    const versions = [version(1), version(3), version(5), version(8)]
    assert.deepStrictEqual(StoreKit.collectVersions(versions, 4).map((v) => v.epoch), [3, 5, 8])
    assert.deepStrictEqual(StoreKit.collectVersions(versions, 0).map((v) => v.epoch), [1, 3, 5, 8])
    assert.deepStrictEqual(StoreKit.collectVersions(versions, 9).map((v) => v.epoch), [8])
  })

  it("R6: a deletion marker at or before the agreed epoch goes with everything older", () => {
    const versions = [version(1), version(3, true), version(5)]
    assert.deepStrictEqual(StoreKit.collectVersions(versions, 3).map((v) => v.epoch), [5])
    assert.deepStrictEqual(StoreKit.collectVersions(versions, 2).map((v) => v.epoch), [1, 3, 5])
    assert.deepStrictEqual(StoreKit.collectVersions([version(2, true)], 2), [])
  })

  it("a commit every worker agrees replaces the key's versions; one ahead of the others adds a version", () => {
    const log = new StoreKit.VersionLog({ keepValues: true })
    const first = log.planCommit(1, [put("a", "1"), put("b", "1")], 0)
    assert.deepStrictEqual(refs(first), { written: ["a@1", "b@1"], dropped: [] })
    first.apply()
    const ahead = log.planCommit(2, [put("a", "2"), del("b")], 1)
    assert.deepStrictEqual(refs(ahead), { written: ["a@2", "b@2 deleted"], dropped: [] })
    ahead.apply()
    assert.deepStrictEqual(texts(log.snapshotsAt("count", 1)), { a: "1", b: "1" })
    assert.deepStrictEqual(texts(log.snapshotsAt("count", 2)), { a: "2" })
    // the others complete epoch 2: the commit of 3 collects what epoch 2 made obsolete, written or not
    const agreed = log.planCommit(3, [put("c", "3")], 2)
    assert.deepStrictEqual(refs(agreed), { written: ["c@3"], dropped: ["a@1", "b@1", "b@2"] })
    agreed.apply()
    assert.deepStrictEqual(log.counts(), { snapshots: 2, deletions: 0 })
    assert.deepStrictEqual(texts(log.snapshotsAt("count", 3)), { a: "2", c: "3" })
  })

  it("the last write of a key in an epoch counts, and a deletion of a key never written stores nothing", () => {
    const log = new StoreKit.VersionLog({ keepValues: true })
    const plan = log.planCommit(1, [put("a", "1"), put("a", "2"), del("gone")], 1)
    assert.deepStrictEqual(refs(plan), { written: ["a@1"], dropped: [] })
    plan.apply()
    assert.deepStrictEqual(texts(log.snapshotsAt("count", 1)), { a: "2" })
  })

  it("a plan changes nothing until it is applied", () => {
    const log = new StoreKit.VersionLog({ keepValues: true })
    log.planCommit(1, [put("a", "1")], 1).apply()
    const unapplied = log.planCommit(2, [del("a")], 2)
    assert.deepStrictEqual(refs(unapplied), { written: [], dropped: ["a@1"] })
    assert.deepStrictEqual(texts(log.snapshotsAt("count", 2)), { a: "1" })
    assert.strictEqual(log.newestEpoch, 1)
  })

  it("committing in place leaves the log a planned commit leaves, for any writes and agreed epochs", () => {
    // a small deterministic generator: the same sequence on every run
    let seed = 7
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648
      // the high bits: an LCG's low bits repeat with a short period
      return Math.floor(seed / 65536) % n
    }
    const planned = new StoreKit.VersionLog({ keepValues: true })
    const inPlace = new StoreKit.VersionLog({ keepValues: true })
    let agreed = 0
    for (let epoch = 1; epoch <= 60; epoch++) {
      const writes = Array.from({ length: next(8) }, () => {
        const key = `k${next(6)}`
        return next(4) === 0 ? del(key) : put(key, `${epoch}.${next(100)}`)
      })
      // the other worker lags behind by up to three epochs, and sometimes catches up
      agreed = Math.max(agreed, epoch - next(4))
      planned.planCommit(epoch, writes, agreed).apply()
      inPlace.commit(epoch, writes, agreed)
      assert.deepStrictEqual(inPlace.counts(), planned.counts(), `after epoch ${epoch}`)
      for (let at = Math.max(0, agreed - 1); at <= epoch; at++) {
        assert.deepStrictEqual(texts(inPlace.snapshotsAt("count", at)), texts(planned.snapshotsAt("count", at)))
      }
    }
    // collection did happen: at most two versions per key are left beyond the agreed epoch's
    assert.isBelow(planned.counts().snapshots + planned.counts().deletions, 6 * 5)
  })

  it("a discard drops the versions of redone epochs, and costs nothing when there are none", () => {
    const log = new StoreKit.VersionLog({ keepValues: true })
    log.planCommit(1, [put("a", "1")], 0).apply()
    log.planCommit(2, [put("a", "2"), put("b", "2")], 0).apply()
    assert.deepStrictEqual(refs(log.planDiscard(3)), { written: [], dropped: [] })
    const discard = log.planDiscard(2)
    assert.deepStrictEqual(refs(discard), { written: [], dropped: ["a@2", "b@2"] })
    discard.apply()
    assert.strictEqual(log.newestEpoch, 1)
    assert.deepStrictEqual(texts(log.snapshotsAt("count", 5)), { a: "1" })
  })

  it("a reset drops every version", () => {
    const log = new StoreKit.VersionLog({ keepValues: true })
    log.planCommit(1, [put("a", "1"), put("x", "1", "other")], 0).apply()
    const reset = log.planReset()
    assert.deepStrictEqual(reset.dropped.map((v) => `${v.stepId}/${v.key}@${v.epoch}`), ["count/a@1", "other/x@1"])
    reset.apply()
    assert.deepStrictEqual(log.counts(), { snapshots: 0, deletions: 0 })
  })

  it("an index that does not keep values answers undefined once a needed value was forgotten", () => {
    const log = new StoreKit.VersionLog({ keepValues: false })
    log.load({ stepId: "count", key: "a", epoch: 1 }, "1")
    log.load({ stepId: "count", key: "b", epoch: 1 }, null)
    assert.deepStrictEqual(texts(log.snapshotsAt("count", 1)), { a: "1" })
    log.unload({ stepId: "count", key: "b", epoch: 1 })
    assert.deepStrictEqual(log.counts(), { snapshots: 1, deletions: 0 })
    log.forgetValues()
    assert.strictEqual(log.snapshotsAt("count", 1), undefined)
    assert.deepStrictEqual(texts(log.snapshotsAt("other", 1)), {})
  })
})

describe("StoreKit coding", () => {
  it("store meta round-trips, and what does not decode names the field", () => {
    const meta = { dataflowId: "wc", workerCount: 2, schemaVersion: 1, createdAt: 1700000000000 }
    assert.deepStrictEqual(StoreKit.decodeStoreMeta(StoreKit.encodeStoreMeta(meta)), Either.right(meta))
    const missing = StoreKit.decodeStoreMeta(encoder.encode(`{"dataflowId":"wc"}`))
    assert.isTrue(Either.isLeft(missing) && missing.left.includes("workerCount"))
    assert.isTrue(Either.isLeft(StoreKit.decodeStoreMeta(new Uint8Array([0xff, 0xfe]))))
    assert.isTrue(Either.isLeft(StoreKit.decodeStoreMeta(encoder.encode("not json"))))
  })

  it("progress round-trips, and a negative or fractional epoch does not decode", () => {
    assert.deepStrictEqual(StoreKit.decodeProgress(StoreKit.encodeProgress(7)), Either.right(7))
    assert.isTrue(Either.isLeft(StoreKit.decodeProgress(encoder.encode(`{"epoch":-1}`))))
    assert.isTrue(Either.isLeft(StoreKit.decodeProgress(encoder.encode(`{"epoch":1.5}`))))
  })

  it("describes a cause in one line", () => {
    assert.strictEqual(StoreKit.describeCause(new Error("disk full")), "disk full")
    assert.strictEqual(StoreKit.describeCause("refused"), "refused")
    assert.strictEqual(StoreKit.describeCause({ code: 7 }), `{"code":7}`)
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    assert.strictEqual(StoreKit.describeCause(cyclic), "[object Object]")
  })
})

describe("StoreKit integrity", () => {
  const utf16 = (text: string) => Buffer.from(text, "utf16le")
  const bytes = (text: string) => new TextEncoder().encode(text)

  it("snapshotChecksum is the CRC-32 of step, separator, key, presence and the value's UTF-8", () => {
    const values = [
      ["count", "a", "1"],
      ["wörter", "ключ", ""],
      ["s", "", "x".repeat(1000)],
      ["s", "k", "{\"é\":\"\u00ff\u0100\u07ff\u0800\uffff\",\"🔑\":[\"𝄞\"]}"],
      // a lone surrogate is U+FFFD in UTF-8, as TextEncoder writes it
      ["s", "k", "a\ud800b\udc00"]
    ]
    for (const [stepId, key, value] of values) {
      const framed = Buffer.concat([
        utf16(stepId),
        Buffer.from([0xff, 0xff]),
        utf16(key),
        Buffer.from([1]),
        bytes(value)
      ])
      assert.strictEqual(StoreKit.snapshotChecksum(stepId, key, value), zlib.crc32(framed))
    }
    const tombstone = Buffer.concat([utf16("count"), Buffer.from([0xff, 0xff]), utf16("a"), Buffer.from([0])])
    assert.strictEqual(StoreKit.snapshotChecksum("count", "a", null), zlib.crc32(tombstone))
  })

  it("snapshotChecksum tells apart a changed digit, a shifted boundary and a tombstone", () => {
    const stored = StoreKit.snapshotChecksum("count", "a", "358")
    assert.notStrictEqual(StoreKit.snapshotChecksum("count", "a", "1158"), stored)
    assert.notStrictEqual(StoreKit.snapshotChecksum("count", "a", "359"), stored)
    assert.notStrictEqual(StoreKit.snapshotChecksum("ab", "c", "1"), StoreKit.snapshotChecksum("a", "bc", "1"))
    assert.notStrictEqual(StoreKit.snapshotChecksum("count", "a", null), StoreKit.snapshotChecksum("count", "a", ""))
  })
})
