/**
 * A worker file's epoch commits written on a thread of the store's own (R1).
 *
 * The commit's SQL (the changelog row, a fold's REPLACEs, COMMIT and the
 * WAL's fsync, a checkpoint now and then) was about a fifth of a word count's
 * run at 10k-word epochs, all on the dataflow's thread (bench/PROFILE.md,
 * "Commits on a thread of their own"). Here the dataflow's thread still
 * decides a commit's statements, and this thread runs them in one
 * transaction of its own connection, after a check: the epoch a commit
 * follows must be the file's last, so that no epoch is written after one
 * that failed. A fold (`Batch.foldUpTo`) is read, merged and written here,
 * in the same transaction. `BackendWorker.beginCommit` returns once the
 * batch is sent, so a run goes on with its next epochs while the thread
 * writes this one.
 *
 * The thread loads better-sqlite3 and nothing else (started with `eval` from
 * its function's source, as `pageReader.ts`). Batches end in the order they
 * are sent, each with one reply.
 *
 * A test may stop a commit between two statements (`Hooks.beforeCommitStatement`):
 * the thread then asks before each statement and waits on a shared flag
 * while the dataflow's thread runs the hook, which can kill the process
 * mid-transaction or fail the batch, as it did when the commit ran there.
 *
 * @internal
 */
import * as StoreKit from "@sluice/core/StoreKit"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import { Worker } from "node:worker_threads"
import * as Changelog from "./changelog.js"
import { describeError, driver, ThreadFailed, threadSource } from "./driverThread.js"

/**
 * The statements of one commit, in order, with their parameters, and the
 * fold that ends it, if any. They are numbered from 0 for the test hook, the
 * fold's among them.
 *
 * @internal
 */
export interface Batch {
  readonly statements: ReadonlyArray<string>
  readonly params: ReadonlyArray<ReadonlyArray<unknown>>
  /**
   * After the statements, fold the changelog rows of the epochs up to this
   * one into `sluice_snapshots` and delete them (`Changelog.materialize`).
   */
  readonly foldUpTo: number | undefined
  /**
   * What the file must hold for the batch to be written: `sql` (one row, one
   * column, or none read as `null`) gives `value`. Otherwise the batch fails
   * with `reason` and writes nothing: an epoch's commit names the epoch it
   * follows, so that none is written after one that failed.
   */
  readonly requires: {
    readonly sql: string
    readonly params: ReadonlyArray<unknown>
    readonly value: unknown
    readonly reason: string
  }
}

/**
 * The statements of the changelog, made on the dataflow's thread: the row
 * an epoch writes, the rows a fold reads, their deletion, and the multi-row
 * REPLACE and DELETE of `sluice_snapshots` by rows per statement, for each
 * size of `ladder`.
 *
 * @internal
 */
export interface FoldStatements {
  /**
   * The statement of an epoch's changelog row (`epoch, step_id, entries,
   * checksum`): the thread keeps the entries of each it commits, parsed,
   * for the fold to take when it reads the same text back.
   */
  readonly insertRow: string
  readonly readRows: string
  readonly deleteRows: string
  readonly ladder: ReadonlyArray<number>
  readonly upsert: Readonly<Record<number, string>>
  readonly delete: Readonly<Record<number, string>>
}

interface ThreadInput {
  readonly driver: string
  readonly file: string
  readonly pragmas: ReadonlyArray<string>
  readonly fold: FoldStatements
  /** An `Int32Array` flag: 0 while the thread waits, 1 to go on, 2 to fail the batch. */
  readonly pauses: SharedArrayBuffer | undefined
}

type ToThread = { readonly _tag: "Batch"; readonly batch: Batch } | { readonly _tag: "Close" }

type FromThread =
  | { readonly _tag: "Done" }
  | {
    readonly _tag: "Failed"
    readonly message: string
    readonly code: string | undefined
    readonly corrupt: boolean
  }
  | { readonly _tag: "Before"; readonly statement: number }

/**
 * The rows of a multi-row statement's next chunk: the largest size of
 * `ladder` (descending, ending in 1) that `remaining` rows fill. Both
 * threads cut their statements with it.
 *
 * @internal
 */
export const chunkRows = (ladder: ReadonlyArray<number>, remaining: number): number =>
  ladder.find((size) => size <= remaining) ?? 1

/** What the thread is given besides `workerData`: code of this package and of core, from their source. */
type ThreadCode = {
  readonly makeChangelog: typeof Changelog.makeChangelog
  readonly makeSnapshotChecksum: typeof StoreKit.makeSnapshotChecksum
  readonly chunkRows: typeof chunkRows
  readonly describeError: typeof describeError
}

/**
 * The thread's body. It runs from its source text (`toString`) in a thread
 * started with `eval`, so it closes over nothing: whatever it needs comes in
 * through `workerData`, the `require` it is given and `code`.
 */
const writeBatches = (load: NodeJS.Require, code: ThreadCode): void => {
  const { parentPort, workerData } = load("node:worker_threads") as typeof import("node:worker_threads")
  const input = workerData as ThreadInput
  const port = parentPort!
  const post = (message: FromThread) => port.postMessage(message)
  const pause = input.pauses === undefined ? undefined : new Int32Array(input.pauses)
  const zlib = load("node:zlib") as typeof import("node:zlib")
  const changelog = code.makeChangelog(zlib.crc32, code.makeSnapshotChecksum())
  let db: import("better-sqlite3").Database | undefined
  // an open that fails fails every batch, with the driver's error
  let opening: unknown
  try {
    const Database = load(input.driver) as typeof import("better-sqlite3")
    db = new Database(input.file, { fileMustExist: true })
    for (const pragma of input.pragmas) db.pragma(pragma)
  } catch (error) {
    opening = error
  }
  // the statements come from a fixed ladder of texts: a handful, each prepared once
  const prepared = new Map<string, import("better-sqlite3").Statement>()
  const statement = (text: string) => {
    let found = prepared.get(text)
    if (found === undefined) prepared.set(text, found = db!.prepare(text))
    return found
  }
  // The changelog rows this thread committed and no fold took yet, epoch →
  // step → row, parsed and merged after the commit's reply, while the
  // dataflow's thread runs. The fold at a run's end, which nothing overlaps,
  // then neither parses nor merges what it reads back when it is those rows
  // (bench/PROFILE.md, "The run's end"). Held as long as the file's tail,
  // so bounded by the same settings (`materializeEvery`, `changelogBytes`).
  const written = new Map<number, Map<string, Changelog.WrittenRow>>()
  // `written` merged in epoch order
  let merged = changelog.startFold()
  const mergeAgain = () => {
    merged = changelog.startFold()
    for (const epoch of [...written.keys()].sort((a, b) => a - b)) {
      for (const [stepId, row] of written.get(epoch)!) merged.add(stepId, { epoch, entries: row.entries })
    }
  }
  /** The changelog rows a batch writes, as `epoch, step_id, entries`. */
  const rowsOf = ({ params, statements }: Batch) =>
    params.filter((_, i) => statements[i] === input.fold.insertRow) as unknown as ReadonlyArray<
      readonly [number, string, string]
    >
  const keep = (batch: Batch) => {
    const newest = Math.max(0, ...written.keys())
    let again = false
    for (const [epoch, stepId, text] of rowsOf(batch)) {
      const entries = changelog.decodeEntries(text)
      if (typeof entries === "string") continue
      let steps = written.get(epoch)
      if (steps === undefined) written.set(epoch, steps = new Map())
      // merged in epoch order: a row written again, or before a later one, merges everything again
      again ||= steps.has(stepId) || epoch < newest
      steps.set(stepId, { text, entries })
      if (!again) merged.add(stepId, { epoch, entries })
    }
    if (again) mergeAgain()
  }
  /** After a batch kept before its commit failed. */
  const forget = (batch: Batch) => {
    for (const [epoch, stepId] of rowsOf(batch)) written.get(epoch)?.delete(stepId)
    mergeAgain()
  }
  /** After a fold up to `epoch`: what it took is gone. */
  const folded = (epoch: number) => {
    for (const past of written.keys()) if (past <= epoch) written.delete(past)
    mergeAgain()
  }
  const writtenRow = (stepId: string, epoch: number) => written.get(epoch)?.get(stepId)
  /** What a fold of `rows` writes: `merged` when they are the rows it holds, as written and checked. */
  const materialize = (rows: ReadonlyArray<Changelog.StoredRow & { readonly step_id: string }>) =>
    merged.rows() === rows.length && rows.every((row) => {
        const kept = writtenRow(row.step_id, row.epoch)
        return kept?.text === row.entries && typeof changelog.check(row.step_id, row, kept) !== "string"
      })
      ? merged.result()
      : changelog.materialize(rows, writtenRow)
  /** The fold found a damaged row: `StoreCorrupt` on the dataflow's thread. */
  class Corrupt extends Error {}
  const write = (batch: Batch) => {
    if (db === undefined) throw opening
    let number = 0
    // every statement of the batch is numbered, and with the test hook waits for its go first
    const before = () => {
      const current = number++
      if (pause === undefined) return
      Atomics.store(pause, 0, 0)
      post({ _tag: "Before", statement: current })
      Atomics.wait(pause, 0, 0)
      if (Atomics.load(pause, 0) === 2) throw new Error(`stopped before statement ${current}`)
    }
    const run = (text: string, params: ReadonlyArray<unknown>) => {
      before()
      statement(text).run(params)
    }
    const inChunks = (params: ReadonlyArray<unknown>, columns: number, texts: Readonly<Record<number, string>>) => {
      const total = params.length / columns
      for (let i = 0; i < total;) {
        const rows = code.chunkRows(input.fold.ladder, total - i)
        run(texts[rows], params.slice(i * columns, (i + rows) * columns))
        i += rows
      }
    }
    db.exec("BEGIN IMMEDIATE")
    try {
      const { requires } = batch
      const found: unknown = statement(requires.sql).pluck().get(requires.params) ?? null
      if (found !== requires.value) throw new Error(requires.reason)
      for (let i = 0; i < batch.statements.length; i++) run(batch.statements[i], batch.params[i])
      if (batch.foldUpTo !== undefined) {
        // the fold reads this batch's rows too
        keep(batch)
        before()
        const rows = statement(input.fold.readRows).all([batch.foldUpTo]) as Array<
          Changelog.StoredRow & { readonly step_id: string }
        >
        const fold = materialize(rows)
        if (typeof fold === "string") throw new Corrupt(fold)
        inChunks(fold.live, 5, input.fold.upsert)
        inChunks(fold.deleted, 2, input.fold.delete)
        if (rows.length > 0) run(input.fold.deleteRows, [batch.foldUpTo])
      }
      db.exec("COMMIT")
      if (batch.foldUpTo !== undefined) folded(batch.foldUpTo)
    } catch (error) {
      // SQLite may have rolled back already (a full disk at COMMIT)
      if (db.inTransaction) {
        try {
          db.exec("ROLLBACK")
        } catch {
          // the connection is closed with the thread; the batch's error is the one to report
        }
      }
      if (batch.foldUpTo !== undefined) forget(batch)
      throw error
    }
  }
  port.on("message", (message: ToThread) => {
    if (message._tag === "Close") {
      db?.close()
      port.close()
      return
    }
    try {
      write(message.batch)
    } catch (error) {
      post({ _tag: "Failed", ...code.describeError(error), corrupt: error instanceof Corrupt })
      return
    }
    post({ _tag: "Done" })
    if (message.batch.foldUpTo === undefined) keep(message.batch)
  })
}

/**
 * A started commit thread.
 *
 * @internal
 */
export interface CommitThread {
  /**
   * Sends `batch`, and returns what waits for it to be committed. `weight`
   * counts toward `waitBelow`; `beforeStatement` is the test hook, run on
   * this thread before each statement. `onFailure` runs here when the batch
   * fails, unless a batch sent before it failed first (its failure is then
   * that one's consequence).
   */
  readonly send: (batch: Batch, options: {
    readonly weight: number
    readonly beforeStatement?: ((statement: number) => void) | undefined
    readonly onFailure: (error: unknown) => void
  }) => Effect.Effect<Effect.Effect<void, ThreadFailed>>
  /** Waits until fewer than `batches` batches of less than `weight` in all are waiting, however the others ended. */
  readonly waitBelow: (batches: number, weight: number) => Effect.Effect<void>
  /** Waits until every batch sent has ended, however. */
  readonly idle: Effect.Effect<void>
}

interface Sent {
  readonly done: Deferred.Deferred<void, ThreadFailed>
  readonly weight: number
  readonly beforeStatement: ((statement: number) => void) | undefined
  readonly onFailure: (error: unknown) => void
  /**
   * The failures delivered when it was sent. More by the time its own
   * failure is delivered: a batch sent before it failed after it was sent,
   * and its failure is that one's consequence.
   */
  readonly failuresAtSend: number
  /** What the hook threw, to fail the batch with as it would have failed on this thread. */
  thrown?: { readonly error: unknown }
}

/**
 * Starts the thread on `file` (already created and migrated), with its
 * connection's `pragmas`. `pausable` is for tests with a statement hook. The
 * thread ends with the scope, after the batches sent.
 *
 * @internal
 */
export const start = (options: {
  readonly file: string
  readonly pragmas: ReadonlyArray<string>
  readonly fold: FoldStatements
  readonly pausable: boolean
}): Effect.Effect<CommitThread, never, Scope.Scope> =>
  Effect.gen(function*() {
    const pauses = options.pausable ? new SharedArrayBuffer(4) : undefined
    const flag = pauses === undefined ? undefined : new Int32Array(pauses)
    const workerData: ThreadInput = { driver, file: options.file, pragmas: options.pragmas, fold: options.fold, pauses }
    const sent: Array<Sent> = []
    let weight = 0
    let failures = 0
    let ended: string | undefined
    const code: ThreadCode = {
      makeChangelog: Changelog.makeChangelog,
      makeSnapshotChecksum: StoreKit.makeSnapshotChecksum,
      chunkRows,
      describeError
    }
    const worker = new Worker(threadSource(writeBatches, code), { eval: true, workerData, execArgv: [] })
    const deliver = (batch: Sent, exit: Exit.Exit<void, ThreadFailed>) => {
      weight -= batch.weight
      if (Exit.isFailure(exit)) {
        if (batch.failuresAtSend === failures) batch.onFailure(Cause.squash(exit.cause))
        failures++
      }
      Deferred.unsafeDone(batch.done, exit)
    }
    worker.on("message", (message: FromThread) => {
      if (message._tag === "Before") {
        const head = sent[0]!
        let answer = 1
        try {
          head.beforeStatement?.(message.statement)
        } catch (error) {
          head.thrown = { error }
          answer = 2
        }
        Atomics.store(flag!, 0, answer)
        Atomics.notify(flag!, 0)
        return
      }
      const head = sent.shift()!
      deliver(
        head,
        message._tag === "Done"
          ? Exit.void
          : head.thrown !== undefined
          ? Exit.die(head.thrown.error)
          : Exit.fail(new ThreadFailed({ message: message.message, code: message.code, corrupt: message.corrupt }))
      )
    })
    // a thread that stops (killed, out of memory) fails what it was given and everything after
    const stop = (reason: string) => {
      if (ended !== undefined) return
      ended = reason
      for (const batch of sent.splice(0)) {
        deliver(batch, Exit.fail(new ThreadFailed({ message: reason, code: undefined, corrupt: false })))
      }
    }
    worker.on("error", (error) => stop(`the commit thread failed: ${error.message}`))
    worker.on("exit", (code) => stop(`the commit thread exited with code ${code}`))
    const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()))

    const waitBelow: CommitThread["waitBelow"] = (batches, most) =>
      Effect.suspend(function loop(): Effect.Effect<void> {
        if (sent.length < batches && (sent.length === 0 || weight < most)) return Effect.void
        return Effect.zipRight(Effect.ignore(Deferred.await(sent[0].done)), Effect.suspend(loop))
      })
    const idle = waitBelow(1, Infinity)
    yield* Effect.addFinalizer(() =>
      Effect.zipRight(
        idle,
        Effect.promise(() => {
          if (ended === undefined) worker.postMessage({ _tag: "Close" } satisfies ToThread)
          return exited
        })
      )
    )
    const send: CommitThread["send"] = (batch, { beforeStatement, onFailure, weight: batchWeight }) =>
      Effect.gen(function*() {
        if (ended !== undefined) {
          return Effect.fail(new ThreadFailed({ message: ended, code: undefined, corrupt: false }))
        }
        const done = yield* Deferred.make<void, ThreadFailed>()
        sent.push({ done, weight: batchWeight, beforeStatement, onFailure, failuresAtSend: failures })
        weight += batchWeight
        worker.postMessage({ _tag: "Batch", batch } satisfies ToThread)
        return Deferred.await(done)
      })
    return { send, waitBelow, idle }
  })
