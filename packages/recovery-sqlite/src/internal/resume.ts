/**
 * The resume read (R3, R14): for one step, the newest snapshot of every key at
 * or before an epoch, streamed in chunks in key order.
 *
 * It is the materialized rows of `sluice_snapshots` overlaid with the
 * changelog rows at or before the epoch (layout 3): the changelog tail is
 * bounded, so it is read and folded first, then merged into the table's
 * primary-key scan, which is read once, a page at a time. All reads are one
 * read transaction, so a materialization committed meanwhile is seen by all
 * or by none.
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
  SELECT key, CAST(value AS TEXT), checksum FROM sluice_snapshots
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
    const [firstPage, nextPage] = yield* Effect.try({
      try: () => [db.prepare(FIRST_PAGE).raw(true), db.prepare(NEXT_PAGE).raw(true)] as const,
      catch: fail
    })
    // the last key of the page read before, `undefined` before the first; `done` once a page came short
    let after: string | undefined
    let done = false
    const pull = Effect.suspend(
      (): Effect.Effect<Chunk.Chunk<Snapshot>, Option.Option<StoreCorrupt | StoreUnavailable>> => {
        if (done) return Effect.fail(Option.none())
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
        let rows: Array<Row>
        try {
          rows = (after === undefined
            ? firstPage.all({ stepId, atOrBefore })
            : nextPage.all({ stepId, atOrBefore, after })) as Array<Row>
        } catch (error) {
          return Effect.fail(Option.some(fail(error)))
        }
        for (let i = 0; i < rows.length; i++) {
          const [key, value, checksum] = rows[i]
          if (StoreKit.snapshotChecksum(stepId, key, value) !== checksum) {
            return Effect.fail(Option.some(damagedSnapshot(file, stepId, key)))
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
        if (rows.length < PAGE_SIZE) {
          overlayBefore(undefined)
          done = true
        } else {
          after = rows[rows.length - 1][0]
        }
        return out.length === 0 && done ? Effect.fail(Option.none()) : Effect.succeed(Chunk.unsafeFromArray(out))
      }
    )
    return Stream.repeatEffectChunkOption(pull)
  }))
}
