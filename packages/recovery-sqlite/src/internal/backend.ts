/**
 * The SQLite backend: one database file per worker in a directory.
 *
 * An epoch commit is one SQLite transaction (R1): the epoch's snapshot writes
 * as one changelog row per step, its output records and the "epoch complete"
 * mark. Every `materializeEvery` epochs, or once the changelog passes
 * `changelogBytes`, the same transaction also folds the changelog rows of
 * epochs every worker agreed into `sluice_snapshots` (R6), so the file never
 * holds a half-materialized state either. The transaction runs on a thread
 * of the store's own (`commitThread.ts`), with what this thread decided it
 * writes.
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
  Snapshot,
  SnapshotWrite,
  StoreMeta,
  WorkerProgress
} from "@sluice/core/RecoveryStore"
import * as StoreKit from "@sluice/core/StoreKit"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as path from "node:path"
import type { Options, Synchronous } from "../SqliteRecovery.js"
import * as Changelog from "./changelog.js"
import * as CommittedEpoch from "./committedEpoch.js"
import * as CommitThread from "./commitThread.js"
import * as Peers from "./peers.js"
import * as RescaleJournal from "./rescaleJournal.js"
import * as Resume from "./resume.js"
import * as Schema from "./schema.js"
import { ensureDirectory, inspect, refail, workerFile } from "./storeFile.js"
import * as StoreReader from "./storeReader.js"
import * as WorkerLock from "./workerLock.js"

/**
 * When a commit folds the agreed changelog into `sluice_snapshots`.
 *
 * @internal
 */
export interface Materialization {
  readonly materializeEvery: number
  readonly changelogBytes: number
}

/**
 * The count bound: a cap for epochs too small to reach `CHANGELOG_BYTES`
 * soon, so that the tail stays a bounded number of rows.
 *
 * @internal
 */
export const MATERIALIZE_EVERY = 128

/**
 * The size bound, which comes first for most epochs. The fold's cost per
 * epoch falls with the epochs it folds at once (a key rewritten every epoch
 * is written to the table once per fold), while a resume, eager or lazy,
 * reads and folds up to this much text before its first item: 4 Mi code
 * units is what folding every 16 epochs already allowed at 100k-word
 * epochs (bench/PROFILE.md, "Cost per epoch on SQLite").
 *
 * @internal
 */
export const CHANGELOG_BYTES = 4 * 1024 * 1024

/**
 * Epoch commits on their way to the commit thread at most (and at most a
 * changelog's bound of text): enough to cover a fold's time on the thread,
 * which is tens of short epochs' (bench/PROFILE.md, "Commits on a thread of
 * their own").
 */
const IN_FLIGHT = 64

/**
 * What a batch on the commit thread requires of the file: that this worker's
 * last committed epoch is `follows` (`null`: none), the one the batch was
 * decided after. `what` names the batch in the failure.
 */
const followingProgress = (
  workerIndex: number,
  follows: number | null,
  what: string
): CommitThread.Batch["requires"] => ({
  sql: "SELECT epoch FROM sluice_progress WHERE worker_index = ?",
  params: [workerIndex],
  value: follows,
  reason: `the epoch ${what} follows (${follows ?? "none"}) is not the last one committed: an earlier commit failed`
})

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

const chunkSize = (remaining: number): number => CommitThread.chunkRows(CHUNK_SIZES, remaining)

/** `rows` copies of one row's placeholders, the VALUES list of a multi-row statement. */
const repeatedRows = (rows: number, row: string): string => Array.from({ length: rows }, () => row).join(", ")

const values = (rows: number, columns: number): string =>
  repeatedRows(rows, `(${Array.from({ length: columns }, () => "?").join(", ")})`)

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
    // the value is bound as text and stored as its UTF-8 (the column is a
    // STRICT BLOB): SQLite converts it, with no Buffer made per row here
    (n) =>
      `INSERT OR REPLACE INTO sluice_snapshots (step_id, key, epoch, value, checksum) VALUES ${
        repeatedRows(n, "(?, ?, ?, CAST(? AS BLOB), ?)")
      }`
  )

const deleteSnapshots = (rows: number) =>
  statementText("delete", rows, (n) => `DELETE FROM sluice_snapshots WHERE (step_id, key) IN (VALUES ${values(n, 2)})`)

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
    const materialization: Materialization = {
      materializeEvery: options.materializeEvery ?? MATERIALIZE_EVERY,
      changelogBytes: options.changelogBytes ?? CHANGELOG_BYTES
    }
    for (const [name, value] of Object.entries(materialization)) {
      if (!Number.isSafeInteger(value) || value < 1) {
        return yield* new StoreUnavailable({
          store: directory,
          reason: `${name} must be a whole number of at least 1, got ${JSON.stringify(value)}`,
          cause: undefined
        })
      }
    }
    yield* ensureDirectory(directory)
    const backend: Backend = {
      name: `sqlite ${directory}`,
      open: ({ workerCount, workerIndex }) =>
        openWorker({ directory, workerIndex, workerCount, synchronous, materialization }, hooks),
      inspect: StoreReader.make(directory)
    }
    return backend
  })

/** The changelog rows of one epoch, all steps together. */
interface TailEpoch {
  readonly epoch: number
  /** The UTF-16 length of the rows' text: what a resume folds in memory. */
  readonly size: number
}

interface WorkerState {
  /** The last epoch this worker completed, as committed. */
  progress: number | undefined
  /** Epochs with rows in `sluice_changelog`, ascending. */
  tail: ReadonlyArray<TailEpoch>
  /** Whether this session committed an epoch: only then does closing it materialize. */
  committed: boolean
  /** This file's dataflow id and worker count, once known, to check peer files against. */
  meta: Peers.OwnMeta | undefined
}

const openWorker = (
  options: {
    readonly directory: string
    readonly workerIndex: number
    readonly workerCount: number
    readonly synchronous: Synchronous
    readonly materialization: Materialization
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
    const pragmas = connectionPragmas(options.synchronous)
    for (const pragma of pragmas) yield* opening(sql.unsafe(`PRAGMA ${pragma}`))
    yield* Schema.migrate(file, hooks.migrations).pipe(Effect.provideService(SqlClient.SqlClient, sql))
    // The commits' connection, opened on its thread once the file has its tables.
    const thread = yield* CommitThread.start({
      file,
      pragmas,
      fold: FOLD_STATEMENTS,
      pausable: hooks.beforeCommitStatement !== undefined
    })

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
    const tailRows = yield* reading(
      sql<TailEpoch>`SELECT epoch, sum(length(entries)) AS size FROM sluice_changelog GROUP BY epoch ORDER BY epoch`
    )
    const record = CommittedEpoch.recordFile(directory, workerIndex)
    const lost = CommittedEpoch.check(
      { workerFile: file, record, recorded: CommittedEpoch.read(record) },
      progressRows[0]?.epoch
    )
    if (lost !== undefined) return yield* lost
    const state: WorkerState = {
      progress: progressRows[0]?.epoch,
      tail: tailRows.map(({ epoch, size }) => ({ epoch, size })),
      committed: false,
      meta: undefined
    }
    const peers = yield* Peers.make({ directory, workerIndex, workerCount })
    const { materialization } = options
    const worker = makeWorker(
      { directory, file, record, lockHeld, sql, thread, peers, state, workerIndex, workerCount, materialization },
      hooks
    )
    // A run that ends leaves its agreed epochs materialized: the file holds its live keys. Best effort: the
    // next commit does it otherwise, and a failure here changes nothing (one transaction).
    yield* Effect.addFinalizer(() => state.committed ? Effect.ignore(worker.materializeAgreed) : Effect.void)
    return worker as BackendWorker
  })

/**
 * The pragmas of both connections to a worker file, this thread's and the
 * commit thread's (journal_mode is the file's, set once).
 */
const connectionPragmas = (synchronous: Synchronous): ReadonlyArray<string> => [
  `synchronous = ${synchronous}`,
  // Truncates the WAL file after checkpoints; one big epoch would leave it large.
  "journal_size_limit = 67108864",
  // Up to 64 MiB of pages (allocated as used): an epoch rewriting keys spread
  // over a large table reads half as many pages as with the 2 MiB default.
  "cache_size = -65536",
  // A materialization's multi-row REPLACEs keep statement journals, which SQLite spills to temp files in
  // /var/tmp (17.5 MiB of writes in a 2M-word wordcount at 10k-word epochs): keep them in memory.
  "temp_store = MEMORY",
  // The two connections never write at once (each write here waits for the commits sent); a wait, not a failure,
  // if they ever did.
  "busy_timeout = 5000"
]

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
    readonly thread: CommitThread.CommitThread
    readonly peers: Peers.Peers
    readonly state: WorkerState
    readonly workerIndex: number
    readonly workerCount: number
    readonly materialization: Materialization
  },
  hooks: Hooks
) => {
  const { directory, file, lockHeld, materialization, peers, record, sql, state, thread, workerCount, workerIndex } =
    context
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

  /** Whether a commit of `epoch` with `size` more changelog text folds the agreed changelog now. */
  const materializationDue = (epoch: number, size: number, agreed: number): boolean => {
    let agreedEpochs = epoch <= agreed ? 1 : 0
    let total = size
    for (const row of state.tail) {
      total += row.size
      if (row.epoch <= agreed) agreedEpochs++
    }
    return agreedEpochs > 0 &&
      (agreedEpochs >= materialization.materializeEvery || total >= materialization.changelogBytes)
  }

  /** The first epoch whose commit failed since the last that succeeded: no later one may commit before it. */
  let failed: { readonly epoch: number; readonly error: StoreCorrupt | StoreUnavailable } | undefined

  /**
   * Decides the epoch's statements here and sends them to the commit thread;
   * the effect returned waits for the commit and then records it. Several may
   * be on their way, committed in the order begun: what a commit decides
   * (the tail, the progress) is recorded here when it is sent, and put back
   * if it fails. A fold runs on the thread in the commit's transaction,
   * after the commits sent before it.
   */
  const beginCommit = (epoch: number, writes: ReadonlyArray<SnapshotWrite>, outputs: ReadonlyArray<OutputRecord>) => {
    const error = refail(file, `committing epoch ${epoch} failed`)
    return Effect.gen(function*() {
      if (failed !== undefined && epoch > failed.epoch) return yield* failed.error
      // at most a changelog's bound of rows on their way, so that a slow disk holds back the run, not memory
      yield* thread.waitBelow(IN_FLIGHT, materialization.changelogBytes)
      yield* lockHeld
      const agreed = yield* agreedUpTo(epoch)
      const committedAt = yield* Clock.currentTimeMillis
      const rows = changelogRows(epoch, writes)
      const size = rows.reduce((sum, row) => sum + row.entries.length, 0)
      const materialize = materializationDue(epoch, size, agreed)
      // Folding anyway and every worker has this epoch: its row is folded in the same transaction.
      const direct = materialize && epoch <= agreed
      const texts: Array<string> = []
      const params: Array<ReadonlyArray<unknown>> = []
      for (const row of rows) {
        texts.push(FOLD_STATEMENTS.insertRow)
        params.push([epoch, row.stepId, row.entries, row.checksum])
      }
      writeOutputs(texts, params, epoch, outputs)
      texts.push(
        `INSERT INTO sluice_progress (worker_index, epoch, committed_at) VALUES (?, ?, ?)
         ON CONFLICT (worker_index) DO UPDATE SET epoch = excluded.epoch, committed_at = excluded.committed_at`
      )
      params.push([workerIndex, epoch, committedAt])
      const batch: CommitThread.Batch = {
        statements: texts,
        params,
        foldUpTo: materialize ? agreed : undefined,
        requires: followingProgress(workerIndex, state.progress ?? null, "it")
      }
      const recorded = { progress: state.progress, tail: state.tail, committed: state.committed }
      const committed = yield* thread.send(batch, {
        weight: size,
        beforeStatement: hooks.beforeCommitStatement === undefined
          ? undefined
          : (statement) => hooks.beforeCommitStatement!(statement, epoch),
        onFailure: (cause) => {
          state.progress = recorded.progress
          state.tail = recorded.tail
          state.committed = recorded.committed
          tails.clear()
          failed = { epoch, error: error(cause) }
        }
      })
      state.progress = epoch
      state.committed = true
      const kept = materialize ? state.tail.filter((row) => row.epoch > agreed) : state.tail
      state.tail = direct || rows.length === 0 ? kept : [...kept.filter((row) => row.epoch !== epoch), { epoch, size }]
      tails.clear()
      return committed.pipe(
        Effect.zipRight(Effect.suspend(() => {
          if (failed !== undefined && epoch >= failed.epoch) failed = undefined
          return writeRecord(epoch)
        })),
        Effect.mapError(error)
      )
    }).pipe(Effect.mapError(error))
  }

  const commit = (epoch: number, writes: ReadonlyArray<SnapshotWrite>, outputs: ReadonlyArray<OutputRecord>) =>
    Effect.flatten(beginCommit(epoch, writes, outputs))

  /** Folds the changelog rows of every agreed epoch into the table, in a transaction of its own. */
  const materializeAgreed = Effect.gen(function*() {
    // a run that failed may leave commits on the thread: what to fold follows from how they ended
    yield* thread.idle
    if (state.progress === undefined) return
    const agreed = yield* agreedUpTo(state.progress)
    if (!state.tail.some((row) => row.epoch <= agreed)) return
    yield* lockHeld
    const folded = yield* thread.send({
      statements: [],
      params: [],
      foldUpTo: agreed,
      requires: followingProgress(workerIndex, state.progress, "the fold")
    }, { weight: 0, onFailure: () => {} })
    yield* folded
    state.tail = state.tail.filter((row) => row.epoch > agreed)
    tails.clear()
  }).pipe(Effect.mapError(refail(file, "materializing the changelog failed")))

  const discardFrom = (epoch: number) =>
    Effect.gen(function*() {
      const completedSince = state.progress !== undefined && state.progress >= epoch
      const tailSince = state.tail.some((row) => row.epoch >= epoch)
      if (!completedSince && !tailSince) return
      // Lowered first: a record ahead of the file would read as lost epochs.
      if (completedSince) yield* writeRecord(epoch - 1)
      yield* inTransaction(
        sql,
        Effect.gen(function*() {
          yield* run("DELETE FROM sluice_changelog WHERE epoch >= ?", [epoch])
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
      state.tail = state.tail.filter((row) => row.epoch < epoch)
      tails.clear()
    }).pipe(Effect.mapError(refail(file, `discarding the epochs from ${epoch} failed`)))

  // Rescaling redistributes the snapshots and then starts every worker afresh.
  // Output records stay: they are the results runs already delivered.
  // The epoch record is lowered first, as for a discard.
  const reset = Effect.zipRight(
    writeRecord(0),
    inTransaction(
      sql,
      Effect.gen(function*() {
        yield* run("DELETE FROM sluice_changelog", [])
        yield* run("DELETE FROM sluice_snapshots", [])
        yield* run("DELETE FROM sluice_progress", [])
        yield* run("DELETE FROM sluice_meta", [])
      })
    )
  ).pipe(
    Effect.tap(() => {
      state.progress = undefined
      state.tail = []
      state.meta = undefined
      tails.clear()
    }),
    Effect.mapError(refail(file, "resetting the worker for a rescale failed"))
  )

  /**
   * Per step, the changelog folded at an epoch, for point reads: the tail is
   * bounded, so it is read once and kept until a commit, discard or reset
   * changes it.
   */
  const tails = new Map<string, { readonly atOrBefore: number; readonly overlay: Map<string, string | null> }>()
  const tailOf = (stepId: string, atOrBefore: number) =>
    Effect.gen(function*() {
      const cached = tails.get(stepId)
      if (cached !== undefined && cached.atOrBefore === atOrBefore) return cached.overlay
      const rows = yield* sql.unsafe<Changelog.StoredRow>(
        Resume.CHANGELOG_OF_STEP.replace("@stepId", "?").replace("@atOrBefore", "?"),
        [stepId, atOrBefore]
      )
      const overlay = Resume.foldTail(file, stepId, rows)
      if (overlay instanceof StoreCorrupt) return yield* overlay
      tails.set(stepId, { atOrBefore, overlay })
      return overlay
    })

  const readKeys = (stepId: string, keys: ReadonlyArray<string>, atOrBefore: number) =>
    Effect.gen(function*() {
      const overlay = yield* tailOf(stepId, atOrBefore)
      const found: Array<Snapshot> = []
      // Keys may repeat: each is answered once. A set of the answers, not of the keys asked, so that a chunk of
      // misses (a resume's new keys) costs nothing here.
      const answered = new Set<string>()
      let fromTable = keys
      if (overlay.size > 0) {
        const notInTail: Array<string> = []
        fromTable = notInTail
        for (const key of keys) {
          const newer = overlay.get(key)
          if (newer === undefined) notInTail.push(key)
          else if (newer !== null && !answered.has(key)) {
            answered.add(key)
            found.push({ key, value: newer })
          }
        }
      }
      const verified = (rows: ReadonlyArray<ReadonlyArray<unknown>>) => {
        for (const row of rows) {
          const key = row[0] as string
          const value = row[1] as string
          if (answered.has(key)) continue
          if (StoreKit.snapshotChecksum(stepId, key, value) !== row[2]) return Resume.damagedSnapshot(file, stepId, key)
          answered.add(key)
          found.push({ key, value })
        }
        return undefined
      }
      for (let i = 0; i < fromTable.length; i += JSON_KEYS) {
        // Sorted, each search lands near the one before (UTF-16 order, near enough SQLite's UTF-8 order for that):
        // 40,960 hits in random order take 10-30% less, misses the same.
        let batch = fromTable.slice(i, i + JSON_KEYS).sort()
        let text = JSON.stringify(batch)
        // JSON.stringify writes a lone surrogate as \udXXX: only then look at the keys one by one
        if (text.includes("\\ud")) {
          const bound = batch.filter((key) => LONE_SURROGATE.test(key))
          for (let j = 0; j < bound.length;) {
            const rows = chunkSize(bound.length - j)
            const damaged = verified(
              yield* sql.unsafe(readKeysStatement(rows), [stepId, atOrBefore, ...bound.slice(j, j + rows)]).values
            )
            if (damaged !== undefined) return yield* damaged
            j += rows
          }
          batch = batch.filter((key) => !LONE_SURROGATE.test(key))
          text = JSON.stringify(batch)
        }
        const damaged = verified(yield* sql.unsafe(READ_KEYS_JSON, [text, stepId, atOrBefore]).values)
        if (damaged !== undefined) return yield* damaged
      }
      return found
    }).pipe(
      Effect.mapError((error) =>
        error instanceof StoreCorrupt ? error : refail(file, `reading keys of step ${stepId} failed`)(error)
      )
    )

  const worker = {
    readMeta,
    writeMeta,
    readProgress,
    discardFrom,
    reset,
    rescaleJournal: RescaleJournal.make(directory),
    readSnapshots: (stepId: string, atOrBefore: number) => Resume.snapshots({ file, stepId, atOrBefore }),
    readKeys,
    commit,
    beginCommit,
    materializeAgreed
  } satisfies BackendWorker & { readonly materializeAgreed: Effect.Effect<void, StoreCorrupt | StoreUnavailable> }
  return worker
}

/**
 * Point reads of keys, all in one text: the keys as one JSON array, which
 * SQLite unpacks with `json_each`, and `CROSS JOIN` so that it searches the
 * primary key once per key. One parameter instead of thousands to spread and
 * bind: for the 40,960 new keys of a lazy resume's first chunk SQLite takes
 * two thirds of an `IN (?, …)` list's time, and `readKeys` half (bench/PROFILE.md,
 * "Lazy resume, session 7").
 */
const READ_KEYS_JSON = `
  SELECT s.key, CAST(s.value AS TEXT), s.checksum FROM json_each(?) AS j CROSS JOIN sluice_snapshots AS s
  WHERE s.step_id = ? AND s.key = j.value AND s.epoch <= ?`

/** Keys per JSON array: keeps one statement's text far below SQLite's limit of 10^9 bytes. */
const JSON_KEYS = 16_384

/**
 * A key with a UTF-16 surrogate that is not half of a pair. better-sqlite3
 * binds it as the surrogate's three-byte form (not valid UTF-8), and that is
 * what the table holds; `JSON.stringify` escapes it as `\udXXX`, and
 * SQLite's JSON parser decodes that escape to the same bytes today
 * (bench/PROFILE.md). Neither is a documented contract, so such keys, rare, are
 * bound as parameters, exactly as they were written.
 */
const LONE_SURROGATE = /\p{Surrogate}/u

/** The same read for keys bound one parameter each, in chunks of the ladder's sizes. */
const readKeysStatement = (rows: number) =>
  statementText(
    "readKeys",
    rows,
    (n) =>
      `SELECT key, CAST(value AS TEXT) AS value, checksum FROM sluice_snapshots
       WHERE step_id = ? AND epoch <= ? AND key IN (${Array.from({ length: n }, () => "?").join(", ")})`
  )

/** One changelog row per step the epoch wrote, in the order the steps were first written. */
const changelogRows = (epoch: number, writes: ReadonlyArray<SnapshotWrite>) => {
  const byStep = new Map<string, Array<string | null>>()
  let stepId: string | undefined
  let entries: Array<string | null> | undefined
  for (let i = 0; i < writes.length; i++) {
    const write = writes[i]
    // writes come in runs of one step: look the step up once per run
    if (write.stepId !== stepId) {
      stepId = write.stepId
      entries = byStep.get(stepId)
      if (entries === undefined) byStep.set(stepId, entries = [])
    }
    entries!.push(write.key, write.value)
  }
  return [...byStep].map(([stepId, entries]) => {
    const text = Changelog.encodeEntries(entries)
    return { stepId, entries: text, checksum: Changelog.checksum(stepId, epoch, text) }
  })
}

/** A commit's output records, as multi-row INSERTs in chunks of the ladder's sizes. */
const writeOutputs = (
  texts: Array<string>,
  params: Array<ReadonlyArray<unknown>>,
  epoch: number,
  outputs: ReadonlyArray<OutputRecord>
) => {
  for (let i = 0; i < outputs.length;) {
    const rows = chunkSize(outputs.length - i)
    const values = new Array<unknown>(rows * 4)
    for (let j = 0; j < rows; j++) {
      const record = outputs[i + j]
      values[j * 4] = record.destination
      values[j * 4 + 1] = epoch
      values[j * 4 + 2] = record.key
      values[j * 4 + 3] = record.value
    }
    texts.push(insertOutputs(rows))
    params.push(values)
    i += rows
  }
}

/**
 * A fold's statements (`Changelog.materialize` decides its rows, on the
 * commit thread): the changelog rows of the epochs up to one, each key then
 * written once however many epochs changed it, in key order, and the rows
 * deleted. Never beyond the agreed epoch: a resume may go back to it. The
 * rows are read back and checked: what is folded is what the file holds.
 */
const FOLD_STATEMENTS: CommitThread.FoldStatements = {
  insertRow: "INSERT OR REPLACE INTO sluice_changelog (epoch, step_id, entries, checksum) VALUES (?, ?, ?, ?)",
  readRows: "SELECT epoch, step_id, entries, checksum FROM sluice_changelog WHERE epoch <= ? ORDER BY epoch, step_id",
  deleteRows: "DELETE FROM sluice_changelog WHERE epoch <= ?",
  ladder: CHUNK_SIZES,
  upsert: Object.fromEntries(CHUNK_SIZES.map((rows) => [rows, upsertSnapshots(rows)])),
  delete: Object.fromEntries(CHUNK_SIZES.map((rows) => [rows, deleteSnapshots(rows)]))
}
