/**
 * The changelog of a worker file (layout 3): one row per epoch and step
 * holding that epoch's writes of the step, tombstones included, as one text.
 * Writing an epoch costs one row per step instead of one per changed key;
 * materialization later folds the rows every worker agreed into
 * `sluice_snapshots` (see `backend.ts`), so the file holds the live keys plus
 * a bounded tail of rows (R6).
 *
 * The text is JSON: a flat array `[key, value, key, value, …]` in write order,
 * `null` for a tombstone. Values are text already (the JSON of the state,
 * R8), so a row is one `JSON.stringify` and one `JSON.parse`, both native.
 *
 * The text's functions and the fold are written inside `makeChangelog`, which
 * closes over nothing but what it is given: the commit thread, started from
 * source text (`commitThread.ts`), folds with the same code this thread
 * resumes with.
 */
import { StoreCorrupt } from "@sluice/core/DataflowError"
import * as StoreKit from "@sluice/core/StoreKit"
import * as zlib from "node:zlib"

/** One changelog row as read back: its epoch and its entries, decoded. @internal */
export interface ChangelogRow {
  readonly epoch: number
  readonly entries: ReadonlyArray<string | null>
}

/** A changelog row as stored. @internal */
export interface StoredRow {
  readonly epoch: number
  readonly entries: string
  readonly checksum: number
}

/**
 * A changelog row as this process wrote it: its text and its entries, parsed
 * once while nothing waited for them.
 *
 * @internal
 */
export interface WrittenRow {
  readonly text: string
  readonly entries: ReadonlyArray<string | null>
}

/**
 * What a fold writes to `sluice_snapshots`: live rows as `step_id, key,
 * epoch, value, checksum` laid end to end, and deleted keys as `step_id,
 * key`, each key once, sorted by key per step (JavaScript's order: for
 * the b-tree's locality, no reader depends on it).
 *
 * @internal
 */
export interface Materialized {
  readonly live: Array<unknown>
  readonly deleted: Array<unknown>
}

/**
 * The changelog's functions. `crc32` is zlib's; `snapshotChecksum` is
 * `StoreKit.snapshotChecksum`, or one made by `StoreKit.makeSnapshotChecksum`
 * where core cannot be imported.
 *
 * @internal
 */
export const makeChangelog = (
  crc32: (data: string, value?: number) => number,
  snapshotChecksum: (stepId: string, key: string, value: string | null) => number
) => {
  /** The text of a row: the flat `[key, value, …]` array of the writes, in write order. */
  const encodeEntries = (entries: ReadonlyArray<string | null>): string => JSON.stringify(entries)

  /**
   * The entries of a row's text, or the reason they do not parse: a flat array
   * of an even length, keys strings, values strings or `null`.
   */
  const decodeEntries = (text: string): ReadonlyArray<string | null> | string => {
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (error) {
      return `is not JSON: ${(error as Error).message}`
    }
    if (!Array.isArray(parsed) || parsed.length % 2 !== 0) return "is not a [key, value, …] array"
    for (let i = 0; i < parsed.length; i += 2) {
      const value: unknown = parsed[i + 1]
      if (typeof parsed[i] !== "string" || (value !== null && typeof value !== "string")) {
        return `has an entry ${i / 2} that is not a key with a text value or null`
      }
    }
    return parsed as ReadonlyArray<string | null>
  }

  /**
   * CRC-32 of a row's step, epoch and text (zlib's, over the UTF-8): a row
   * moved to another epoch or step fails like a changed one.
   */
  const checksum = (stepId: string, epoch: number, entries: string): number =>
    crc32(entries, crc32(`${stepId}\u0000${epoch}\u0000`))

  /**
   * A stored row checked against its checksum and decoded, or what is wrong
   * with it, in words that follow "the changelog row of step S at epoch E".
   * `written` is the row as this process wrote it: its entries are taken
   * instead of parsing the text again when the text read back is the same.
   */
  const check = (stepId: string, row: StoredRow, written?: WrittenRow): ChangelogRow | string => {
    const entries = checksum(stepId, row.epoch, row.entries) !== row.checksum
      ? "does not match its checksum"
      : written !== undefined && written.text === row.entries
      ? written.entries
      : decodeEntries(row.entries)
    if (typeof entries !== "string") return { epoch: row.epoch, entries }
    return `the changelog row of step ${stepId} at epoch ${row.epoch} ${entries}: ` +
      "the file was changed outside Sluice or the disk damaged it"
  }

  /**
   * Applies rows in epoch order onto `into` (key → newest value, `null` for a
   * tombstone): later epochs, and later writes of one epoch, win.
   */
  const fold = (
    rows: Iterable<ChangelogRow>,
    into: Map<string, string | null> = new Map()
  ): Map<string, string | null> => {
    for (const { entries } of rows) {
      for (let i = 0; i < entries.length; i += 2) into.set(entries[i]!, entries[i + 1])
    }
    return into
  }

  // Surrogates (U+D800–U+DFFF) stand for code points above U+FFFF: rank them after every other code unit.
  const codePointRank = (unit: number): number =>
    unit >= 0xd800 && unit < 0xe000 ? unit + 0x2000 : unit >= 0xe000 ? unit - 0x800 : unit

  /**
   * SQLite's order of TEXT keys (BINARY collation: their UTF-8 bytes), which is
   * code point order. JavaScript's `<` compares UTF-16 code units, which puts
   * U+E000–U+FFFF after the surrogate pairs of U+10000 and above; the resume
   * merges the table's key order with the changelog's, so both must agree.
   */
  const compareKeys = (a: string, b: string): number => {
    const length = Math.min(a.length, b.length)
    for (let i = 0; i < length; i++) {
      const x = a.charCodeAt(i)
      const y = b.charCodeAt(i)
      if (x !== y) return codePointRank(x) - codePointRank(y)
    }
    return a.length - b.length
  }

  /**
   * A fold being built: rows are added in epoch order (a step's rows; the
   * steps may interleave), and `result` gives what `sluice_snapshots` gets:
   * each key once, its newest write, sorted by key. `result` changes
   * nothing, so a fold whose transaction fails can be written again.
   */
  const startFold = () => {
    // Per step, key → where its newest write is: a position in the rows'
    // entries laid end to end. A number, not an object per write: the fold
    // merges every write of up to a hundred epochs, and an object each was
    // the largest part of its JavaScript time (bench/PROFILE.md).
    const newest = new Map<string, Map<string, number>>()
    const added: Array<ChangelogRow> = []
    // where each row's entries start, ascending
    const starts: Array<number> = []
    let end = 0
    const add = (stepId: string, row: ChangelogRow): void => {
      let keys = newest.get(stepId)
      if (keys === undefined) newest.set(stepId, keys = new Map())
      const entries = row.entries
      for (let i = 0; i < entries.length; i += 2) keys.set(entries[i]!, end + i)
      added.push(row)
      starts.push(end)
      end += entries.length
    }
    // the row holding `position`: the last one starting at or before it
    const rowAt = (position: number): number => {
      let low = 0
      let high = starts.length - 1
      while (low < high) {
        const middle = (low + high + 1) >>> 1
        if (starts[middle] <= position) low = middle
        else high = middle - 1
      }
      return low
    }
    const result = (): Materialized => {
      const live: Array<unknown> = []
      const deleted: Array<unknown> = []
      for (const [stepId, keys] of newest) {
        // Sorted for the b-tree's locality only, so JavaScript's own order
        // (UTF-16 code units) does: it differs from SQLite's (`compareKeys`)
        // only above U+E000 and sorts a fold's keys in two thirds of the time.
        for (const key of [...keys.keys()].sort()) {
          const position = keys.get(key)!
          const row = rowAt(position)
          const value = added[row].entries[position - starts[row] + 1]
          if (value === null) deleted.push(stepId, key)
          else live.push(stepId, key, added[row].epoch, value, snapshotChecksum(stepId, key, value))
        }
      }
      return { live, deleted }
    }
    return { add, result, rows: () => added.length }
  }

  /**
   * Folds stored rows (in epoch order, each with its `step_id`) into what
   * `sluice_snapshots` gets (`startFold`), or what is wrong with the first
   * damaged row. `written` gives the rows this process wrote, as `check`
   * takes them.
   */
  const materialize = (
    rows: ReadonlyArray<StoredRow & { readonly step_id: string }>,
    written: (stepId: string, epoch: number) => WrittenRow | undefined = () => undefined
  ): Materialized | string => {
    const folding = startFold()
    for (const row of rows) {
      const verified = check(row.step_id, row, written(row.step_id, row.epoch))
      if (typeof verified === "string") return verified
      folding.add(row.step_id, verified)
    }
    return folding.result()
  }

  return { encodeEntries, decodeEntries, checksum, check, fold, compareKeys, startFold, materialize }
}

const changelog = makeChangelog(zlib.crc32, StoreKit.snapshotChecksum)

/** @internal */
export const encodeEntries = changelog.encodeEntries
/** @internal */
export const decodeEntries = changelog.decodeEntries
/** @internal */
export const checksum = changelog.checksum
/** @internal */
export const fold = changelog.fold
/** @internal */
export const compareKeys = changelog.compareKeys

/**
 * Checks a stored row against its checksum and decodes it; damage is
 * `StoreCorrupt` naming the file, step and epoch, never a wrong state.
 *
 * @internal
 */
export const verify = (file: string, stepId: string, row: StoredRow): ChangelogRow | StoreCorrupt => {
  const checked = changelog.check(stepId, row)
  return typeof checked === "string" ? new StoreCorrupt({ store: file, reason: checked }) : checked
}
