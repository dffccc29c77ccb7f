/**
 * One live opener per worker file. Two processes committing epochs of the
 * same worker would interleave their transactions into a state neither run
 * produced, so the second opener must fail before it touches the file.
 */
import { StoreUnavailable } from "@sluice/core/DataflowError"
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as CommittedEpoch from "./committedEpoch.js"
import { isBusy, lockFile, nativeBuildMismatch } from "./storeFile.js"

/**
 * Holds an exclusive lock on `worker-<n>.lock` for the scope.
 *
 * The lock is SQLite's own POSIX advisory lock on a database that stays
 * empty: `locking_mode = EXCLUSIVE` with an open `BEGIN EXCLUSIVE`. The
 * kernel drops it when the holder dies, even by SIGKILL, so a crashed run
 * never blocks the next one; a busy timeout of 0 makes a second opener fail
 * at once instead of waiting. SQLite also tracks these locks between
 * connections of one process, so a second open in the same process fails too.
 *
 * A lock file deleted under a live run must not let a second run lock a new
 * file of the same name. Sluice never deletes a lock file, so a worker that
 * committed epochs without its lock file means somebody deleted it: the opener refuses
 * (`refuseIfDeleted`, before it takes the lock). The
 * live run, before each commit, locks its path again if the file there is not
 * the one it locked (deleted, or replaced): if it can, no other run holds the
 * worker and it goes on; if another run holds the new file, it stops before
 * it commits alongside that run.
 *
 * @internal
 */
export const acquire = (
  directory: string,
  workerIndex: number,
  workerFile: string
): Effect.Effect<Effect.Effect<void, StoreUnavailable>, StoreUnavailable, Scope.Scope> => {
  const file = lockFile(directory, workerIndex)
  const busy = (reason: string, cause: unknown) => new StoreUnavailable({ store: workerFile, reason, cause })
  return Effect.gen(function*() {
    // the lock held now: the one taken here, or one taken again after the file was deleted
    const current: { held?: Held } = {}
    yield* Effect.acquireRelease(
      Effect.try({
        try: () => {
          current.held = lock(file)
        },
        // The first better-sqlite3 connection of a run is this one: a build for another Node shows here.
        catch: (error) =>
          nativeBuildMismatch(workerFile, error) ?? (isBusy(error)
            ? busy(
              `worker ${workerIndex} is already open in another live process (or another run of this one), ` +
                `which holds the lock ${file}; stop that run first, or give this run another directory`,
              undefined
            )
            : busy(`the lock ${file} cannot be taken; check that the directory is writable`, error))
      }),
      () => Effect.sync(() => current.held?.db.close())
    )
    return Effect.suspend((): Effect.Effect<void, StoreUnavailable> => {
      if (inode(file) === current.held?.inode) return Effect.void
      return Effect.try({
        try: () => {
          const relocked = lock(file)
          current.held?.db.close()
          current.held = relocked
        },
        catch: (error) =>
          busy(
            `the lock ${file} was deleted or replaced while this run held it, and ` +
              (isBusy(error)
                ? `another run now holds the new one and may be writing worker ${workerIndex}`
                : "it cannot be taken again") +
              `; this run stops before committing. Stop every run on the directory and start one again to resume`,
            isBusy(error) ? undefined : error
          )
      })
    })
  })
}

interface Held {
  readonly db: Database.Database
  readonly inode: number | undefined
}

/**
 * Refuses a worker whose lock file is missing although it has committed
 * epochs (see `acquire`), without creating the lock: the next opener must be
 * refused as well.
 *
 * @internal
 */
export const refuseIfDeleted = (
  directory: string,
  workerIndex: number,
  workerFile: string
): Effect.Effect<void, StoreUnavailable> => {
  const file = lockFile(directory, workerIndex)
  // the epoch record is written by a worker's commits and never deleted either: a worker Sluice ran has one
  return fs.existsSync(file) || !fs.existsSync(CommittedEpoch.recordFile(directory, workerIndex))
    ? Effect.void
    : Effect.fail(
      new StoreUnavailable({
        store: workerFile,
        reason: `the lock ${file} is missing beside its worker file: somebody deleted it, perhaps under a live run ` +
          `that still writes worker ${workerIndex}. If no run uses this directory, create it again (touch ${file}) ` +
          `and run again`,
        cause: undefined
      })
    )
}

/** SQLite's exclusive lock on `file`, created empty if missing; fails with SQLITE_BUSY while another holds it. */
const lock = (file: string): Held => {
  const db = new Database(file, { timeout: 0 })
  try {
    db.pragma("locking_mode = EXCLUSIVE")
    db.exec("BEGIN EXCLUSIVE")
  } catch (error) {
    db.close()
    throw error
  }
  return { db, inode: inode(file) }
}

const inode = (file: string): number | undefined => {
  try {
    return fs.statSync(file).ino
  } catch {
    return undefined
  }
}
