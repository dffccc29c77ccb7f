/**
 * The pages of a resume's table scan read on a second thread (R3).
 *
 * An eager resume of a million keys spent about a third of its run in the
 * driver turning rows into JavaScript and the rest putting them into the
 * step's state (bench/PROFILE.md, "Eager resume of 1M keys"). One thread did
 * both in turn; here a thread of this package reads the pages while the
 * dataflow's thread restores the ones before, so the two costs overlap on two
 * cores.
 *
 * The thread loads better-sqlite3 and nothing else (no Effect, no Sluice
 * module: its first page arrives ~35 ms after it is started, while the
 * dataflow's thread restores the first page), opens its own read-only
 * connection, and reads the same keyset pages as the first one: a
 * primary-key range search from the last key of the page before. A page
 * crosses as two strings, its keys and its values each laid end to end, with
 * their UTF-16 lengths and checksums in typed arrays that are moved, not
 * copied; a string copies in one piece where an array of rows would be cloned
 * string by string. Keys and values apart, because V8 cuts a piece of 13 or
 * more characters as a view into its string: a restored key that long keeps
 * its page's keys alive, never its values. It reads at most `AHEAD` pages ahead of the consumer,
 * so a table larger than memory is never buffered whole.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import { Worker } from "node:worker_threads"
import { describeError, driver, ThreadFailed, threadSource } from "./driverThread.js"

/** A page of the scan, in key order: row `i` is `keys[i]`, `values[i]`, `checksums[i]`. */
export interface Page {
  readonly keys: ReadonlyArray<string>
  readonly values: ReadonlyArray<string>
  readonly checksums: ArrayLike<number>
}

/** Pages read ahead of the one being restored: enough to keep the thread busy, little memory. */
const AHEAD = 4

interface ThreadInput {
  readonly driver: string
  readonly file: string
  readonly sql: string
  readonly parameters: Readonly<Record<string, unknown>>
  readonly after: string
  readonly pageSize: number
  readonly ahead: number
}

type ThreadMessage =
  | {
    readonly _tag: "Page"
    readonly keys: string
    readonly values: string
    readonly lengths: Uint32Array
    readonly checksums: Float64Array
  }
  | { readonly _tag: "Failed"; readonly message: string; readonly code: string | undefined }

/**
 * The thread's body. It runs from its source text (`toString`) in a thread
 * started with `eval`, so it closes over nothing: whatever it needs comes in
 * through `workerData` and the `require` it is given.
 */
const readPages = (load: NodeJS.Require, code: { readonly describeError: typeof describeError }): void => {
  const { parentPort, workerData } = load("node:worker_threads") as typeof import("node:worker_threads")
  const input = workerData as ThreadInput
  const port = parentPort!
  const post = (message: ThreadMessage, transfer: Array<ArrayBuffer> = []) => port.postMessage(message, transfer)
  const failed = (error: unknown) => post({ _tag: "Failed", ...code.describeError(error) })
  try {
    const Database = load(input.driver) as typeof import("better-sqlite3")
    const db = new Database(input.file, { readonly: true, fileMustExist: true })
    const page = db.prepare(input.sql).raw(true)
    // one read transaction for every page: they all see the same state of the file
    db.exec("BEGIN")
    let after = input.after
    let credit = input.ahead
    let done = false
    const send = () => {
      try {
        while (credit > 0 && !done) {
          const rows = page.all({ ...input.parameters, after }) as Array<[string, string, number]>
          const lengths = new Uint32Array(rows.length * 2)
          const checksums = new Float64Array(rows.length)
          const keys = new Array<string>(rows.length)
          const values = new Array<string>(rows.length)
          for (let i = 0; i < rows.length; i++) {
            const [key, value, checksum] = rows[i]
            keys[i] = key
            values[i] = value
            lengths[2 * i] = key.length
            lengths[2 * i + 1] = value.length
            checksums[i] = checksum
          }
          credit--
          done = rows.length < input.pageSize
          if (!done) after = rows[rows.length - 1][0]
          const message = { _tag: "Page", keys: keys.join(""), values: values.join(""), lengths, checksums } as const
          post(message, [lengths.buffer, checksums.buffer])
          if (done) {
            db.exec("COMMIT")
            db.close()
            port.close()
          }
        }
      } catch (error) {
        done = true
        failed(error)
      }
    }
    // each page taken by the consumer is a credit for one more
    port.on("message", () => {
      credit++
      send()
    })
    send()
  } catch (error) {
    failed(error)
  }
}

/** The keys and values of a page laid end to end, cut back apart. */
const decodePage = (message: Extract<ThreadMessage, { _tag: "Page" }>): Page => {
  const { lengths } = message
  const rows = lengths.length / 2
  const keys = new Array<string>(rows)
  const values = new Array<string>(rows)
  let keyAt = 0
  let valueAt = 0
  for (let i = 0; i < rows; i++) {
    keys[i] = message.keys.slice(keyAt, keyAt += lengths[2 * i])
    values[i] = message.values.slice(valueAt, valueAt += lengths[2 * i + 1])
  }
  return { keys, values, checksums: message.checksums }
}

/**
 * Starts a thread reading the pages of `sql` (a keyset page: it takes
 * `parameters` and `after`, the last key of the page before) from `file`,
 * from the page after `after` on. `next` takes the next page; a page shorter
 * than `pageSize` is the last. The thread ends with the scope.
 *
 * @internal
 */
export const start = (options: {
  readonly file: string
  readonly sql: string
  readonly parameters: Readonly<Record<string, unknown>>
  readonly after: string
  readonly pageSize: number
}): Effect.Effect<{ readonly next: Effect.Effect<Page, ThreadFailed> }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const arrived = yield* Queue.unbounded<ThreadMessage>()
    const workerData: ThreadInput = { ...options, driver, ahead: AHEAD }
    const worker = yield* Effect.acquireRelease(
      // `execArgv: []`: the parent's loaders (tsx, a test runner's hooks) are nothing this thread needs
      Effect.sync(() =>
        new Worker(threadSource(readPages, { describeError }), { eval: true, workerData, execArgv: [] })
      ),
      (worker) => Effect.promise(() => worker.terminate())
    )
    // whether the last page has arrived: the thread then ends by itself
    let ended = false
    worker.on("message", (message: ThreadMessage) => {
      if (message._tag === "Page" && message.checksums.length < options.pageSize) ended = true
      Queue.unsafeOffer(arrived, message)
    })
    worker.on(
      "error",
      (error) => Queue.unsafeOffer(arrived, { _tag: "Failed", message: error.message, code: undefined })
    )
    // a thread that stops before its last page (killed, out of memory) must not leave the read waiting
    worker.on("exit", (code) => {
      if (!ended) {
        Queue.unsafeOffer(arrived, { _tag: "Failed", message: `the reader exited with ${code}`, code: undefined })
      }
    })
    const next = Effect.flatMap(Queue.take(arrived), (message) => {
      if (message._tag === "Failed") {
        return Effect.fail(new ThreadFailed({ message: message.message, code: message.code }))
      }
      if (!ended) worker.postMessage(0)
      return Effect.succeed(decodePage(message))
    })
    return { next }
  })
