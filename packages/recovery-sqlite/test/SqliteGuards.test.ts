import { assert, describe, it } from "@effect/vitest"
import { DataflowError, RecoveryStore } from "@sluice/core"
import Database from "better-sqlite3"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { SqliteRecovery } from "../src/index.js"
import { exited, spawnScript, waitForLine } from "./fixtures/processes.js"
import { failureOf, tempDirectory } from "./fixtures/SqliteFixture.js"

/** Opens a worker through core, as a run would: with the guards of R7 and the resume calculation. */
const openStore = (
  directory: string,
  options: { dataflowId?: string; workerIndex?: number; workerCount?: number } = {}
) =>
  Effect.gen(function*() {
    const store = RecoveryStore.make(yield* SqliteRecovery.backend({ directory }))
    return yield* store.open({
      dataflowId: options.dataflowId ?? "wordcount",
      workerIndex: options.workerIndex ?? 0,
      workerCount: options.workerCount ?? 1
    })
  })

/** Runs one epoch writing `a = 1` and closes the store. */
const seed = (directory: string, options: { dataflowId?: string; workerIndex?: number; workerCount?: number } = {}) =>
  Effect.scoped(Effect.gen(function*() {
    const worker = yield* openStore(directory, options)
    yield* worker.transaction(
      worker.resumeEpoch,
      (transaction) => Effect.sync(() => transaction.write("count", "a", "1"))
    )
  }))

const tablesOf = (file: string): Array<string> => {
  const db = new Database(file, { readonly: true, fileMustExist: true })
  try {
    return db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all() as Array<
      string
    >
  } finally {
    db.close()
  }
}

describe("SqliteRecovery guards", () => {
  it.scoped("creates the directory and the worker file on first use", () =>
    Effect.gen(function*() {
      const directory = path.join(yield* tempDirectory, "nested", "state")
      const layerBuilt = yield* SqliteRecovery.backend({ directory })
      assert.isTrue(fs.existsSync(directory))
      assert.isFalse(fs.existsSync(path.join(directory, "worker-0.sqlite3")))
      yield* Effect.scoped(layerBuilt.open({ workerIndex: 0, workerCount: 1 }))
      assert.isTrue(fs.existsSync(path.join(directory, "worker-0.sqlite3")))
      assert.includeMembers(tablesOf(path.join(directory, "worker-0.sqlite3")), [
        "sluice_meta",
        "sluice_migrations",
        "sluice_progress",
        "sluice_snapshots"
      ])
    }))

  it.scoped("a directory that cannot be created fails the layer with StoreUnavailable", () =>
    Effect.gen(function*() {
      const root = yield* tempDirectory
      fs.writeFileSync(path.join(root, "file"), "not a directory")
      const error = failureOf(
        yield* Effect.exit(SqliteRecovery.backend({ directory: path.join(root, "file", "state") }))
      )
      assert.instanceOf(error, DataflowError.StoreUnavailable)
      assert.include(error.message, "cannot be created")
    }))

  it.scoped("an unknown synchronous setting is refused before any file is touched", () =>
    Effect.gen(function*() {
      const directory = path.join(yield* tempDirectory, "state")
      const exit = yield* Effect.exit(
        SqliteRecovery.backend({ directory, synchronous: "FULL; DROP TABLE x" as SqliteRecovery.Synchronous })
      )
      assert.include(failureOf(exit).message, "synchronous must be one of OFF, NORMAL, FULL, EXTRA")
      assert.isFalse(fs.existsSync(directory))
    }))

  it.scoped("a file that is not a database fails with StoreCorrupt naming the file, and is left as it was", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const file = path.join(directory, "worker-0.sqlite3")
      fs.writeFileSync(file, "these are my holiday notes\n".repeat(100))
      const before = fs.readFileSync(file)
      const error = failureOf(yield* Effect.exit(Effect.scoped(openStore(directory))))
      assert.instanceOf(error, DataflowError.StoreCorrupt)
      assert.strictEqual((error as DataflowError.StoreCorrupt).store, file)
      assert.strictEqual(
        error.message,
        `recovery store ${file} is not a readable sluice store: the file is not a SQLite database: ` +
          `it starts with "these are my hol"; move it away to start fresh`
      )
      assert.deepStrictEqual(fs.readFileSync(file), before)
    }))

  it.scoped("a SQLite database of another program fails with StoreCorrupt listing its tables, and is left as it was", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const file = path.join(directory, "worker-0.sqlite3")
      const db = new Database(file)
      db.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); CREATE TABLE orders (id INTEGER PRIMARY KEY)")
      db.close()
      const error = failureOf(yield* Effect.exit(Effect.scoped(openStore(directory))))
      assert.instanceOf(error, DataflowError.StoreCorrupt)
      assert.include(error.message, file)
      assert.include(error.message, "it is a SQLite database of something else: it has the tables")
      assert.include(error.message, "users")
      assert.include(error.message, "no sluice_migrations")
      assert.deepStrictEqual(tablesOf(file), ["orders", "users"])
    }))

  it.scoped("a damaged store fails with StoreCorrupt", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      yield* seed(directory)
      const file = path.join(directory, "worker-0.sqlite3")
      // keep the 100-byte header, scramble the rest of page 1: the schema
      const bytes = fs.readFileSync(file)
      for (let i = 100; i < 4096; i++) bytes[i] = (i * 7) & 0xff
      fs.writeFileSync(file, bytes)
      const error = failureOf(yield* Effect.exit(Effect.scoped(openStore(directory))))
      assert.instanceOf(error, DataflowError.StoreCorrupt)
      assert.include(error.message, file)
    }))

  it.scoped("R7: a store migrated by a newer release fails with StoreVersionUnsupported and is not migrated", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      yield* seed(directory)
      const file = path.join(directory, "worker-0.sqlite3")
      const db = new Database(file)
      db.prepare("INSERT INTO sluice_migrations (migration_id, name) VALUES (7, 'from_the_future')").run()
      db.close()
      const error = failureOf(yield* Effect.exit(Effect.scoped(openStore(directory))))
      assert.instanceOf(error, DataflowError.StoreVersionUnsupported)
      assert.deepStrictEqual(
        {
          found: (error as DataflowError.StoreVersionUnsupported).found,
          supported: (error as DataflowError.StoreVersionUnsupported).supported
        },
        { found: 7, supported: 3 }
      )
    }))

  it.scoped("R7: a store whose metadata has a newer schema version refuses to resume", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      yield* seed(directory)
      const db = new Database(path.join(directory, "worker-0.sqlite3"))
      db.prepare("UPDATE sluice_meta SET schema_version = 2").run()
      db.close()
      const error = failureOf(yield* Effect.exit(Effect.scoped(openStore(directory))))
      assert.instanceOf(error, DataflowError.StoreVersionUnsupported)
    }))

  it.scoped("a worker file copied over another worker's fails with StoreCorrupt", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      yield* seed(directory, { workerIndex: 1, workerCount: 2 })
      fs.copyFileSync(path.join(directory, "worker-1.sqlite3"), path.join(directory, "worker-0.sqlite3"))
      const error = failureOf(yield* Effect.exit(Effect.scoped(openStore(directory, { workerCount: 2 }))))
      assert.instanceOf(error, DataflowError.StoreCorrupt)
      assert.include(error.message, "it holds the data of worker 1, not of worker 0")
    }))

  it.scoped("R7: another worker's file written by another dataflow refuses the resume", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      yield* seed(directory, { dataflowId: "other", workerIndex: 1, workerCount: 2 })
      const error = failureOf(
        yield* Effect.exit(Effect.scoped(openStore(directory, { dataflowId: "wordcount", workerCount: 2 })))
      )
      assert.instanceOf(error, DataflowError.RecoveryMismatch)
      assert.include(error.message, "dataflowId other, this run has wordcount")
    }))

  it.scoped("a second opener of a worker in the same process fails at once; it opens once the first closes", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const backend = yield* SqliteRecovery.backend({ directory })
      yield* Effect.scoped(Effect.gen(function*() {
        yield* backend.open({ workerIndex: 0, workerCount: 1 })
        const started = Date.now()
        const error = failureOf(yield* Effect.exit(Effect.scoped(backend.open({ workerIndex: 0, workerCount: 1 }))))
        assert.isBelow(Date.now() - started, 1000)
        assert.instanceOf(error, DataflowError.StoreUnavailable)
        assert.include(error.message, "worker 0 is already open in another live process")
        assert.include(error.message, "worker-0.lock")
        // another worker of the same directory is not blocked
        yield* backend.open({ workerIndex: 1, workerCount: 2 })
      }))
      yield* Effect.scoped(backend.open({ workerIndex: 0, workerCount: 1 }))
    }))

  it.live(
    "a second live process fails at once and leaves the first one's store intact; a SIGKILLed holder blocks nothing",
    () =>
      Effect.gen(function*() {
        const directory = yield* tempDirectory
        const holder = spawnScript("test/fixtures/holdWorker.ts", [directory])
        yield* Effect.addFinalizer(() => Effect.sync(() => holder.kill("SIGKILL")))
        yield* Effect.promise(() => waitForLine(holder, "ready"))

        const started = Date.now()
        const error = failureOf(yield* Effect.exit(Effect.scoped(openStore(directory, { dataflowId: "held" }))))
        assert.isBelow(Date.now() - started, 1000, "the second opener waited for the lock")
        assert.instanceOf(error, DataflowError.StoreUnavailable)
        assert.include(error.message, "already open in another live process")

        holder.kill("SIGKILL")
        assert.strictEqual((yield* Effect.promise(() => exited(holder))).signal, "SIGKILL")
        const worker = yield* openStore(directory, { dataflowId: "held" })
        assert.strictEqual(worker.resumeEpoch, 2)
      }).pipe(Effect.scoped),
    30_000
  )
})
