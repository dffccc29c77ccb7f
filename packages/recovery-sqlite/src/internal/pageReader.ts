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
 * primary-key range search from the last key of the page before, its rows
 * joined into one by SQLite (`joinedPage`). A page crosses as two strings,
 * its keys and its values each joined by U+0001, with their UTF-16 lengths
 * and checksums in typed arrays that are moved, not copied; a string copies
 * in one piece where an array of rows would be cloned string by string. Keys
 * and values apart, because V8 cuts a piece of 13 or more characters as a
 * view into its string: a restored key that long keeps its page's keys alive,
 * never its values. It reads at most `AHEAD` pages ahead of the consumer, so
 * a table larger than memory is never buffered whole.
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
  readonly joinedSql: string
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
    readonly lengths: Uint32Array<ArrayBuffer>
    readonly checksums: Float64Array<ArrayBuffer>
  }
  | { readonly _tag: "Failed"; readonly message: string; readonly code: string | undefined }

/**
 * The statement that reads a page as one row, its keys, values and checksums
 * each joined by SQLite, around `rows`, the page's statement, which selects
 * `key`, `value` (as text) and `checksum` in key order. A page of 4096 rows
 * read as rows makes 4096 arrays and 12288 values in JavaScript: the eager
 * resume's reader spent ~1 µs a row there, which made it slower than the
 * dataflow's thread that restores the rows (bench/PROFILE.md, "The resume's
 * reader"). Joined, the driver makes five values a page.
 *
 * The aggregates read the page's rows in the order the inner query returns
 * them, and all of them in the same order; the thread still checks that the
 * keys ascend before it trusts that order (`cutPage`). The separator, U+0001,
 * may occur in a key or a value: a page crosses with the lengths of its
 * pieces, and the separators only tell the thread where to cut.
 *
 * @internal
 */
export const joinedPage = (rows: string): string =>
  `SELECT count(*), max(key), group_concat(key, char(1)), group_concat(value, char(1)), group_concat(checksum)
  FROM (${rows})`

/**
 * Cuts a page read by `joinedPage` into `lengths` (each key's and value's
 * UTF-16 length, key first) and `checksums`, for `count` rows; `false` when
 * the joined text cannot be cut back exactly: a key or value holds the
 * separator, or the keys do not ascend in an order where JavaScript's and
 * SQLite's agree (below the surrogates, U+D800). The thread then reads the
 * page as rows. It closes over nothing: the thread gets it as source.
 *
 * @internal
 */
export const cutPage = (
  count: number,
  keys: string,
  values: string,
  checksums: string,
  into: { readonly lengths: Uint32Array; readonly checksums: Float64Array }
): boolean => {
  // the pieces of `text` must be exactly `count`: a separator inside one makes more
  const cut = (text: string, slot: number): boolean => {
    let from = 0
    for (let i = 0; i < count - 1; i++) {
      const at = text.indexOf("\u0001", from)
      if (at < 0) return false
      into.lengths[2 * i + slot] = at - from
      from = at + 1
    }
    if (text.indexOf("\u0001", from) >= 0) return false
    into.lengths[2 * (count - 1) + slot] = text.length - from
    return true
  }
  if (!cut(keys, 0) || !cut(values, 1)) return false
  // strictly ascending, judged where UTF-16 order is SQLite's (UTF-8 byte) order
  let previous = 0
  for (let i = 1; i < count; i++) {
    const previousLength = into.lengths[2 * (i - 1)]
    const start = previous + previousLength + 1
    const length = into.lengths[2 * i]
    const common = Math.min(previousLength, length)
    let j = 0
    while (j < common && keys.charCodeAt(previous + j) === keys.charCodeAt(start + j)) j++
    if (j === common) {
      if (previousLength >= length) return false
    } else {
      const a = keys.charCodeAt(previous + j)
      const b = keys.charCodeAt(start + j)
      if (a >= 0xd800 || b >= 0xd800 || a > b) return false
    }
    previous = start
  }
  // checksums: non-negative integers joined by commas
  let row = 0
  let value = 0
  let digits = 0
  for (let i = 0; i <= checksums.length; i++) {
    const unit = i < checksums.length ? checksums.charCodeAt(i) : 44
    if (unit === 44) {
      if (digits === 0 || row === count) return false
      into.checksums[row++] = value
      value = 0
      digits = 0
    } else if (unit >= 48 && unit <= 57) {
      value = value * 10 + (unit - 48)
      digits++
    } else {
      return false
    }
  }
  return row === count
}

/**
 * The thread's body. It runs from its source text (`toString`) in a thread
 * started with `eval`, so it closes over nothing: whatever it needs comes in
 * through `workerData` and the `require` it is given.
 */
const readPages = (
  load: NodeJS.Require,
  code: { readonly describeError: typeof describeError; readonly cutPage: typeof cutPage }
): void => {
  const { parentPort, workerData } = load("node:worker_threads") as typeof import("node:worker_threads")
  const input = workerData as ThreadInput
  const port = parentPort!
  const post = (message: ThreadMessage, transfer: Array<ArrayBuffer> = []) => port.postMessage(message, transfer)
  const failed = (error: unknown) => post({ _tag: "Failed", ...code.describeError(error) })
  try {
    const Database = load(input.driver) as typeof import("better-sqlite3")
    const db = new Database(input.file, { readonly: true, fileMustExist: true })
    const joined = db.prepare(input.joinedSql).raw(true)
    const rows = db.prepare(input.sql).raw(true)
    // one read transaction for every page: they all see the same state of the file
    db.exec("BEGIN")
    let after = input.after
    let credit = input.ahead
    let done = false
    /** The page after `after`, joined by SQLite; as rows when the joined text does not cut back exactly. */
    const readPage = (): Extract<ThreadMessage, { _tag: "Page" }> & { readonly last: string | undefined } => {
      const parameters = { ...input.parameters, after }
      const [count, last, keys, values, checksumText] = joined.get(parameters) as [
        number,
        string | null,
        string | null,
        string | null,
        string | null
      ]
      const lengths = new Uint32Array(count * 2)
      const checksums = new Float64Array(count)
      if (count === 0) return { _tag: "Page", keys: "", values: "", lengths, checksums, last: undefined }
      if (code.cutPage(count, keys!, values!, checksumText!, { lengths, checksums })) {
        return { _tag: "Page", keys: keys!, values: values!, lengths, checksums, last: last! }
      }
      const read = rows.all(parameters) as Array<[string, string, number]>
      const keyList = new Array<string>(read.length)
      const valueList = new Array<string>(read.length)
      const rowLengths = new Uint32Array(read.length * 2)
      const rowChecksums = new Float64Array(read.length)
      for (let i = 0; i < read.length; i++) {
        const [key, value, checksum] = read[i]
        keyList[i] = key
        valueList[i] = value
        rowLengths[2 * i] = key.length
        rowLengths[2 * i + 1] = value.length
        rowChecksums[i] = checksum
      }
      return {
        _tag: "Page",
        keys: keyList.join("\u0001"),
        values: valueList.join("\u0001"),
        lengths: rowLengths,
        checksums: rowChecksums,
        last: read.length === 0 ? undefined : read[read.length - 1][0]
      }
    }
    const send = () => {
      try {
        while (credit > 0 && !done) {
          const { checksums, keys, last, lengths, values } = readPage()
          credit--
          done = checksums.length < input.pageSize
          if (!done) after = last!
          post({ _tag: "Page", keys, values, lengths, checksums }, [lengths.buffer, checksums.buffer])
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

/** The keys and values of a page, each joined by one separator, cut back apart by their lengths. */
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
    keyAt++
    valueAt++
  }
  return { keys, values, checksums: message.checksums }
}

/**
 * Starts a thread reading the pages of `sql` (a keyset page of `key`,
 * `value` as text and `checksum`, in key order: it takes `parameters` and
 * `after`, the last key of the page before) from `file`,
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
    const workerData: ThreadInput = { ...options, joinedSql: joinedPage(options.sql), driver, ahead: AHEAD }
    const worker = yield* Effect.acquireRelease(
      // `execArgv: []`: the parent's loaders (tsx, a test runner's hooks) are nothing this thread needs
      Effect.sync(() =>
        new Worker(threadSource(readPages, { describeError, cutPage }), { eval: true, workerData, execArgv: [] })
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
