import { assert, describe, it } from "@effect/vitest"
import { type RecoveryStore, StoreKit } from "@sluice/core"
import { DataflowError } from "@sluice/core"
import Database from "better-sqlite3"
import { Chunk, Effect, Stream } from "effect"
import * as fs from "node:fs"
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

/** The keys a resume read emitted before it failed, and its failure. */
const readUntilFailure = (worker: RecoveryStore.BackendWorker, atOrBefore: number) =>
  Effect.gen(function*() {
    const emitted: Array<string> = []
    const exit = yield* Effect.exit(
      Stream.runForEach(worker.readSnapshots("count", atOrBefore), ({ key }) => Effect.sync(() => emitted.push(key)))
    )
    return { emitted, error: failureOf(exit) }
  })

const changelogEpochs = (directory: string) => {
  const db = new Database(path.join(directory, "worker-0.sqlite3"), { readonly: true })
  try {
    return db.prepare("SELECT DISTINCT epoch FROM sluice_changelog ORDER BY epoch").pluck().all() as Array<number>
  } finally {
    db.close()
  }
}

/**
 * The point read of the release before, as the oracle of `readKeys`: the keys
 * bound one parameter each in an `IN` list, chunks of at most 4,096, each row
 * checked against its checksum. "damaged" where that read failed.
 */
const readKeysBound = (directory: string, stepId: string, keys: ReadonlyArray<string>, atOrBefore: number) => {
  const db = new Database(path.join(directory, "worker-0.sqlite3"), { readonly: true })
  try {
    const distinct = [...new Set(keys)]
    const found: Record<string, string> = {}
    for (let i = 0; i < distinct.length; i += 4096) {
      const batch = distinct.slice(i, i + 4096)
      const rows = db.prepare(
        `SELECT key, CAST(value AS TEXT) AS value, checksum FROM sluice_snapshots
         WHERE step_id = ? AND epoch <= ? AND key IN (${batch.map(() => "?").join(", ")})`
      ).all(stepId, atOrBefore, ...batch) as Array<{ key: string; value: string; checksum: number }>
      for (const { checksum, key, value } of rows) {
        if (StoreKit.snapshotChecksum(stepId, key, value) !== checksum) return "damaged"
        found[key] = value
      }
    }
    return found
  } finally {
    db.close()
  }
}

/**
 * The bytes the driver stores for a key. A lone surrogate has no UTF-8 form, and
 * the driver's encoding of one differs by Node: Node 20 writes its three WTF-8
 * bytes (ED A0 80 for U+D800), Node 22 and later write U+FFFD's (EF BF BD). On
 * the later ones "\ud800", "\udbff" and "\ufffd" are the same key to SQLite.
 */
const storedBytes = (() => {
  const db = new Database(":memory:")
  const statement = db.prepare("SELECT hex(?)").pluck()
  return (key: string) => statement.get(key) as string
})()

/** `readKeys` in the oracle's terms: what it found, or "damaged" for its `StoreCorrupt`. */
const readKeysOrDamaged = (worker: RecoveryStore.BackendWorker, keys: ReadonlyArray<string>, atOrBefore: number) =>
  readKeys(worker, keys, atOrBefore).pipe(
    Effect.catchTag("StoreCorrupt", (error) => {
      assert.include(error.message, "does not match its checksum")
      return Effect.succeed("damaged" as const)
    })
  )

/**
 * Keys a JSON text must carry exactly: escapes, NUL, quotes and backslashes, a
 * backslash that reads like a surrogate's escape, code points beyond U+FFFF,
 * line separators, a long key, the empty key, U+FFFD, and lone surrogates
 * (high, low, in a word, in reverse order), which better-sqlite3 binds as
 * their three-byte forms.
 */
const unusualKeys = [
  "",
  "\u0000",
  "a\u0000b",
  "\u0001\u001f",
  "q\"uo'te",
  "back\\slash",
  "\\ud800",
  "\\",
  "\u{1f511}",
  "\ud83d\udd11x",
  "é",
  "\u2028\u2029",
  "\u007f",
  "\ufeff",
  "long".repeat(25_000),
  "\ufffd",
  "\ud800",
  "\udbff",
  "\udc00",
  "a\ud83db",
  "\udc00\ud800",
  "[\"k1\"]"
]

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

  it.scoped("readKeys reads what the bound IN list read: hits and misses over several chunk sizes, unusual keys", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const worker = yield* (yield* SqliteRecovery.backend({ directory, materializeEvery: 1 })).open(single)
      const plain = Array.from({ length: 40_000 }, (_, i) => `k${i}`)
      // every other unusual key is stored, the rest are misses: a key bound wrong either misses its own row or
      // finds another's (U+FFFD for a lone surrogate, the empty key for NUL, a key cut at a quote)
      const stored = unusualKeys.filter((_, i) => i % 2 === 0)
      const absent = unusualKeys.filter((_, i) => i % 2 === 1)
      yield* worker.commit(
        1,
        [...plain.filter((_, i) => i % 2 === 0), ...stored].map((key, i) => put(key, `v${i}`)),
        []
      )
      yield* worker.commit(2, [], [])
      assert.deepStrictEqual(changelogEpochs(directory), [])
      const storedSurrogates = stored.filter((key) => /\p{Surrogate}/u.test(key))
      assert.isNotEmpty(storedSurrogates)
      const requests: Array<ReadonlyArray<string>> = [
        [],
        ...unusualKeys.map((key) => [key]),
        // sizes around the bound list's chunks (4,096) and the JSON arrays' (16,384), with duplicates
        ...[3, 4096, 4097, 16_384, 16_385, 40_000].map((size) => [
          ...plain.slice(0, size),
          ...unusualKeys.filter((key) => !storedSurrogates.includes(key)),
          ...plain.slice(0, 50)
        ]),
        // misses only: what a resume's new keys ask
        Array.from({ length: 20_000 }, (_, i) => `k${i * 2 + 1}`)
      ]
      for (const keys of requests) {
        const expected = readKeysBound(directory, "count", keys, 2)
        assert.deepStrictEqual(yield* readKeysOrDamaged(worker, keys, 2), expected, `${keys.length} keys`)
      }
      // what each request finds is not nothing: the oracle reads rows for every stored key but lone surrogates,
      // which the driver reads back changed, so that their checksums fail on both paths
      for (const key of stored) {
        assert.deepStrictEqual(
          readKeysBound(directory, "count", [key], 2),
          storedSurrogates.includes(key) ? "damaged" : { [key]: `v${20_000 + stored.indexOf(key)}` },
          JSON.stringify(key)
        )
      }
      // an absent key finds nothing, unless the driver stores it as the bytes of a stored lone surrogate (Node 22
      // and later, see storedBytes): then it finds that key's row, read back changed, and fails its checksum
      const surrogateBytes = new Set(storedSurrogates.map(storedBytes))
      for (const key of absent) {
        assert.deepStrictEqual(
          readKeysBound(directory, "count", [key], 2),
          surrogateBytes.has(storedBytes(key)) ? "damaged" : {},
          JSON.stringify(key)
        )
      }
      // nothing at an epoch before the writes
      assert.deepStrictEqual(yield* readKeys(worker, [...plain, ...stored], 0), {})
    }))

  it.scoped("readKeys answers a key asked twice once, from the tail or the table, and fails on a damaged row", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const worker = yield* (yield* SqliteRecovery.backend({ directory, materializeEvery: 2 })).open(single)
      yield* worker.commit(1, [put("table", "1"), put("both", "1"), put("gone", "1"), put("x\u0000", "1")], [])
      yield* worker.commit(2, [], [])
      yield* worker.commit(3, [put("tail", "3"), put("both", "3"), del("gone")], [])
      assert.deepStrictEqual(changelogEpochs(directory), [3])
      const found = yield* worker.readKeys!(
        "count",
        ["table", "tail", "both", "gone", "table", "tail", "both", "gone", "x\u0000", "x\u0000", "x", "never"],
        3
      )
      assert.deepStrictEqual(
        [...found].sort((a, b) => (a.key < b.key ? -1 : 1)),
        [{ key: "both", value: "3" }, { key: "table", value: "1" }, { key: "tail", value: "3" }, {
          key: "x\u0000",
          value: "1"
        }]
      )
      const db = new Database(path.join(directory, "worker-0.sqlite3"))
      db.prepare("UPDATE sluice_snapshots SET value = CAST('2' AS BLOB) WHERE key = 'table'").run()
      db.close()
      const error = failureOf(yield* Effect.exit(readKeys(worker, ["never", "table"], 3)))
      assert.instanceOf(error, DataflowError.StoreCorrupt)
      assert.include(error.message, "step count at key table does not match its checksum")
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

  it.scoped("a damaged snapshot on a page the reader thread reads fails the resume with StoreCorrupt naming its key", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const worker = yield* (yield* SqliteRecovery.backend({ directory, materializeEvery: 1 })).open(single)
      const keys = Array.from({ length: 10_000 }, (_, i) => `k${String(i).padStart(5, "0")}`)
      yield* worker.commit(1, keys.map((key) => put(key, "1")), [])
      const file = path.join(directory, "worker-0.sqlite3")
      // on the third page: the first is read here, the others by the thread
      const db = new Database(file)
      db.prepare("UPDATE sluice_snapshots SET value = CAST('2' AS BLOB) WHERE key = 'k09000'").run()
      db.close()
      const { emitted, error } = yield* readUntilFailure(worker, 1)
      assert.instanceOf(error, DataflowError.StoreCorrupt)
      assert.include(error.message, "step count at key k09000")
      assert.include(error.message, file)
      assert.deepStrictEqual(emitted, keys.slice(0, 8192))
    }))

  it.scoped("a table unreadable past the first page fails the resume with StoreCorrupt naming the file, not a hang", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const keys = Array.from({ length: 10_000 }, (_, i) => `k${String(i).padStart(5, "0")}`)
      yield* Effect.scoped(Effect.gen(function*() {
        const worker = yield* (yield* SqliteRecovery.backend({ directory, materializeEvery: 1 })).open(single)
        yield* worker.commit(1, keys.map((key) => put(key, "1")), [])
      }))
      const file = path.join(directory, "worker-0.sqlite3")
      // the table's last leaf in key order (dbstat walks the tree in order) holds its highest keys: the reader
      // thread's, never the first page's
      const db = new Database(file)
      db.pragma("wal_checkpoint(TRUNCATE)")
      const { pageno, pgsize } = db.prepare(
        "SELECT pageno, pgsize FROM dbstat WHERE name = 'sluice_snapshots' AND pagetype = 'leaf' ORDER BY path DESC"
      ).get() as { pageno: number; pgsize: number }
      db.close()
      const fd = fs.openSync(file, "r+")
      fs.writeSync(fd, Buffer.alloc(pgsize, 0xa5), 0, pgsize, (pageno - 1) * pgsize)
      fs.closeSync(fd)
      const worker = yield* (yield* SqliteRecovery.backend({ directory })).open(single)
      const { emitted, error } = yield* readUntilFailure(worker, 1)
      assert.instanceOf(error, DataflowError.StoreCorrupt)
      assert.include(error.message, "reading the snapshots of step count failed")
      assert.include(error.message, file)
      assert.isAtLeast(emitted.length, 4096)
      assert.isBelow(emitted.length, keys.length)
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
      // rewritten outside this run with a checksum that matches: the fold reads every row back from the file
      const db = new Database(path.join(directory, "worker-0.sqlite3"))
      const entries = JSON.stringify(["a", "7", "b", "1"])
      db.prepare("UPDATE sluice_changelog SET entries = ?, checksum = ? WHERE epoch = 1 AND step_id = 'count'")
        .run(entries, Changelog.checksum("count", 1, entries))
      db.close()
      yield* worker.commit(2, [put("c", "2")], [])
      assert.deepStrictEqual(changelogEpochs(directory), [])
      assert.deepStrictEqual(yield* readAll(worker, 2), [["a", "7"], ["b", "1"], ["c", "2"]])
    }))

  it.scoped("a fold takes the rows this run wrote as the file holds them, after a fold of only some of them", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      // worker 1 lags behind worker 0, so worker 0's folds take some of its rows and leave the rest
      const backend = yield* SqliteRecovery.backend({ directory, materializeEvery: 1 })
      const w0 = yield* backend.open({ workerIndex: 0, workerCount: 2 })
      const w1 = yield* backend.open({ workerIndex: 1, workerCount: 2 })
      const expected = new Map<string, string>()
      const commit = (epoch: number, writes: ReadonlyArray<RecoveryStore.SnapshotWrite>) => {
        for (const { key, value } of writes) {
          if (value === null) expected.delete(key)
          else expected.set(key, value)
        }
        return w0.commit(epoch, writes, [])
      }
      // nothing agreed: no fold
      yield* commit(1, [put("a", "1"), put("b", "1"), put("c", "1")])
      yield* commit(2, [put("a", "2"), del("b")])
      yield* commit(3, [put("a", "3"), put("c", "3"), put("d", "3")])
      assert.deepStrictEqual(changelogEpochs(directory), [1, 2, 3])
      // epoch 1 agreed: the fold at epoch 4 takes it and leaves 2 to 4, each changing a
      yield* w1.commit(1, [], [])
      yield* commit(4, [put("a", "4"), put("b", "4")])
      assert.deepStrictEqual(changelogEpochs(directory), [2, 3, 4])
      // every epoch agreed: the fold at epoch 5 takes 2 to 5, the newest write of each key
      for (const epoch of [2, 3, 4, 5]) yield* w1.commit(epoch, [], [])
      yield* commit(5, [put("c", "5"), del("d")])
      assert.deepStrictEqual(changelogEpochs(directory), [])
      const table = new Database(path.join(directory, "worker-0.sqlite3"), { readonly: true })
      const rows = table.prepare("SELECT key, epoch, CAST(value AS TEXT) AS value FROM sluice_snapshots ORDER BY key")
        .all()
      table.close()
      assert.deepStrictEqual(rows, [
        { key: "a", epoch: 4, value: "4" },
        { key: "b", epoch: 4, value: "4" },
        { key: "c", epoch: 5, value: "5" }
      ])
      assert.deepStrictEqual(yield* readAll(w0, 5), [...expected].sort())
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
