/**
 * The files of a SQLite store and what can be wrong with them before and while
 * SQLite reads them: the naming of worker files, the guard against files that
 * are not databases, and the translation of SQLite's errors into the store
 * errors of core.
 */
import { StoreCorrupt, StoreUnavailable } from "@sluice/core/DataflowError"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { ThreadFailed } from "./driverThread.js"

/** @internal */
export const workerFile = (directory: string, workerIndex: number): string =>
  path.join(directory, `worker-${workerIndex}.sqlite3`)

/**
 * The lock is a file of its own, not a lock on the worker file: other
 * workers read a worker file's progress while its owner holds the lock.
 *
 * @internal
 */
export const lockFile = (directory: string, workerIndex: number): string =>
  path.join(directory, `worker-${workerIndex}.lock`)

/**
 * Creates the store directory and checks, before any work is done, that this
 * process can write the directory and every store file already in it: SQLite
 * opens a read-only file read-only without a word, so such a store would fail
 * only at the first commit, after a whole epoch of work.
 *
 * @internal
 */
export const ensureDirectory = (directory: string): Effect.Effect<void, StoreUnavailable> =>
  Effect.try({
    try: () => {
      fs.mkdirSync(directory, { recursive: true })
      requireWritable(directory, "the store directory")
      for (const name of fs.readdirSync(directory)) {
        if (STORE_FILE.test(name)) requireWritable(path.join(directory, name), "the store file")
      }
    },
    catch: (cause) =>
      cause instanceof StoreUnavailable ? cause : new StoreUnavailable({
        store: directory,
        reason: "the store directory cannot be created; check the path and its permissions",
        cause
      })
  })

/**
 * The files a store keeps in its directory: worker databases with SQLite's
 * journal files, the worker locks and epoch records, and a rescale's plan.
 */
const STORE_FILE = /^(?:worker-\d+\.(?:sqlite3(?:-wal|-shm|-journal)?|lock|epoch)|rescale-plan(?:\.tmp)?)$/

const requireWritable = (file: string, what: string): void => {
  try {
    fs.accessSync(file, fs.constants.R_OK | fs.constants.W_OK)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === "ENOENT") return // removed meanwhile (a peer's journal file): nothing to write to
    const user = typeof process.getuid === "function" ? ` (uid ${process.getuid()})` : ""
    throw new StoreUnavailable({
      store: file,
      reason: code === "EROFS"
        ? `${what} is on a read-only file system; put the store on a writable one`
        : `${what} is not writable by this user${user}, and every commit writes it; ` +
          `make it writable (chmod u+w, or chown to this user) or run as the user that owns it`,
      cause: undefined
    })
  }
}

/**
 * A better-sqlite3 whose native part was compiled for another Node.js (say,
 * installed under Node 20 and run under Node 24): Node refuses to load it, at
 * the first `new Database`. Rebuilding it is the fix, not the file system.
 *
 * @internal
 */
export const nativeBuildMismatch = (file: string, error: unknown): StoreUnavailable | undefined => {
  const message = error instanceof Error ? error.message : ""
  const versions = /NODE_MODULE_VERSION (\d+)[\s\S]*NODE_MODULE_VERSION (\d+)/.exec(message)
  if (versions === null) return undefined
  return new StoreUnavailable({
    store: file,
    reason: `better-sqlite3 was built for another Node.js (module version ${versions[1]}; Node ${process.version} ` +
      `needs ${versions[2]}): rebuild better-sqlite3 for this Node with \`npm rebuild better-sqlite3\` ` +
      `(\`pnpm rebuild better-sqlite3\` in a pnpm project)`,
    cause: undefined
  })
}

const HEADER = Buffer.from("SQLite format 3\u0000", "latin1")

/**
 * What is on disk where a worker file should be.
 *
 * @internal
 */
export type FileState = "missing" | "empty" | "database"

/**
 * Checks the first bytes of `file` before SQLite opens it: SQLite reports a
 * stranger's file only at its first statement, and as a defect of the client.
 *
 * @internal
 */
export const inspectSync = (file: string): FileState => {
  let fd: number
  try {
    fd = fs.openSync(file, "r")
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "missing"
    throw error
  }
  try {
    const size = fs.fstatSync(fd).size
    if (size === 0) return "empty"
    const head = Buffer.alloc(HEADER.length)
    const read = fs.readSync(fd, head, 0, head.length, 0)
    if (read < HEADER.length || !head.equals(HEADER)) {
      throw new StoreCorrupt({
        store: file,
        reason: `the file is not a SQLite database: it starts with ${describeBytes(head.subarray(0, read))}`
      })
    }
    return "database"
  } finally {
    fs.closeSync(fd)
  }
}

/** @internal */
export const inspect = (file: string): Effect.Effect<FileState, StoreCorrupt | StoreUnavailable> =>
  Effect.try({ try: () => inspectSync(file), catch: refail(file, "reading the file header failed") })

const describeBytes = (bytes: Uint8Array): string => {
  let text = ""
  for (const byte of bytes) {
    text += byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, "0")}`
  }
  return JSON.stringify(text)
}

/**
 * The SQLite result code of an error from better-sqlite3, reached through
 * the `SqlError` of `@effect/sql` when there is one.
 */
const sqliteCode = (error: unknown): string | undefined => {
  for (let current = error, depth = 0; typeof current === "object" && current !== null && depth < 4; depth++) {
    const code = (current as { readonly code?: unknown }).code
    if (typeof code === "string" && code.startsWith("SQLITE_")) return code
    current = (current as { readonly cause?: unknown }).cause
  }
  return undefined
}

const sqliteMessage = (error: unknown): string => {
  for (let current = error, depth = 0; typeof current === "object" && current !== null && depth < 4; depth++) {
    if (typeof (current as { readonly code?: unknown }).code === "string" && current instanceof Error) {
      return current.message
    }
    current = (current as { readonly cause?: unknown }).cause
  }
  return error instanceof Error ? error.message : String(error)
}

const readOnlyReason = (code: string): string => {
  switch (code) {
    case "SQLITE_READONLY_DIRECTORY":
      return "the store directory is read-only for this user"
    case "SQLITE_READONLY_DBMOVED":
      return "the file was moved or deleted while open"
    default:
      return "the file is read-only for this user"
  }
}

/** @internal */
export const isBusy = (error: unknown): boolean => {
  const code = sqliteCode(error)
  return code !== undefined && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"))
}

/**
 * Maps a failure of `doing` on `file` to a store error: damage is
 * `StoreCorrupt` (moving the file away is the fix), everything else is
 * `StoreUnavailable` with the SQLite error as cause.
 *
 * @internal
 */
export const refail = (file: string, doing: string) => (error: unknown): StoreCorrupt | StoreUnavailable => {
  if (error instanceof StoreCorrupt || error instanceof StoreUnavailable) return error
  const mismatch = nativeBuildMismatch(file, error)
  if (mismatch !== undefined) return mismatch
  const code = sqliteCode(error)
  if (code !== undefined && (code.startsWith("SQLITE_CORRUPT") || code === "SQLITE_NOTADB")) {
    return new StoreCorrupt({ store: file, reason: `${doing}: ${sqliteMessage(error)}` })
  }
  if (code !== undefined && code.startsWith("SQLITE_FULL")) {
    return new StoreUnavailable({
      store: file,
      reason: `${doing}: the disk is full (${code}); free space on its file system and run again to resume`,
      cause: undefined
    })
  }
  if (isBusy(error)) {
    return new StoreUnavailable({
      store: file,
      reason: `${doing}: the database is locked by another connection`,
      cause: error
    })
  }
  if (code !== undefined && code.startsWith("SQLITE_READONLY")) {
    return new StoreUnavailable({
      store: file,
      reason: `${doing}: ${readOnlyReason(code)} (${code}); make the file and its directory writable by this user ` +
        `or run as the user that owns them`,
      cause: undefined
    })
  }
  if (code !== undefined && code.startsWith("SQLITE_IOERR")) {
    return new StoreUnavailable({
      store: file,
      reason: `${doing}: the file system reported an I/O error (${code}); check the disk and the kernel log`,
      cause: undefined
    })
  }
  // A fold on the commit thread found a damaged changelog row: its words name the row.
  if (error instanceof ThreadFailed && error.corrupt === true) {
    return new StoreCorrupt({ store: file, reason: error.message })
  }
  // A store thread that stopped, or a commit refused by its order: the thread's words are the cause.
  if (code === undefined && error instanceof ThreadFailed) {
    return new StoreUnavailable({ store: file, reason: `${doing}: ${error.message}`, cause: undefined })
  }
  // `@effect/sql` says only "Failed to prepare statement": SQLite's own words name the cause.
  return new StoreUnavailable({
    store: file,
    reason: code === undefined ? doing : `${doing}: ${sqliteMessage(error)} (${code})`,
    cause: code === undefined ? error : undefined
  })
}
