/**
 * The resume read (R3, R14): for one step, the newest snapshot of every key at
 * or before an epoch, as one query whose rows stream in chunks.
 *
 * `@effect/sql-sqlite-node` 0.53 does not implement `SqlClient.stream`
 * (`executeStream` dies), and its client materialises every row of a query.
 * So the read uses a read-only better-sqlite3 connection of its own and pulls
 * the statement's iterator chunk by chunk. In WAL mode this reader sees the
 * last committed state and never blocks the worker's writes.
 */
import { StoreCorrupt, type StoreUnavailable } from "@sluice/core/DataflowError"
import type { Snapshot } from "@sluice/core/RecoveryStore"
import * as StoreKit from "@sluice/core/StoreKit"
import Database from "better-sqlite3"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { refail } from "./storeFile.js"

const CHUNK_SIZE = 4096

/**
 * Only `sluice_snapshots`: a primary-key range scan in key order.
 */
const LIVE_SNAPSHOTS = `
  SELECT key, CAST(value AS TEXT), checksum FROM sluice_snapshots
  WHERE step_id = @stepId AND epoch <= @atOrBefore`

/**
 * With writes of epochs not yet collected: the newest version per key across
 * both tables. SQLite takes the bare columns of a `max()` aggregate from the
 * row holding the maximum; tombstones (`NULL`) are dropped while streaming,
 * after the newest version is chosen.
 */
const WITH_PENDING = `
  SELECT key, CAST(value AS TEXT), checksum, max(epoch) FROM (
    SELECT key, value, checksum, epoch FROM sluice_snapshots
    WHERE step_id = @stepId AND epoch <= @atOrBefore
    UNION ALL
    SELECT key, value, checksum, epoch FROM sluice_pending_snapshots
    WHERE step_id = @stepId AND epoch <= @atOrBefore
  )
  GROUP BY key`

/** @internal */
export const snapshots = (options: {
  readonly file: string
  readonly stepId: string
  readonly atOrBefore: number
  /** Whether `sluice_pending_snapshots` may hold rows at or before `atOrBefore`. */
  readonly pending: boolean
}): Stream.Stream<Snapshot, StoreCorrupt | StoreUnavailable> => {
  const fail = refail(options.file, `reading the snapshots of step ${options.stepId} failed`)
  return Stream.unwrapScoped(Effect.gen(function*() {
    const db = yield* Effect.acquireRelease(
      Effect.try({
        try: () => new Database(options.file, { readonly: true, fileMustExist: true }),
        catch: fail
      }),
      (db) => Effect.sync(() => db.close())
    )
    // Released before the connection: a connection with a live iterator cannot close.
    const rows = yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          db.prepare(options.pending ? WITH_PENDING : LIVE_SNAPSHOTS).raw(true).iterate({
            stepId: options.stepId,
            atOrBefore: options.atOrBefore
          }) as IterableIterator<[string, string | null, number, ...Array<unknown>]>,
        catch: fail
      }),
      (rows) => Effect.sync(() => rows.return?.())
    )
    let done = false
    const pull = Effect.suspend(
      (): Effect.Effect<Chunk.Chunk<Snapshot>, Option.Option<StoreCorrupt | StoreUnavailable>> => {
        if (done) return Effect.fail(Option.none())
        const out: Array<Snapshot> = []
        try {
          while (out.length < CHUNK_SIZE) {
            const next = rows.next()
            if (next.done === true) {
              done = true
              break
            }
            const [key, value, checksum] = next.value
            if (StoreKit.snapshotChecksum(options.stepId, key, value) !== checksum) {
              return Effect.fail(Option.some(
                new StoreCorrupt({
                  store: options.file,
                  reason: `the snapshot of step ${options.stepId} at key ${key} does not match its checksum: ` +
                    "the file was changed outside Sluice or the disk damaged it"
                })
              ))
            }
            if (value !== null) out.push({ key, value })
          }
        } catch (error) {
          return Effect.fail(Option.some(fail(error)))
        }
        return out.length === 0 && done ? Effect.fail(Option.none()) : Effect.succeed(Chunk.unsafeFromArray(out))
      }
    )
    return Stream.repeatEffectChunkOption(pull)
  }))
}
