/**
 * The SQLite backend: one database file per worker in a directory.
 *
 * An epoch commit is one SQLite transaction (R1): the epoch's snapshot writes,
 * its output records and the "epoch complete" mark, written as multi-row
 * statements. Collection (R6) happens in the same transaction, so the file
 * never holds a half-collected state either.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlError from "@effect/sql/SqlError"
import { StoreCorrupt, StoreUnavailable } from "@sluice/core/DataflowError"
import type {
  Backend,
  BackendWorker,
  OutputRecord,
  SnapshotWrite,
  StoreMeta,
  WorkerProgress
} from "@sluice/core/RecoveryStore"
import * as StoreKit from "@sluice/core/StoreKit"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as path from "node:path"
import type { Options, Synchronous } from "../SqliteRecovery.js"
import * as CommittedEpoch from "./committedEpoch.js"
import * as Peers from "./peers.js"
import * as RescaleJournal from "./rescaleJournal.js"
import * as Resume from "./resume.js"
import * as Schema from "./schema.js"
import { ensureDirectory, inspect, refail, workerFile } from "./storeFile.js"
import * as StoreReader from "./storeReader.js"
import * as WorkerLock from "./workerLock.js"

const SYNCHRONOUS: ReadonlyArray<string> = ["OFF", "NORMAL", "FULL", "EXTRA"] satisfies ReadonlyArray<Synchronous>

/**
 * Seams for tests of this package; the public constructors pass none.
 *
 * @internal
 */
export interface Hooks {
  /**
   * Runs before each statement of an epoch commit, inside its transaction,
   * so a crash test can kill the process between two statements.
   */
  readonly beforeCommitStatement?: ((statement: number, epoch: number) => void) | undefined
  /** Replaces the migrations, to test upgrades of old stores. */
  readonly migrations?: Schema.Migrations | undefined
}

/**
 * SQLite refuses more than 32,766 bound parameters in one statement. Rows go
 * in chunks from a fixed ladder of sizes, so a handful of prepared
 * statements serve every epoch (the client caches them by SQL text).
 */
const CHUNK_SIZES = [4096, 1024, 256, 64, 16, 4, 1] as const

const chunkSize = (remaining: number): number => {
  for (const size of CHUNK_SIZES) if (size <= remaining) return size
  return 1
}

const values = (rows: number, columns: number): string => {
  const row = `(${Array.from({ length: columns }, () => "?").join(", ")})`
  return Array.from({ length: rows }, () => row).join(", ")
}

const statementCache = new Map<string, string>()
const statementText = (kind: string, rows: number, build: (rows: number) => string): string => {
  const id = `${kind}:${rows}`
  let text = statementCache.get(id)
  if (text === undefined) {
    text = build(rows)
    statementCache.set(id, text)
  }
  return text
}

// REPLACE rather than an upsert: on this WITHOUT ROWID table (no triggers, no
// foreign keys) it leaves the same row, and it is a fifth cheaper per row.
const upsertSnapshots = (rows: number) =>
  statementText(
    "upsert",
    rows,
    (n) => `INSERT OR REPLACE INTO sluice_snapshots (step_id, key, epoch, value, checksum) VALUES ${values(n, 5)}`
  )

const deleteSnapshots = (rows: number) =>
  statementText("delete", rows, (n) => `DELETE FROM sluice_snapshots WHERE (step_id, key) IN (VALUES ${values(n, 2)})`)

const insertPending = (rows: number) =>
  statementText(
    "pending",
    rows,
    (n) =>
      `INSERT INTO sluice_pending_snapshots (epoch, step_id, key, value, checksum) VALUES ${values(n, 5)}
     ON CONFLICT (epoch, step_id, key) DO UPDATE SET value = excluded.value, checksum = excluded.checksum`
  )

const insertOutputs = (rows: number) =>
  statementText(
    "outputs",
    rows,
    (n) => `INSERT INTO sluice_outputs (destination, epoch, key, value) VALUES ${values(n, 4)}`
  )

/** @internal */
export const make = (options: Options, hooks: Hooks = {}): Effect.Effect<Backend, StoreUnavailable> =>
  Effect.gen(function*() {
    const directory = path.resolve(options.directory)
    const synchronous = options.synchronous ?? "FULL"
    // Config may come from the environment: check before it reaches a pragma.
    if (!SYNCHRONOUS.includes(synchronous)) {
      return yield* new StoreUnavailable({
        store: directory,
        reason: `synchronous must be one of ${SYNCHRONOUS.join(", ")}, got ${JSON.stringify(synchronous)}`,
        cause: undefined
      })
    }
    yield* ensureDirectory(directory)
    const backend: Backend = {
      name: `sqlite ${directory}`,
      open: ({ workerCount, workerIndex }) => openWorker({ directory, workerIndex, workerCount, synchronous }, hooks),
      inspect: StoreReader.make(directory)
    }
    return backend
  })

interface WorkerState {
  /** The last epoch this worker completed, as committed. */
  progress: number | undefined
  /** Epochs with rows in `sluice_pending_snapshots`, ascending. */
  pendingEpochs: ReadonlyArray<number>
  /** This file's dataflow id and worker count, once known, to check peer files against. */
  meta: Peers.OwnMeta | undefined
}

const openWorker = (
  options: {
    readonly directory: string
    readonly workerIndex: number
    readonly workerCount: number
    readonly synchronous: Synchronous
  },
  hooks: Hooks
) =>
  Effect.gen(function*() {
    const { directory, workerCount, workerIndex } = options
    if (!Number.isInteger(workerIndex) || workerIndex < 0 || workerIndex >= workerCount) {
      return yield* Effect.dieMessage(`worker index ${workerIndex} is outside 0..${workerCount - 1}`)
    }
    const file = workerFile(directory, workerIndex)
    // The directory may have been deleted since the layer was built (R9).
    yield* ensureDirectory(directory)
    yield* WorkerLock.refuseIfDeleted(directory, workerIndex, file)
    const lockHeld = yield* WorkerLock.acquire(directory, workerIndex, file)
    yield* inspect(file)
    const sql: SqlClient.SqlClient = yield* SqliteClient.make({ filename: file, disableWAL: true }).pipe(
      Effect.provide(Reactivity.layer),
      Effect.catchAllDefect((defect) => Effect.fail(refail(file, "opening the database failed")(defect)))
    )
    const opening = Effect.mapError(refail(file, "opening the database failed"))
    // Pragmas go first, before any table is read: WAL lets other workers read
    // this file's progress while it commits.
    const [{ journal_mode }] = yield* opening(
      sql.unsafe<{ readonly journal_mode: string }>("PRAGMA journal_mode = WAL")
    )
    if (journal_mode !== "wal") {
      return yield* Effect.fail(
        refail(file, `opening the database failed: the file system refuses WAL mode (got ${journal_mode})`)(undefined)
      )
    }
    yield* opening(sql.unsafe(`PRAGMA synchronous = ${options.synchronous}`))
    // Truncates the WAL file after checkpoints; one big epoch would leave it large.
    yield* opening(sql.unsafe("PRAGMA journal_size_limit = 67108864"))
    // Up to 64 MiB of pages (allocated as used): an epoch rewriting keys spread
    // over a large table reads half as many pages as with the 2 MiB default.
    yield* opening(sql.unsafe("PRAGMA cache_size = -65536"))
    yield* Schema.migrate(file, hooks.migrations).pipe(Effect.provideService(SqlClient.SqlClient, sql))

    const reading = Effect.mapError(refail(file, "reading the store progress failed"))
    const owners = yield* reading(sql<{ readonly worker_index: number }>`SELECT worker_index FROM sluice_meta`)
    const owner = owners.find((row) => row.worker_index !== workerIndex)
    if (owner !== undefined) {
      return yield* new StoreCorrupt({
        store: file,
        reason: `it holds the data of worker ${owner.worker_index}, not of worker ${workerIndex}: ` +
          "worker files were renamed or copied between stores"
      })
    }
    const progressRows = yield* reading(
      sql<{ readonly epoch: number }>`SELECT epoch FROM sluice_progress WHERE worker_index = ${workerIndex}`
    )
    const pendingRows = yield* reading(
      sql<{ readonly epoch: number }>`SELECT DISTINCT epoch FROM sluice_pending_snapshots ORDER BY epoch`
    )
    const record = CommittedEpoch.recordFile(directory, workerIndex)
    const lost = CommittedEpoch.check(
      { workerFile: file, record, recorded: CommittedEpoch.read(record) },
      progressRows[0]?.epoch
    )
    if (lost !== undefined) return yield* lost
    const state: WorkerState = {
      progress: progressRows[0]?.epoch,
      pendingEpochs: pendingRows.map((row) => row.epoch),
      meta: undefined
    }
    const peers = yield* Peers.make({ directory, workerIndex, workerCount })
    return makeWorker({ directory, file, record, lockHeld, sql, peers, state, workerIndex, workerCount }, hooks)
  })

type Run = (text: string, params: ReadonlyArray<unknown>) => Effect.Effect<unknown, unknown>

/**
 * `withTransaction` of `@effect/sql` turns a failing COMMIT (a full disk, an
 * I/O error: where WAL pages are written) into a defect; here it is a failure
 * like any other statement's, for `refail` to name.
 */
const inTransaction = <A, E>(sql: SqlClient.SqlClient, body: Effect.Effect<A, E>): Effect.Effect<A, unknown> =>
  sql.withTransaction(body).pipe(
    Effect.catchSomeDefect((defect) =>
      defect instanceof SqlError.SqlError ? Option.some(Effect.fail(defect)) : Option.none()
    )
  )

const makeWorker = (
  context: {
    readonly directory: string
    readonly file: string
    /** The file recording the last committed epoch outside the database. */
    readonly record: string
    /** Fails once the lock file was deleted or replaced under this worker. */
    readonly lockHeld: Effect.Effect<void, StoreUnavailable>
    readonly sql: SqlClient.SqlClient
    readonly peers: Peers.Peers
    readonly state: WorkerState
    readonly workerIndex: number
    readonly workerCount: number
  },
  hooks: Hooks
): BackendWorker => {
  const { directory, file, lockHeld, peers, record, sql, state, workerCount, workerIndex } = context
  const writeRecord = (epoch: number) => Effect.try(() => CommittedEpoch.write(record, epoch))
  const run: Run = (text, params) => sql.unsafe(text, params)

  /**
   * R6: the epoch every worker has completed once this worker completes
   * `epoch`. This worker's versions at or before it are needed only as the
   * newest one per key; pending writes at or before it can be collected.
   */
  const agreedUpTo = (epoch: number) =>
    workerCount === 1
      ? Effect.succeed(epoch)
      : Effect.map(
        Effect.suspend(() => peers.progress(state.meta)),
        (others) => StoreKit.agreedEpoch(others, workerCount, { workerIndex, epoch })
      )

  const readMeta = Effect.map(
    sql<{
      readonly dataflow_id: string
      readonly worker_count: number
      readonly schema_version: number
      readonly created_at: number
    }>`SELECT dataflow_id, worker_count, schema_version, created_at FROM sluice_meta WHERE worker_index = ${workerIndex}`,
    (rows) =>
      Option.map(Option.fromNullable(rows[0]), (row): StoreMeta => {
        state.meta = { dataflowId: row.dataflow_id, workerCount: row.worker_count }
        return {
          dataflowId: row.dataflow_id,
          workerCount: row.worker_count,
          schemaVersion: row.schema_version,
          createdAt: row.created_at
        }
      })
  ).pipe(Effect.mapError(refail(file, "reading the store metadata failed")))

  const writeMeta = (meta: StoreMeta) =>
    sql`
      INSERT INTO sluice_meta (worker_index, dataflow_id, worker_count, schema_version, created_at)
      VALUES (${workerIndex}, ${meta.dataflowId}, ${meta.workerCount}, ${meta.schemaVersion}, ${meta.createdAt})
      ON CONFLICT (worker_index) DO UPDATE SET
        dataflow_id = excluded.dataflow_id,
        worker_count = excluded.worker_count,
        schema_version = excluded.schema_version,
        created_at = excluded.created_at`.pipe(
      Effect.tap(() => {
        state.meta = { dataflowId: meta.dataflowId, workerCount: meta.workerCount }
      }),
      Effect.asVoid,
      Effect.mapError(refail(file, "writing the store metadata failed"))
    )

  const readProgress = Effect.suspend(() =>
    Effect.map(peers.progress(state.meta), (others): ReadonlyArray<WorkerProgress> => {
      const all = state.progress === undefined ? [...others] : [...others, { workerIndex, epoch: state.progress }]
      return all.sort((a, b) => a.workerIndex - b.workerIndex)
    })
  )

  const commit = (epoch: number, writes: ReadonlyArray<SnapshotWrite>, outputs: ReadonlyArray<OutputRecord>) =>
    Effect.gen(function*() {
      yield* lockHeld
      const agreed = yield* agreedUpTo(epoch)
      const committedAt = yield* Clock.currentTimeMillis
      const plan = StoreKit.planPendingCommit({ pending: state.pendingEpochs, epoch, agreed, writes: writes.length })
      let statement = 0
      const step: Run = hooks.beforeCommitStatement === undefined ? run : (text, params) =>
        Effect.suspend(() => {
          hooks.beforeCommitStatement!(statement++, epoch)
          return run(text, params)
        })
      yield* inTransaction(
        sql,
        Effect.gen(function*() {
          yield* collect(step, plan.due, agreed)
          if (plan.direct) yield* writeSnapshots(step, epoch, writes)
          else yield* writePending(step, epoch, writes)
          yield* writeOutputs(step, epoch, outputs)
          yield* step(
            `INSERT INTO sluice_progress (worker_index, epoch, committed_at) VALUES (?, ?, ?)
           ON CONFLICT (worker_index) DO UPDATE SET epoch = excluded.epoch, committed_at = excluded.committed_at`,
            [workerIndex, epoch, committedAt]
          )
        })
      )
      state.progress = epoch
      state.pendingEpochs = plan.pending
      yield* writeRecord(epoch)
    }).pipe(Effect.mapError(refail(file, `committing epoch ${epoch} failed`)))

  const discardFrom = (epoch: number) =>
    Effect.gen(function*() {
      const completedSince = state.progress !== undefined && state.progress >= epoch
      const pendingSince = state.pendingEpochs.some((e) => e >= epoch)
      if (completedSince || pendingSince) {
        // Lowered first: a record ahead of the file would read as lost epochs.
        if (completedSince) yield* writeRecord(epoch - 1)
        yield* inTransaction(
          sql,
          Effect.gen(function*() {
            yield* run("DELETE FROM sluice_pending_snapshots WHERE epoch >= ?", [epoch])
            if (completedSince) {
              yield* run("DELETE FROM sluice_snapshots WHERE epoch >= ?", [epoch])
              yield* run("DELETE FROM sluice_outputs WHERE epoch >= ?", [epoch])
              yield* epoch <= 1
                ? run("DELETE FROM sluice_progress WHERE worker_index = ?", [workerIndex])
                : run("UPDATE sluice_progress SET epoch = ? WHERE worker_index = ?", [epoch - 1, workerIndex])
            }
          })
        )
        state.progress = StoreKit.rewindProgress(state.progress, epoch)
        state.pendingEpochs = state.pendingEpochs.filter((e) => e < epoch)
      }
      // Peers may have caught up with writes this worker was ahead with.
      if (state.pendingEpochs.length > 0) {
        const agreed = yield* agreedUpTo(state.progress ?? 0)
        const due = StoreKit.dueEpochs(state.pendingEpochs, agreed)
        if (due.length > 0) {
          yield* inTransaction(sql, collect(run, due, agreed))
          state.pendingEpochs = state.pendingEpochs.filter((e) => e > agreed)
        }
      }
    }).pipe(Effect.mapError(refail(file, `discarding the epochs from ${epoch} failed`)))

  // Rescaling redistributes the snapshots and then starts every worker afresh.
  // Output records stay: they are the results runs already delivered.
  // The epoch record is lowered first, as for a discard.
  const reset = Effect.zipRight(
    writeRecord(0),
    inTransaction(
      sql,
      Effect.gen(function*() {
        yield* run("DELETE FROM sluice_pending_snapshots", [])
        yield* run("DELETE FROM sluice_snapshots", [])
        yield* run("DELETE FROM sluice_progress", [])
        yield* run("DELETE FROM sluice_meta", [])
      })
    )
  ).pipe(
    Effect.tap(() => {
      state.progress = undefined
      state.pendingEpochs = []
      state.meta = undefined
    }),
    Effect.mapError(refail(file, "resetting the worker for a rescale failed"))
  )

  return {
    readMeta,
    writeMeta,
    readProgress,
    discardFrom,
    reset,
    rescaleJournal: RescaleJournal.make(directory),
    // The pending check belongs to the moment the stream runs, not the moment it is built.
    readSnapshots: (stepId, atOrBefore) =>
      Stream.suspend(() =>
        Resume.snapshots({
          file,
          stepId,
          atOrBefore,
          pending: state.pendingEpochs.some((e) => e <= atOrBefore)
        })
      ),
    commit
  }
}

/**
 * Moves pending writes of the epochs `due` (all at or before `agreed`) into
 * `sluice_snapshots`, oldest epoch first so the newest version wins.
 */
const collect = (run: Run, due: ReadonlyArray<number>, agreed: number) =>
  Effect.gen(function*() {
    if (due.length === 0) return
    for (const epoch of due) {
      // An upsert fed by a SELECT needs the SELECT's WHERE: without one SQLite
      // parses `ON CONFLICT` as the ON of a join.
      yield* run(
        `INSERT INTO sluice_snapshots (step_id, key, epoch, value, checksum)
         SELECT step_id, key, epoch, value, checksum FROM sluice_pending_snapshots WHERE epoch = ? AND value IS NOT NULL
         ON CONFLICT (step_id, key) DO UPDATE SET
           epoch = excluded.epoch, value = excluded.value, checksum = excluded.checksum`,
        [epoch]
      )
      yield* run(
        `DELETE FROM sluice_snapshots WHERE (step_id, key) IN (
           SELECT step_id, key FROM sluice_pending_snapshots WHERE epoch = ? AND value IS NULL)`,
        [epoch]
      )
    }
    yield* run("DELETE FROM sluice_pending_snapshots WHERE epoch <= ?", [agreed])
  })

/**
 * Writes straight into `sluice_snapshots`. Runs of live values and of
 * tombstones go as separate statements in write order, so a key written
 * twice in one epoch ends with its last write.
 */
const writeSnapshots = (run: Run, epoch: number, writes: ReadonlyArray<SnapshotWrite>) =>
  Effect.gen(function*() {
    let start = 0
    while (start < writes.length) {
      const tombstones = writes[start].value === null
      let end = start + 1
      while (end < writes.length && (writes[end].value === null) === tombstones) end++
      for (let i = start; i < end;) {
        const rows = chunkSize(end - i)
        if (tombstones) {
          const params = new Array<unknown>(rows * 2)
          for (let j = 0; j < rows; j++) {
            const write = writes[i + j]
            params[j * 2] = write.stepId
            params[j * 2 + 1] = write.key
          }
          yield* run(deleteSnapshots(rows), params)
        } else {
          const params = new Array<unknown>(rows * 5)
          for (let j = 0; j < rows; j++) {
            const write = writes[i + j]
            params[j * 5] = write.stepId
            params[j * 5 + 1] = write.key
            params[j * 5 + 2] = epoch
            // the column is a STRICT BLOB: the text goes in as its UTF-8
            params[j * 5 + 3] = Buffer.from(write.value!)
            params[j * 5 + 4] = StoreKit.snapshotChecksum(write.stepId, write.key, write.value)
          }
          yield* run(upsertSnapshots(rows), params)
        }
        i += rows
      }
      start = end
    }
  })

/** Writes into `sluice_pending_snapshots`; a later write of a key in the epoch replaces an earlier one. */
const writePending = (run: Run, epoch: number, writes: ReadonlyArray<SnapshotWrite>) =>
  Effect.gen(function*() {
    for (let i = 0; i < writes.length;) {
      const rows = chunkSize(writes.length - i)
      const params = new Array<unknown>(rows * 5)
      for (let j = 0; j < rows; j++) {
        const write = writes[i + j]
        params[j * 5] = epoch
        params[j * 5 + 1] = write.stepId
        params[j * 5 + 2] = write.key
        params[j * 5 + 3] = write.value === null ? null : Buffer.from(write.value)
        params[j * 5 + 4] = StoreKit.snapshotChecksum(write.stepId, write.key, write.value)
      }
      yield* run(insertPending(rows), params)
      i += rows
    }
  })

const writeOutputs = (run: Run, epoch: number, outputs: ReadonlyArray<OutputRecord>) =>
  Effect.gen(function*() {
    for (let i = 0; i < outputs.length;) {
      const rows = chunkSize(outputs.length - i)
      const params = new Array<unknown>(rows * 4)
      for (let j = 0; j < rows; j++) {
        const record = outputs[i + j]
        params[j * 4] = record.destination
        params[j * 4 + 1] = epoch
        params[j * 4 + 2] = record.key
        params[j * 4 + 3] = record.value
      }
      yield* run(insertOutputs(rows), params)
      i += rows
    }
  })
