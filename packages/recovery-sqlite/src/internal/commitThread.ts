/**
 * A worker file's epoch commits written on a thread of the store's own (R1).
 *
 * The commit's SQL (the changelog row, a fold's REPLACEs, COMMIT and the
 * WAL's fsync, a checkpoint now and then) was about a fifth of a word count's
 * run at 10k-word epochs, all on the dataflow's thread (bench/PROFILE.md,
 * "Commits on a thread of their own"). Here the dataflow's thread still
 * decides everything a commit writes, statement by statement, and this
 * thread runs the statements in one transaction of its own connection. The
 * dataflow's thread reads what it needs before (a fold's changelog rows): a
 * batch never reads. `BackendWorker.beginCommit` returns once the batch is
 * sent, so a run goes on with its next epoch while the thread writes this
 * one.
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
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import { Worker } from "node:worker_threads"
import { driver, ThreadFailed, threadSource } from "./driverThread.js"

/**
 * The statements of one commit, in order, with their parameters; `first` is
 * the number of the first among all the commit's statements, for the hook.
 *
 * @internal
 */
export interface Batch {
  readonly first: number
  readonly statements: ReadonlyArray<string>
  readonly params: ReadonlyArray<ReadonlyArray<unknown>>
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

interface ThreadInput {
  readonly driver: string
  readonly file: string
  readonly pragmas: ReadonlyArray<string>
  /** An `Int32Array` flag: 0 while the thread waits, 1 to go on, 2 to fail the batch. */
  readonly pauses: SharedArrayBuffer | undefined
}

type ToThread = { readonly _tag: "Batch"; readonly batch: Batch } | { readonly _tag: "Close" }

type FromThread =
  | { readonly _tag: "Done" }
  | { readonly _tag: "Failed"; readonly message: string; readonly code: string | undefined }
  | { readonly _tag: "Before"; readonly statement: number }

/**
 * The thread's body. It runs from its source text (`toString`) in a thread
 * started with `eval`, so it closes over nothing: whatever it needs comes in
 * through `workerData` and the `require` it is given.
 */
const writeBatches = (load: NodeJS.Require): void => {
  const { parentPort, workerData } = load("node:worker_threads") as typeof import("node:worker_threads")
  const input = workerData as ThreadInput
  const port = parentPort!
  const post = (message: FromThread) => port.postMessage(message)
  const pause = input.pauses === undefined ? undefined : new Int32Array(input.pauses)
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
  const write = (batch: Batch) => {
    if (db === undefined) throw opening
    db.exec("BEGIN IMMEDIATE")
    try {
      const { requires } = batch
      const found: unknown = statement(requires.sql).pluck().get(requires.params) ?? null
      if (found !== requires.value) throw new Error(requires.reason)
      for (let i = 0; i < batch.statements.length; i++) {
        if (pause !== undefined) {
          Atomics.store(pause, 0, 0)
          post({ _tag: "Before", statement: batch.first + i })
          Atomics.wait(pause, 0, 0)
          if (Atomics.load(pause, 0) === 2) throw new Error(`stopped before statement ${batch.first + i}`)
        }
        statement(batch.statements[i]).run(batch.params[i])
      }
      db.exec("COMMIT")
    } catch (error) {
      // SQLite may have rolled back already (a full disk at COMMIT)
      if (db.inTransaction) {
        try {
          db.exec("ROLLBACK")
        } catch {
          // the connection is closed with the thread; the batch's error is the one to report
        }
      }
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
      post({ _tag: "Done" })
    } catch (error) {
      const { code, message } = error as { readonly message?: unknown; readonly code?: unknown }
      post({ _tag: "Failed", message: String(message), code: typeof code === "string" ? code : undefined })
    }
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
  /** Failures delivered when it was sent: more by its own delivery, and an earlier batch failed after it was sent. */
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
  readonly pausable: boolean
}): Effect.Effect<CommitThread, never, Scope.Scope> =>
  Effect.gen(function*() {
    const pauses = options.pausable ? new SharedArrayBuffer(4) : undefined
    const flag = pauses === undefined ? undefined : new Int32Array(pauses)
    const workerData: ThreadInput = { driver, file: options.file, pragmas: options.pragmas, pauses }
    const sent: Array<Sent> = []
    let weight = 0
    let failures = 0
    let ended: string | undefined
    const worker = new Worker(threadSource(writeBatches), { eval: true, workerData, execArgv: [] })
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
          : Exit.fail(new ThreadFailed({ message: message.message, code: message.code }))
      )
    })
    // a thread that stops (killed, out of memory) fails what it was given and everything after
    const stop = (reason: string) => {
      if (ended !== undefined) return
      ended = reason
      for (const batch of sent.splice(0)) {
        deliver(batch, Exit.fail(new ThreadFailed({ message: reason, code: undefined })))
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
        if (ended !== undefined) return Effect.fail(new ThreadFailed({ message: ended, code: undefined }))
        const done = yield* Deferred.make<void, ThreadFailed>()
        sent.push({ done, weight: batchWeight, beforeStatement, onFailure, failuresAtSend: failures })
        weight += batchWeight
        worker.postMessage({ _tag: "Batch", batch } satisfies ToThread)
        return Deferred.await(done)
      })
    return { send, waitBelow, idle }
  })
