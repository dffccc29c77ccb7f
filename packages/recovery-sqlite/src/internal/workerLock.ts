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
 * A lock file deleted under a live run would let a second run lock a new file
 * of the same name; the effect returned fails once the path no longer names
 * the locked file, and the worker checks it before every commit, so the first
 * run stops before it commits alongside the second.
 *
 * @internal
 */
export const acquire = (
  directory: string,
  workerIndex: number,
  workerFile: string
): Effect.Effect<Effect.Effect<void, StoreUnavailable>, StoreUnavailable, Scope.Scope> => {
  const file = lockFile(directory, workerIndex)
  return Effect.map(
    Effect.acquireRelease(
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
    ),
    () => {
      const locked = inode(file)
      return Effect.suspend(() =>
        inode(file) === locked ? Effect.void : Effect.fail(
          new StoreUnavailable({
            store: workerFile,
            reason: `the lock ${file} was deleted or replaced while this run held it, so another run may be ` +
              `writing worker ${workerIndex}; this run stops before committing. Stop every run on the directory ` +
              `and start one again to resume`,
            cause: undefined
          })
        )
      )
    }
  )
}

const inode = (file: string): number | undefined => {
  try {
    return fs.statSync(file).ino
  } catch {
    return undefined
  }
}
