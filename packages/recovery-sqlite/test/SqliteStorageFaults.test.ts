/**
 * Faults of the file system and of the files under a store (issue #12): every
 * one is a typed error naming the file, never a defect and never a silent
 * replay from epoch 1.
 */
import { SqlError } from "@effect/sql/SqlError"
import { assert, describe, it } from "@effect/vitest"
import { DataflowError, RecoveryStore } from "@sluice/core"
import Database from "better-sqlite3"
import { Effect, Stream } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { SqliteRecovery } from "../src/index.js"
import { refail } from "../src/internal/storeFile.js"
import { storeOfLayout } from "./fixtures/olderLayout.js"
import { failureOf, tempDirectory } from "./fixtures/SqliteFixture.js"

const encoder = new TextEncoder()

const openStore = (directory: string, workerIndex = 0, workerCount = 1) =>
  Effect.gen(function*() {
    const store = RecoveryStore.make(yield* SqliteRecovery.backend({ directory }))
    return yield* store.open({ dataflowId: "wordcount", workerIndex, workerCount })
  })

/** Commits `epochs` epochs, each writing `count/<key> = <epoch>` for `keys` keys. */
const commitEpochs = (worker: RecoveryStore.WorkerRecovery, epochs: number, keys = 3) =>
  Effect.gen(function*() {
    for (let epoch = worker.resumeEpoch; epoch < worker.resumeEpoch + epochs; epoch++) {
      yield* worker.transaction(epoch, (transaction) =>
        Effect.sync(() => {
          for (let key = 0; key < keys; key++) transaction.write("count", `k${key}`, String(epoch))
        }))
    }
  })

const seed = (directory: string, epochs: number, workerIndex = 0, workerCount = 1) =>
  Effect.scoped(
    Effect.flatMap(openStore(directory, workerIndex, workerCount), (worker) => commitEpochs(worker, epochs))
  )

const readCounts = (directory: string) =>
  Effect.scoped(Effect.gen(function*() {
    const worker = yield* openStore(directory)
    const found: Record<string, string> = {}
    yield* Stream.runForEach(worker.snapshots("count"), ({ key, value }) =>
      Effect.sync(() => {
        found[key] = value
      }))
    return { resumeEpoch: worker.resumeEpoch, found }
  }))

const isRoot = process.getuid?.() === 0

/** A tmpfs of 3 MiB at a fresh directory, unmounted with the scope; `undefined` where mounting is not allowed. */
const smallDisk = Effect.gen(function*() {
  const directory = yield* tempDirectory
  const mounted = isRoot && spawnSync("mount", ["-t", "tmpfs", "-o", "size=3m", "tmpfs", directory]).status === 0
  if (!mounted) return undefined
  yield* Effect.addFinalizer(() => Effect.sync(() => spawnSync("umount", ["-l", directory])))
  return directory
})

/** A live run that committed an epoch, and then its lock file deleted. */
const liveRunWithLockDeleted = Effect.gen(function*() {
  const directory = yield* tempDirectory
  const lock = path.join(directory, "worker-0.lock")
  const first = yield* openStore(directory)
  yield* commitEpochs(first, 1)
  fs.rmSync(lock)
  return { directory, first, lock }
})

describe("SqliteRecovery faults", () => {
  it.scoped("a full disk fails the commit with StoreUnavailable naming the file, the epoch and the cause", () =>
    Effect.gen(function*() {
      const directory = yield* smallDisk
      if (directory === undefined) return
      const worker = yield* openStore(directory)
      const big = "7".repeat(256 * 1024)
      let epoch = 1
      const exit = yield* Effect.exit(Effect.gen(function*() {
        for (; epoch < 100; epoch++) {
          const at = epoch
          yield* worker.transaction(at, (transaction) =>
            Effect.sync(() => {
              for (let key = 0; key < 4; key++) transaction.write("blob", `k${at}-${key}`, big)
            }))
        }
      }))
      const error = failureOf(exit)
      assert.instanceOf(error, DataflowError.StoreUnavailable)
      const failed = error as DataflowError.StoreUnavailable
      assert.strictEqual(failed.store, path.join(directory, "worker-0.sqlite3"))
      assert.include(failed.message, `epoch ${epoch}`)
      assert.include(failed.message, "the disk is full")
    }))

  it.scoped("a flipped digit in a stored value fails the resume with StoreCorrupt naming step, key and file", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      yield* seed(directory, 3)
      const file = path.join(directory, "worker-0.sqlite3")
      const db = new Database(file)
      db.prepare("UPDATE sluice_snapshots SET value = ? WHERE step_id = 'count' AND key = 'k1'").run(
        encoder.encode("8")
      )
      db.close()
      const exit = yield* Effect.exit(readCounts(directory))
      const error = failureOf(exit)
      assert.instanceOf(error, DataflowError.StoreCorrupt)
      const corrupt = error as DataflowError.StoreCorrupt
      assert.strictEqual(corrupt.store, file)
      assert.include(corrupt.message, "step count")
      assert.include(corrupt.message, "key k1")
      assert.include(corrupt.message, "checksum")
    }))

  it.scoped("undamaged values resume as written", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      yield* seed(directory, 3)
      const { found, resumeEpoch } = yield* readCounts(directory)
      assert.strictEqual(resumeEpoch, 4)
      assert.deepStrictEqual(found, { k0: "3", k1: "3", k2: "3" })
    }))

  it.scoped("a store written before checksums is migrated: its values resume, and damage after that is caught", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      // Rows as the release before checksums wrote them.
      yield* storeOfLayout(directory, 1, (old) => {
        old.prepare("INSERT INTO sluice_snapshots (step_id, key, epoch, value) VALUES ('count', 'k0', 1, ?)").run(
          encoder.encode("5")
        )
        old.prepare("INSERT INTO sluice_progress (worker_index, epoch, committed_at) VALUES (0, 1, 0)").run()
      })
      const { found } = yield* readCounts(directory)
      assert.deepStrictEqual(found, { k0: "5" })
      const db = new Database(path.join(directory, "worker-0.sqlite3"))
      db.prepare("UPDATE sluice_snapshots SET value = ?").run(encoder.encode("6"))
      db.close()
      assert.instanceOf(failureOf(yield* Effect.exit(readCounts(directory))), DataflowError.StoreCorrupt)
    }))

  it.scoped("a deleted -wal file is StoreCorrupt, not a resume from an older epoch", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const file = path.join(directory, "worker-0.sqlite3")
      // A file as of epoch 1 whose -wal with epochs 2..6 is gone: what deleting the -wal before a checkpoint leaves.
      yield* seed(directory, 1)
      const saved = path.join(directory, "saved")
      fs.copyFileSync(file, saved)
      yield* seed(directory, 5)
      for (const suffix of ["-wal", "-shm"]) fs.rmSync(`${file}${suffix}`, { force: true })
      fs.renameSync(saved, file)
      const error = failureOf(yield* Effect.exit(readCounts(directory)))
      assert.instanceOf(error, DataflowError.StoreCorrupt)
      assert.include(error.message, "epoch 6")
      assert.include(error.message, "epoch 1")
    }))

  it.scoped("a worker file deleted from a finished multi-worker store is StoreCorrupt, not a fresh start", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      yield* seed(directory, 3, 0, 2)
      yield* seed(directory, 3, 1, 2)
      const deleted = path.join(directory, "worker-1.sqlite3")
      for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(`${deleted}${suffix}`, { force: true })
      for (const workerIndex of [0, 1]) {
        const error = failureOf(yield* Effect.exit(Effect.scoped(openStore(directory, workerIndex, 2))))
        assert.instanceOf(error, DataflowError.StoreCorrupt)
        assert.strictEqual((error as DataflowError.StoreCorrupt).store, deleted)
        assert.include(error.message, "epoch 3")
      }
    }))

  it.scoped("a lock file deleted under a live run keeps every other run out, and the live run goes on", () =>
    Effect.gen(function*() {
      const { directory, first, lock } = yield* liveRunWithLockDeleted
      // a second run finds the worker file without its lock: refused, not a run alongside the first
      const refused = failureOf(yield* Effect.exit(Effect.scoped(openStore(directory))))
      assert.instanceOf(refused, DataflowError.StoreUnavailable)
      assert.include(refused.message, "worker-0.lock is missing")
      assert.include(refused.message, "touch")
      assert.isFalse(fs.existsSync(lock), "the refused run created the lock")
      // the live run locks its path again before its next commit and goes on
      yield* commitEpochs(first, 1)
      assert.isTrue(fs.existsSync(lock))
      const busy = failureOf(yield* Effect.exit(Effect.scoped(openStore(directory))))
      assert.instanceOf(busy, DataflowError.StoreUnavailable)
      assert.include(busy.message, "already open in another live process")
    }))

  it.scoped("a lock file replaced by one another run holds stops the live run before its next commit", () =>
    Effect.gen(function*() {
      const { first, lock } = yield* liveRunWithLockDeleted
      // what a second run does once somebody recreated the lock file: it holds the new one
      const other = new Database(lock, { timeout: 0 })
      yield* Effect.addFinalizer(() => Effect.sync(() => other.close()))
      other.pragma("locking_mode = EXCLUSIVE")
      other.exec("BEGIN EXCLUSIVE")
      const error = failureOf(yield* Effect.exit(commitEpochs(first, 1)))
      assert.instanceOf(error, DataflowError.StoreUnavailable)
      assert.include(error.message, "worker-0.lock was deleted or replaced")
      assert.include(error.message, "another run now holds the new one")
    }))

  it("SQLite's read-only and I/O codes name their cause, not the client's \"Failed to prepare statement\"", () => {
    const sqliteError = (code: string, message: string) =>
      new SqlError({ message: "Failed to prepare statement", cause: Object.assign(new Error(message), { code }) })
    const readOnly = refail("/state/worker-0.sqlite3", "committing epoch 3 failed")(
      sqliteError("SQLITE_READONLY_DIRECTORY", "attempt to write a readonly database")
    )
    assert.instanceOf(readOnly, DataflowError.StoreUnavailable)
    assert.strictEqual(readOnly.store, "/state/worker-0.sqlite3")
    assert.include(readOnly.message, "committing epoch 3 failed: the store directory is read-only for this user")
    assert.include(readOnly.message, "SQLITE_READONLY_DIRECTORY")
    assert.notInclude(readOnly.message, "Failed to prepare statement")
    const io = refail("/state/worker-0.sqlite3", "committing epoch 3 failed")(
      sqliteError("SQLITE_IOERR_WRITE", "disk I/O error")
    )
    assert.include(io.message, "I/O error (SQLITE_IOERR_WRITE)")
    const other = refail("/state/worker-0.sqlite3", "reading the store progress failed")(
      sqliteError("SQLITE_ERROR", "no such table: sluice_progress")
    )
    assert.include(other.message, "no such table: sluice_progress (SQLITE_ERROR)")
  })
})
