/**
 * The layout of a worker file and its migrations.
 *
 * - `sluice_meta`: one row, what core records about the dataflow (R7), plus
 *   the worker the file belongs to.
 * - `sluice_progress`: one row, the last epoch this worker completed (R1, R3).
 * - `sluice_snapshots`: per `(step_id, key)` the newest materialized
 *   snapshot, of an epoch every worker has completed. One row per live key
 *   (R6, R14); a materialized tombstone deletes the row.
 * - `sluice_changelog` (layout 3): per `(epoch, step_id)` that epoch's writes
 *   of the step as one text (`changelog.ts`), tombstones included, with its
 *   checksum. Rows of epochs every worker agreed are folded into
 *   `sluice_snapshots` and deleted every few epochs; rows above the agreed
 *   epoch stay until every worker has caught up, since a resume may go back
 *   before them. It replaces layout 1's `sluice_pending_snapshots`.
 * - `sluice_outputs`: records of transactional outputs (R5), in commit order.
 *
 * Every snapshot row carries `checksum`, `StoreKit.snapshotChecksum` of its
 * step, key and value (migration 2), and every changelog row one of its own,
 * checked on resume: SQLite checks the structure of its pages, not the bytes
 * of a value.
 *
 * Input positions are snapshots like any other: the input's step id, the
 * partition as key.
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import { StoreCorrupt, StoreUnavailable, StoreVersionUnsupported } from "@sluice/core/DataflowError"
import * as StoreKit from "@sluice/core/StoreKit"
import * as Effect from "effect/Effect"
import * as Changelog from "./changelog.js"
import { refail } from "./storeFile.js"

/** @internal */
export const MIGRATIONS_TABLE = "sluice_migrations"

/** @internal */
export type Migrations = Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>>

/**
 * Keys are `<id>_<name>`; a later release appends migrations and never
 * edits one that has shipped.
 *
 * @internal
 */
export const migrations: Migrations = {
  "1_create_store": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`
      CREATE TABLE sluice_meta (
        worker_index INTEGER PRIMARY KEY,
        dataflow_id TEXT NOT NULL,
        worker_count INTEGER NOT NULL,
        schema_version INTEGER NOT NULL,
        created_at INTEGER NOT NULL
      ) STRICT`
    yield* sql`
      CREATE TABLE sluice_progress (
        worker_index INTEGER PRIMARY KEY,
        epoch INTEGER NOT NULL,
        committed_at INTEGER NOT NULL
      ) STRICT`
    // WITHOUT ROWID: the primary key is the only access path (upsert by key,
    // resume by step in key order), so the rows live in its b-tree.
    yield* sql`
      CREATE TABLE sluice_snapshots (
        step_id TEXT NOT NULL,
        key TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (step_id, key)
      ) STRICT, WITHOUT ROWID`
    // Epoch first: collection and discarding work on whole epochs.
    yield* sql`
      CREATE TABLE sluice_pending_snapshots (
        epoch INTEGER NOT NULL,
        step_id TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB,
        PRIMARY KEY (epoch, step_id, key)
      ) STRICT, WITHOUT ROWID`
    yield* sql`
      CREATE TABLE sluice_outputs (
        id INTEGER PRIMARY KEY,
        destination TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        key BLOB,
        value BLOB NOT NULL
      ) STRICT`
    yield* sql`CREATE INDEX sluice_outputs_by_destination ON sluice_outputs (destination, id)`
    yield* sql`CREATE INDEX sluice_outputs_by_epoch ON sluice_outputs (epoch)`
  }),
  // Stores of earlier releases are migrated, not refused: their rows get the
  // checksum of the value as found, and are checked from then on.
  "2_snapshot_checksums": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    for (const table of ["sluice_snapshots", "sluice_pending_snapshots"] as const) {
      yield* sql`ALTER TABLE ${sql(table)} ADD COLUMN checksum INTEGER NOT NULL DEFAULT 0`
      const rows = yield* sql<{
        readonly step_id: string
        readonly key: string
        readonly value: string | null
        readonly epoch: number
      }>`SELECT epoch, step_id, key, CAST(value AS TEXT) AS value FROM ${sql(table)}`
      for (const row of rows) {
        yield* sql`UPDATE ${sql(table)} SET checksum = ${StoreKit.snapshotChecksum(row.step_id, row.key, row.value)}
          WHERE epoch = ${row.epoch} AND step_id = ${row.step_id} AND key = ${row.key}`
      }
    }
  }),
  // The writes of an epoch become one changelog row per step. Pending writes
  // of layout 2 (epochs not every worker completed) move there, checked
  // against their checksums on the way: damage fails the open, never becomes
  // a row that verifies.
  "3_changelog": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // A rowid table: a row may be megabytes, which a WITHOUT ROWID b-tree stores badly.
    yield* sql`
      CREATE TABLE sluice_changelog (
        epoch INTEGER NOT NULL,
        step_id TEXT NOT NULL,
        entries TEXT NOT NULL,
        checksum INTEGER NOT NULL,
        PRIMARY KEY (epoch, step_id)
      ) STRICT`
    const pending = yield* sql<{
      readonly epoch: number
      readonly step_id: string
      readonly key: string
      readonly value: string | null
      readonly checksum: number
    }>`SELECT epoch, step_id, key, CAST(value AS TEXT) AS value, checksum FROM sluice_pending_snapshots
       ORDER BY epoch, step_id, key`
    const rows = new Map<string, { epoch: number; stepId: string; entries: Array<string | null> }>()
    for (const row of pending) {
      if (StoreKit.snapshotChecksum(row.step_id, row.key, row.value) !== row.checksum) {
        return yield* Effect.fail(
          new Error(
            `the pending snapshot of step ${row.step_id} at key ${row.key}, epoch ${row.epoch}, does not match ` +
              "its checksum: the file was changed outside Sluice or the disk damaged it"
          )
        )
      }
      const id = `${row.epoch}\u0000${row.step_id}`
      let changelogRow = rows.get(id)
      if (changelogRow === undefined) {
        rows.set(id, changelogRow = { epoch: row.epoch, stepId: row.step_id, entries: [] })
      }
      changelogRow.entries.push(row.key, row.value)
    }
    for (const { entries, epoch, stepId } of rows.values()) {
      const text = Changelog.encodeEntries(entries)
      yield* sql`INSERT INTO sluice_changelog (epoch, step_id, entries, checksum)
        VALUES (${epoch}, ${stepId}, ${text}, ${Changelog.checksum(stepId, epoch, text)})`
    }
    yield* sql`DROP TABLE sluice_pending_snapshots`
  })
}

const latestId = (record: Migrations): number =>
  Object.keys(record).reduce((max, name) => Math.max(max, Number(name.split("_", 1)[0])), 0)

/**
 * Brings the file to the latest layout, after refusing files this release
 * must not touch: a SQLite database of something else, or a store migrated
 * by a newer release.
 *
 * @internal
 */
export const migrate = (
  file: string,
  record: Migrations = migrations
): Effect.Effect<void, StoreCorrupt | StoreUnavailable | StoreVersionUnsupported, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const tables = (yield* sql<{ readonly name: string }>`
      SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'`)
      .map((row) => row.name)
    if (tables.length > 0 && !tables.includes(MIGRATIONS_TABLE)) {
      return yield* new StoreCorrupt({
        store: file,
        reason: `it is a SQLite database of something else: it has the tables ${tables.join(", ")} ` +
          `and no ${MIGRATIONS_TABLE}`
      })
    }
    const supported = latestId(record)
    if (tables.includes(MIGRATIONS_TABLE)) {
      const [{ found }] = yield* sql<{ readonly found: number | null }>`
        SELECT max(migration_id) AS found FROM ${sql(MIGRATIONS_TABLE)}`
      if (found !== null && found > supported) {
        return yield* new StoreVersionUnsupported({ found, supported })
      }
    }
    yield* Migrator.make({})({ loader: Migrator.fromRecord(record), table: MIGRATIONS_TABLE })
  }).pipe(
    // A migration that fails is a defect of the Migrator; for the user it is a
    // store that cannot be opened.
    Effect.catchAllDefect((defect) => Effect.fail(refail(file, "migrating the store failed")(defect))),
    Effect.catchTags({
      SqlError: (error) => Effect.fail(refail(file, "migrating the store failed")(error)),
      MigrationError: (error) => Effect.fail(refail(file, `migrating the store failed: ${error.message}`)(error))
    })
  )
