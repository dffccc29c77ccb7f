import { assert, describe, it } from "@effect/vitest"
import { type RecoveryStore, StoreKit } from "@sluice/core"
import { DataflowError } from "@sluice/core"
import Database from "better-sqlite3"
import { Chunk, Effect, Stream } from "effect"
import * as path from "node:path"
import { SqliteRecovery } from "../src/index.js"
import * as Changelog from "../src/internal/changelog.js"
import { storeOfLayout } from "./fixtures/olderLayout.js"
import { failureOf, tempDirectory } from "./fixtures/SqliteFixture.js"

const single = { workerIndex: 0, workerCount: 1 }
const put = (key: string, value: string): RecoveryStore.SnapshotWrite => ({ stepId: "count", key, value })
const del = (key: string): RecoveryStore.SnapshotWrite => ({ stepId: "count", key, value: null })

const readKeys = (worker: RecoveryStore.BackendWorker, keys: ReadonlyArray<string>, atOrBefore: number) =>
  Effect.map(
    worker.readKeys!("count", keys, atOrBefore),
    (found) => Object.fromEntries(found.map(({ key, value }) => [key, value]))
  )

const readAll = (worker: RecoveryStore.BackendWorker, atOrBefore: number) =>
  Effect.map(
    Stream.runCollect(worker.readSnapshots("count", atOrBefore)),
    (chunk) => Chunk.toReadonlyArray(chunk).map(({ key, value }) => [key, value])
  )

const changelogEpochs = (directory: string) => {
  const db = new Database(path.join(directory, "worker-0.sqlite3"), { readonly: true })
  try {
    return db.prepare("SELECT DISTINCT epoch FROM sluice_changelog ORDER BY epoch").pluck().all() as Array<number>
  } finally {
    db.close()
  }
}

describe("SqliteRecovery changelog", () => {
  it.scoped("readKeys: a key in the table, a key only in the tail, a tombstoned key, a key of a discarded epoch", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      // worker 1 lags: epochs above its progress stay in worker 0's changelog, and a resume discards them
      const backend = yield* SqliteRecovery.backend({ directory, materializeEvery: 1 })
      const w0 = yield* backend.open({ workerIndex: 0, workerCount: 2 })
      const w1 = yield* backend.open({ workerIndex: 1, workerCount: 2 })
      yield* w1.commit(1, [], [])
      yield* w1.commit(2, [], [])
      yield* w0.commit(1, [put("table", "1"), put("gone", "1"), put("both", "1")], [])
      yield* w0.commit(2, [put("tail", "2"), del("gone"), put("both", "2")], [])
      yield* w0.commit(3, [put("late", "3"), put("table", "3")], [])
      // epochs 1 and 2, which every worker completed, went to the table; 3 is above the agreed epoch: only in the tail
      assert.deepStrictEqual(changelogEpochs(directory), [3])
      const keys = ["table", "tail", "gone", "both", "late", "never"]
      assert.deepStrictEqual(yield* readKeys(w0, keys, 2), { table: "1", tail: "2", both: "2" })
      assert.deepStrictEqual(yield* readKeys(w0, keys, 3), { table: "3", tail: "2", both: "2", late: "3" })
      // the resume point is 3: epoch 3 is redone, its writes are gone
      yield* w0.discardFrom(3)
      assert.deepStrictEqual(yield* readKeys(w0, keys, 3), { table: "1", tail: "2", both: "2" })
      assert.deepStrictEqual(yield* readKeys(w0, [], 3), {})
      // the same state as the resume read
      assert.deepStrictEqual(yield* readAll(w0, 3), [["both", "2"], ["table", "1"], ["tail", "2"]])
    }))

  it.scoped("readKeys reads many keys in batches, from the table and the tail", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const worker = yield* (yield* SqliteRecovery.backend({ directory, materializeEvery: 2 })).open(single)
      const keys = Array.from({ length: 6000 }, (_, i) => `k${i}`)
      yield* worker.commit(1, keys.map((key) => put(key, "1")), [])
      yield* worker.commit(2, keys.filter((_, i) => i % 3 === 0).map((key) => put(key, "2")), [])
      yield* worker.commit(3, keys.filter((_, i) => i % 3 === 1).map(del), [])
      assert.deepStrictEqual(changelogEpochs(directory), [3])
      const found = yield* readKeys(worker, [...keys, "missing"], 3)
      assert.strictEqual(Object.keys(found).length, 4000)
      keys.forEach((key, i) => assert.strictEqual(found[key], i % 3 === 0 ? "2" : i % 3 === 1 ? undefined : "1", key))
    }))

  it.scoped("the resume read merges table and tail in SQLite's key order, code points beyond U+FFFF included", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const worker = yield* (yield* SqliteRecovery.backend({ directory, materializeEvery: 2 })).open(single)
      const keys = ["a", "b", "\uffff", "\u{1f511}", "\ue000", "é", ""]
      yield* worker.commit(1, keys.filter((_, i) => i % 2 === 0).map((key) => put(key, "1")), [])
      yield* worker.commit(2, [], [])
      yield* worker.commit(3, keys.filter((_, i) => i % 2 === 1).map((key) => put(key, "3")), [])
      assert.deepStrictEqual(changelogEpochs(directory), [3])
      const read = (yield* readAll(worker, 3)).map(([key]) => key)
      const utf8Order = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
      assert.deepStrictEqual(read, utf8Order)
    }))

  it.scoped("the resume read of many keys reads the table in pages: every key once, in order, the tail merged", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const worker = yield* (yield* SqliteRecovery.backend({ directory, materializeEvery: 2 })).open(single)
      // more keys than several pages of the table's read; "" sorts first, "k…" keys span the page boundaries
      const keys = ["", ...Array.from({ length: 10_000 }, (_, i) => `k${String(i).padStart(5, "0")}`)]
      yield* worker.commit(1, keys.map((key) => put(key, "1")), [])
      yield* worker.commit(2, [], [])
      // in the tail only: a new value for every 7th key, a tombstone for every 11th, keys between the table's
      yield* worker.commit(
        3,
        [
          ...keys.filter((_, i) => i % 7 === 0).map((key) => put(key, "3")),
          ...keys.filter((_, i) => i % 11 === 5).map(del),
          ...Array.from({ length: 50 }, (_, i) => put(`k${String(i * 199).padStart(5, "0")}+`, "3"))
        ],
        []
      )
      assert.deepStrictEqual(changelogEpochs(directory), [3])
      const read = yield* readAll(worker, 3)
      const expected = new Map(keys.map((key) => [key, "1"]))
      keys.forEach((key, i) => i % 7 === 0 && expected.set(key, "3"))
      keys.forEach((key, i) => i % 11 === 5 && expected.delete(key))
      for (let i = 0; i < 50; i++) expected.set(`k${String(i * 199).padStart(5, "0")}+`, "3")
      assert.deepStrictEqual(read, [...expected].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    }))

  it.scoped("a damaged changelog row fails the resume with StoreCorrupt naming step, epoch and file", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      yield* Effect.scoped(Effect.gen(function*() {
        const worker = yield* (yield* SqliteRecovery.backend({ directory, materializeEvery: 100 })).open(single)
        yield* worker.commit(1, [put("a", "1")], [])
        yield* worker.commit(2, [put("a", "2")], [])
      }))
      const file = path.join(directory, "worker-0.sqlite3")
      // closing materialized everything; a later run leaves epoch 3 in the changelog
      yield* Effect.scoped(Effect.gen(function*() {
        const backend = yield* SqliteRecovery.backend({ directory, materializeEvery: 100 })
        const worker = yield* backend.open(single)
        yield* worker.commit(3, [put("a", "35")], [])
        const db = new Database(file)
        db.prepare("UPDATE sluice_changelog SET entries = replace(entries, '35', '36')").run()
        db.close()
        const error = failureOf(yield* Effect.exit(readAll(worker, 3)))
        assert.instanceOf(error, DataflowError.StoreCorrupt)
        assert.include(error.message, "step count")
        assert.include(error.message, "epoch 3")
        assert.include(error.message, file)
        assert.instanceOf(failureOf(yield* Effect.exit(readKeys(worker, ["a"], 3))), DataflowError.StoreCorrupt)
      }))
      // closing tried to materialize it and refused: the damaged row is not turned into a row that verifies
      assert.deepStrictEqual(changelogEpochs(directory), [3])
      yield* Effect.scoped(Effect.gen(function*() {
        const worker = yield* (yield* SqliteRecovery.backend({ directory, materializeEvery: 1 })).open(single)
        assert.instanceOf(failureOf(yield* Effect.exit(worker.commit(4, [], []))), DataflowError.StoreCorrupt)
      }))
      assert.deepStrictEqual(changelogEpochs(directory), [3])
    }))

  it.scoped("the fold takes a changelog row as the file holds it, not as this run wrote it", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const worker = yield* (yield* SqliteRecovery.backend({ directory, materializeEvery: 2 })).open(single)
      yield* worker.commit(1, [put("a", "1"), put("b", "1")], [])
      // rewritten outside this run with a checksum that matches: the fold reuses its own entries only for the same text
      const db = new Database(path.join(directory, "worker-0.sqlite3"))
      const entries = JSON.stringify(["a", "7", "b", "1"])
      db.prepare("UPDATE sluice_changelog SET entries = ?, checksum = ? WHERE epoch = 1 AND step_id = 'count'")
        .run(entries, Changelog.checksum("count", 1, entries))
      db.close()
      yield* worker.commit(2, [put("c", "2")], [])
      assert.deepStrictEqual(changelogEpochs(directory), [])
      assert.deepStrictEqual(yield* readAll(worker, 2), [["a", "7"], ["b", "1"], ["c", "2"]])
    }))

  it.scoped("a store of layout 2 with pending epochs is migrated, not refused, and resumes with the same state", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      // as the release before the changelog left a one-worker store: live rows, and writes of epoch 3 still pending
      const row = (table: string, epoch: number, key: string, value: string | null) => (db: Database.Database) =>
        db.prepare(`INSERT INTO ${table} (epoch, step_id, key, value, checksum) VALUES (?, 'count', ?, ?, ?)`).run(
          epoch,
          key,
          value === null ? null : Buffer.from(value),
          StoreKit.snapshotChecksum("count", key, value)
        )
      yield* storeOfLayout(directory, 2, (db) => {
        row("sluice_snapshots", 1, "a", "1")(db)
        row("sluice_snapshots", 2, "b", "2")(db)
        row("sluice_snapshots", 2, "ключ", "{\"n\":\"🔑\"}")(db)
        row("sluice_pending_snapshots", 3, "a", "3")(db)
        row("sluice_pending_snapshots", 3, "b", null)(db)
        db.prepare("INSERT INTO sluice_progress (worker_index, epoch, committed_at) VALUES (0, 3, 0)").run()
      })
      const worker = yield* (yield* SqliteRecovery.backend({ directory })).open(single)
      assert.deepStrictEqual(changelogEpochs(directory), [3])
      assert.deepStrictEqual(yield* readAll(worker, 3), [["a", "3"], ["ключ", "{\"n\":\"🔑\"}"]])
      assert.deepStrictEqual(yield* readAll(worker, 2), [["a", "1"], ["b", "2"], ["ключ", "{\"n\":\"🔑\"}"]])
      assert.deepStrictEqual(yield* readKeys(worker, ["a", "b"], 3), { a: "3" })
      assert.deepStrictEqual(yield* worker.readProgress, [{ workerIndex: 0, epoch: 3 }])
      const db = new Database(path.join(directory, "worker-0.sqlite3"), { readonly: true })
      const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").pluck().all()
      db.close()
      assert.notInclude(tables, "sluice_pending_snapshots")
    }))
})
