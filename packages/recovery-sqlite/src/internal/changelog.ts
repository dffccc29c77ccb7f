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
 */
import { StoreCorrupt } from "@sluice/core/DataflowError"
import * as zlib from "node:zlib"

/** One changelog row as read back: its epoch and its entries, decoded. @internal */
export interface ChangelogRow {
  readonly epoch: number
  readonly entries: ReadonlyArray<string | null>
}

/** The text of a row: the flat `[key, value, …]` array of the writes, in write order. @internal */
export const encodeEntries = (entries: ReadonlyArray<string | null>): string => JSON.stringify(entries)

/**
 * The entries of a row's text, or the reason they do not parse: a flat array
 * of an even length, keys strings, values strings or `null`.
 *
 * @internal
 */
export const decodeEntries = (text: string): ReadonlyArray<string | null> | string => {
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
 *
 * @internal
 */
export const checksum = (stepId: string, epoch: number, entries: string): number =>
  zlib.crc32(entries, zlib.crc32(`${stepId}\u0000${epoch}\u0000`))

/** A changelog row as stored. @internal */
export interface StoredRow {
  readonly epoch: number
  readonly entries: string
  readonly checksum: number
}

/**
 * A row this process committed, kept until it is folded: the text it stored
 * and the entries that text encodes.
 *
 * @internal
 */
export interface WrittenRow {
  readonly text: string
  readonly entries: ReadonlyArray<string | null>
}

/**
 * Checks a stored row against its checksum and decodes it; damage is
 * `StoreCorrupt` naming the file, step and epoch, never a wrong state.
 * `written` is the row as this process committed it, if it did: when the
 * stored text is that text, its entries are taken from memory instead of
 * parsed again. The checksum is checked either way, and a text that differs
 * is decoded and checked as any other.
 *
 * @internal
 */
export const verify = (
  file: string,
  stepId: string,
  row: StoredRow,
  written?: WrittenRow
): ChangelogRow | StoreCorrupt => {
  const entries = checksum(stepId, row.epoch, row.entries) !== row.checksum
    ? "does not match its checksum"
    : written !== undefined && written.text === row.entries
    ? written.entries
    : decodeEntries(row.entries)
  if (typeof entries !== "string") return { epoch: row.epoch, entries }
  return new StoreCorrupt({
    store: file,
    reason: `the changelog row of step ${stepId} at epoch ${row.epoch} ${entries}: ` +
      "the file was changed outside Sluice or the disk damaged it"
  })
}

/**
 * Applies rows in epoch order onto `into` (key → newest value, `null` for a
 * tombstone): later epochs, and later writes of one epoch, win.
 *
 * @internal
 */
export const fold = (
  rows: Iterable<ChangelogRow>,
  into: Map<string, string | null> = new Map()
): Map<string, string | null> => {
  for (const { entries } of rows) {
    for (let i = 0; i < entries.length; i += 2) into.set(entries[i]!, entries[i + 1])
  }
  return into
}

/**
 * SQLite's order of TEXT keys (BINARY collation: their UTF-8 bytes), which is
 * code point order. JavaScript's `<` compares UTF-16 code units, which puts
 * U+E000–U+FFFF after the surrogate pairs of U+10000 and above; the resume
 * merges the table's key order with the changelog's, so both must agree.
 *
 * @internal
 */
export const compareKeys = (a: string, b: string): number => {
  const length = Math.min(a.length, b.length)
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x !== y) return codePointRank(x) - codePointRank(y)
  }
  return a.length - b.length
}

// Surrogates (U+D800–U+DFFF) stand for code points above U+FFFF: rank them after every other code unit.
const codePointRank = (unit: number): number =>
  unit >= 0xd800 && unit < 0xe000 ? unit + 0x2000 : unit >= 0xe000 ? unit - 0x800 : unit
