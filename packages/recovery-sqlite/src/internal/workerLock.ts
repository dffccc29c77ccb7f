/**
 * One live opener per worker file. Two processes committing epochs of the
 * same worker would interleave their transactions into a state neither run
 * produced, so the second opener must fail before it touches the file.
 */
import { StoreUnavailable } from "@sluice/core/DataflowError"
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
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
 * @internal
 */
export const acquire = (
  directory: string,
  workerIndex: number,
  workerFile: string
): Effect.Effect<void, StoreUnavailable, Scope.Scope> => {
  const file = lockFile(directory, workerIndex)
  return Effect.asVoid(Effect.acquireRelease(
    Effect.try({
      try: () => {
        const db = new Database(file, { timeout: 0 })
        try {
          db.pragma("locking_mode = EXCLUSIVE")
          db.exec("BEGIN EXCLUSIVE")
        } catch (error) {
          db.close()
          throw error
        }
        return db
      },
      // The first better-sqlite3 connection of a run is this one: a build for another Node shows here.
      catch: (error) =>
        nativeBuildMismatch(workerFile, error) ?? (isBusy(error)
          ? new StoreUnavailable({
            store: workerFile,
            reason: `worker ${workerIndex} is already open in another live process (or another run of this one), ` +
              `which holds the lock ${file}; stop that run first, or give this run another directory`,
            cause: undefined
          })
          : new StoreUnavailable({
            store: workerFile,
            reason: `the lock ${file} cannot be taken; check that the directory is writable`,
            cause: error
          }))
    }),
    (db) => Effect.sync(() => db.close())
  ))
}
