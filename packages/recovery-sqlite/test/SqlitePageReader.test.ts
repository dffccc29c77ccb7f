import { assert, describe, it } from "@effect/vitest"
import type { RecoveryStore } from "@sluice/core"
import Database from "better-sqlite3"
import { Chunk, Effect, Stream } from "effect"
import { SqliteRecovery } from "../src/index.js"
import { cutPage, joinedPage } from "../src/internal/pageReader.js"
import { tempDirectory } from "./fixtures/SqliteFixture.js"

const single = { workerIndex: 0, workerCount: 1 }
const put = (key: string, value: string): RecoveryStore.SnapshotWrite => ({ stepId: "count", key, value })

/** `cutPage` of rows as the joined statement gives them, with what it cut: `undefined` when it refused. */
const cut = (rows: ReadonlyArray<readonly [key: string, value: string, checksum: number]>, checksumText?: string) => {
  const lengths = new Uint32Array(rows.length * 2)
  const checksums = new Float64Array(rows.length)
  const done = cutPage(
    rows.length,
    rows.map(([key]) => key).join("\u0001"),
    rows.map(([, value]) => value).join("\u0001"),
    checksumText ?? rows.map(([, , checksum]) => checksum).join(","),
    { lengths, checksums }
  )
  return done ? { lengths: [...lengths], checksums: [...checksums] } : undefined
}

const utf8Order = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b))

describe("SqliteRecovery page reader", () => {
  it("cuts a joined page back into its rows' lengths and checksums", () => {
    assert.deepStrictEqual(cut([["", "1", 0], ["a", "[2,true]", 7], ["ab", "\"é\"", 4_294_967_295]]), {
      lengths: [0, 1, 1, 8, 2, 3],
      checksums: [0, 7, 4_294_967_295]
    })
    assert.deepStrictEqual(cut([["k", "v", 12]]), { lengths: [1, 1], checksums: [12] })
  })

  it("refuses a page it cannot cut exactly, so that the thread reads it as rows", () => {
    // the separator inside a key or a value
    assert.isUndefined(cut([["a\u0001b", "1", 1], ["c", "1", 2]]))
    assert.isUndefined(cut([["a", "\"\u0001\"", 1], ["c", "1", 2]]))
    assert.isUndefined(cut([["a", "1", 1], ["c\u0001", "1", 2]]))
    // keys not strictly ascending
    assert.isUndefined(cut([["b", "1", 1], ["a", "1", 2]]))
    assert.isUndefined(cut([["ab", "1", 1], ["a", "1", 2]]))
    assert.isUndefined(cut([["a", "1", 1], ["a", "1", 2]]))
    // first difference at or above U+D800, where UTF-16 order and SQLite's UTF-8 order can disagree
    assert.isUndefined(cut([["\u{1f511}", "1", 1], ["\ue000", "1", 2]]))
    assert.isUndefined(cut([["x\ud7ff", "1", 1], ["x\ud800", "1", 2]]))
    assert.isDefined(cut([["x\ud7fe", "1", 1], ["x\ud7ff", "1", 2]]))
    // checksums that are not one non-negative integer a row
    assert.isUndefined(cut([["a", "1", 1], ["b", "1", 2]], "1"))
    assert.isUndefined(cut([["a", "1", 1], ["b", "1", 2]], "1,2,3"))
    assert.isUndefined(cut([["a", "1", 1], ["b", "1", 2]], "1,,2"))
    assert.isUndefined(cut([["a", "1", 1], ["b", "1", 2]], "1,-2"))
    assert.isUndefined(cut([["a", "1", 1], ["b", "1", 2]], "1,2.5"))
  })

  it("reads a page joined by SQLite as the rows of the page's statement", () => {
    const db = new Database(":memory:")
    db.exec("CREATE TABLE t (key TEXT PRIMARY KEY, value BLOB, checksum INTEGER) WITHOUT ROWID")
    const insert = db.prepare("INSERT INTO t VALUES (?, ?, ?)")
    const rows = Array.from(
      { length: 300 },
      (_, i) => [`k${String(i).padStart(3, "0")}`, `[${i},true]`, i * 9973] as const
    )
    for (const [key, value, checksum] of rows) insert.run(key, Buffer.from(value), checksum)
    const page = db.prepare(
      joinedPage("SELECT key, CAST(value AS TEXT) AS value, checksum FROM t WHERE key > @after ORDER BY key LIMIT 100")
    ).raw(true)
    const [count, last, keys, values, checksums] = page.get({ after: "k099" }) as [
      number,
      string,
      string,
      string,
      string
    ]
    assert.strictEqual(count, 100)
    assert.strictEqual(last, "k199")
    const into = { lengths: new Uint32Array(200), checksums: new Float64Array(100) }
    assert.isTrue(cutPage(count, keys, values, checksums, into))
    assert.deepStrictEqual(keys.split("\u0001"), rows.slice(100, 200).map(([key]) => key))
    assert.deepStrictEqual(values.split("\u0001"), rows.slice(100, 200).map(([, value]) => value))
    assert.deepStrictEqual([...into.checksums], rows.slice(100, 200).map(([, , checksum]) => checksum))
    // past the last row: one row of nothing
    assert.deepStrictEqual(page.get({ after: "k299" }), [0, null, null, null, null])
    db.close()
  })

  it.scoped("a resume read whose thread's pages hold the separator, NUL, astral and unusual text reads every row exactly", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const worker = yield* (yield* SqliteRecovery.backend({ directory, materializeEvery: 1 })).open(single)
      // the first page (4,096 rows, read on this thread) holds only "a…" keys: the rest are the thread's
      const plain = Array.from({ length: 9_000 }, (_, i) => `a${String(i).padStart(5, "0")}`)
      const unusual = [
        "b\u0001",
        "b\u0001\u0001c",
        "c\u0000d",
        "d\u{1f511}",
        "d\ue000",
        "e\uffff",
        "fé",
        "g" + "long".repeat(5_000),
        ...Array.from({ length: 5_000 }, (_, i) => `h${i}\u0001`)
      ]
      const valueOf = (key: string, i: number) =>
        i % 5 === 0 ? `"\u0001${i}"` : i % 5 === 1 ? JSON.stringify(key) : i % 5 === 2 ? "\"\u{1f511}\"" : `${i}`
      const keys = [...plain, ...unusual]
      const expected = keys.map((key, i) => [key, valueOf(key, i)] as const).sort(([a], [b]) => utf8Order(a, b))
      yield* worker.commit(1, keys.map((key, i) => put(key, valueOf(key, i))), [])
      const read = Chunk.toReadonlyArray(yield* Stream.runCollect(worker.readSnapshots("count", 1)))
        .map(({ key, value }) => [key, value] as const)
      assert.strictEqual(read.length, expected.length)
      assert.deepStrictEqual(read, expected)
    }))
})
