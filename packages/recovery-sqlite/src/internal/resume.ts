/**
 * The resume read (R3, R14): for one step, the newest snapshot of every key at
 * or before an epoch, streamed in chunks in key order.
 *
 * It is the materialized rows of `sluice_snapshots` overlaid with the
 * changelog rows at or before the epoch (layout 3): the changelog tail is
 * bounded, so it is read and folded first, then merged into the table's
 * primary-key scan, which is read once, a page at a time. The first page is
 * read in the changelog's read transaction; when it comes full, a thread reads
 * the pages after it (`pageReader.ts`) in a read transaction of its own, while
 * this one checks and hands on the pages before. For a resume both see the
 * same file: only the worker that owns it writes it, and it does not commit
 * while its resume reads. `SqliteRecovery.reader` on a store that a run is
 * still writing may see a commit between the two, as it already could
 * between the steps it reads one after another.
 *
 * `@effect/sql-sqlite-node` 0.53 does not implement `SqlClient.stream`
 * (`executeStream` dies), and its client materialises every row of a query.
 * So the read uses a read-only better-sqlite3 connection of its own and reads
 * a page of rows per chunk. In WAL mode this reader sees the last committed
 * state and never blocks the worker's writes.
 */
import { StoreCorrupt, type StoreUnavailable } from "@sluice/core/DataflowError"
import type { Snapshot } from "@sluice/core/RecoveryStore"
import * as StoreKit from "@sluice/core/StoreKit"
import Database from "better-sqlite3"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Changelog from "./changelog.js"
import * as PageReader from "./pageReader.js"
import { refail } from "./storeFile.js"

/** Rows of one page of the table's scan, and snapshots of one chunk of the stream. */
const PAGE_SIZE = 4096

/**
 * The table's rows in key order (BINARY: UTF-8 byte order, `Changelog.compareKeys`), a page at a
 * time: each page is a primary-key range search from the last key of the one before, read with one
 * `all()`. Pulling a statement's iterator instead costs a call into the driver per row, which made
 * up half the run of an eager resume of a million keys (bench/PROFILE.md, "Eager resume of 1M keys").
 */
const FIRST_PAGE = `
  SELECT key, CAST(value AS TEXT), checksum FROM sluice_snapshots
  WHERE step_id = @stepId AND epoch <= @atOrBefore
  ORDER BY key LIMIT ${PAGE_SIZE}`

const NEXT_PAGE = `
  SELECT key, CAST(value AS TEXT) AS value, checksum FROM sluice_snapshots
  WHERE step_id = @stepId AND key > @after AND epoch <= @atOrBefore
  ORDER BY key LIMIT ${PAGE_SIZE}`

type Row = [key: string, value: string, checksum: number]

/** @internal */
export const CHANGELOG_OF_STEP = `
  SELECT epoch, entries, checksum FROM sluice_changelog
  WHERE step_id = @stepId AND epoch <= @atOrBefore
  ORDER BY epoch`

/**
 * The step's changelog rows at or before `atOrBefore`, checked and folded:
 * key → newest value, `null` for a tombstone.
 *
 * @internal
 */
export const foldTail = (
  file: string,
  stepId: string,
  rows: ReadonlyArray<Changelog.StoredRow>
): Map<string, string | null> | StoreCorrupt => {
  const overlay = new Map<string, string | null>()
  for (const row of rows) {
    const verified = Changelog.verify(file, stepId, row)
    if (verified instanceof StoreCorrupt) return verified
    Changelog.fold([verified], overlay)
  }
  return overlay
}

/** @internal */
export const damagedSnapshot = (file: string, stepId: string, key: string) =>
  new StoreCorrupt({
    store: file,
    reason: `the snapshot of step ${stepId} at key ${key} does not match its checksum: ` +
      "the file was changed outside Sluice or the disk damaged it"
  })

/** @internal */
export const snapshots = (options: {
  readonly file: string
  readonly stepId: string
  readonly atOrBefore: number
}): Stream.Stream<Snapshot, StoreCorrupt | StoreUnavailable> => {
  const { atOrBefore, file, stepId } = options
  const fail = refail(file, `reading the snapshots of step ${stepId} failed`)
  return Stream.unwrapScoped(Effect.gen(function*() {
    const db = yield* Effect.acquireRelease(
      Effect.try({
        try: () => new Database(file, { readonly: true, fileMustExist: true }),
        catch: fail
      }),
      (db) => Effect.sync(() => db.close())
    )
    // One snapshot of the file for the changelog and the table; ended before the connection closes.
    yield* Effect.acquireRelease(
      Effect.try({ try: () => db.exec("BEGIN"), catch: fail }),
      () => Effect.sync(() => db.inTransaction && db.exec("COMMIT"))
    )
    const tail = yield* Effect.try({
      try: () => db.prepare(CHANGELOG_OF_STEP).all({ stepId, atOrBefore }) as Array<Changelog.StoredRow>,
      catch: fail
    })
    const overlay = foldTail(file, stepId, tail)
    if (overlay instanceof StoreCorrupt) return yield* overlay
    const overlayKeys = [...overlay.keys()].sort(Changelog.compareKeys)
    let next = 0
    const firstRows = yield* Effect.try({
      try: () => db.prepare(FIRST_PAGE).raw(true).all({ stepId, atOrBefore }) as Array<Row>,
      catch: fail
    })
    const first: PageReader.Page = {
      keys: firstRows.map((row) => row[0]),
      values: firstRows.map((row) => row[1]),
      checksums: firstRows.map((row) => row[2])
    }
    // A full first page: the table may hold many more, and a thread reads them while this one restores.
    const reader = firstRows.length === PAGE_SIZE
      ? yield* PageReader.start({
        file,
        sql: NEXT_PAGE,
        parameters: { stepId, atOrBefore },
        after: firstRows[PAGE_SIZE - 1][0],
        pageSize: PAGE_SIZE
      })
      : undefined
    let page: PageReader.Page | undefined = first
    // `done` once a page came short
    let done = false
    const pull = Effect.gen(function*() {
      if (done) return yield* Effect.fail(Option.none())
      const { checksums, keys, values } = page ??
        (yield* Effect.mapError(reader!.next, (error) => Option.some(fail(error))))
      page = undefined
      const out: Array<Snapshot> = []
      // the changelog's keys before `key`, or all that are left
      const overlayBefore = (key: string | undefined) => {
        while (
          next < overlayKeys.length && (key === undefined || Changelog.compareKeys(overlayKeys[next], key) < 0)
        ) {
          const value = overlay.get(overlayKeys[next])!
          if (value !== null) out.push({ key: overlayKeys[next], value })
          next++
        }
      }
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]
        const value = values[i]
        if (StoreKit.snapshotChecksum(stepId, key, value) !== checksums[i]) {
          return yield* Effect.fail(Option.some(damagedSnapshot(file, stepId, key)))
        }
        overlayBefore(key)
        if (next < overlayKeys.length && overlayKeys[next] === key) {
          // the changelog's newer version, or its tombstone, hides the materialized one
          const newer = overlay.get(key)!
          if (newer !== null) out.push({ key, value: newer })
          next++
        } else {
          out.push({ key, value })
        }
      }
      if (keys.length < PAGE_SIZE) {
        overlayBefore(undefined)
        done = true
      }
      return out.length === 0 && done ? yield* Effect.fail(Option.none()) : Chunk.unsafeFromArray(out)
    })
    return Stream.repeatEffectChunkOption(pull)
  }))
}
