/**
 * The store read-only, every worker file at once, for inspection tools
 * (`RecoveryStore.inspect`, `sluice store inspect` and `dump`).
 *
 * Each worker file is opened with a read-only connection of its own and no
 * worker lock: in WAL mode a reader sees the last committed state and never
 * blocks the run that holds the store, so a store can be read while a run
 * commits to it. Nothing is created: a directory that does not exist is not a
 * store, and the epoch records and locks are left alone.
 */
import { StoreCorrupt, StoreUnavailable } from "@sluice/core/DataflowError"
import type { OutputUsage, StepUsage, StoreMeta, StoreReader, WorkerProgress } from "@sluice/core/RecoveryStore"
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as Resume from "./resume.js"
import { inspectSync, refail, workerFile } from "./storeFile.js"

/** The steps a file holds anything of, materialized or in the changelog. */
const STEP_IDS = `
  SELECT step_id FROM sluice_snapshots WHERE epoch <= @atOrBefore
  UNION
  SELECT step_id FROM sluice_changelog WHERE epoch <= @atOrBefore`

const OUTPUT_USAGE = `
  SELECT destination, count(*) AS records, coalesce(sum(epoch >= @resumeEpoch), 0) AS pending
  FROM sluice_outputs GROUP BY destination`

interface WorkerFile {
  readonly file: string
  readonly db: Database.Database
}

/** @internal */
export const make = (directory: string): Effect.Effect<StoreReader, StoreCorrupt | StoreUnavailable, Scope.Scope> =>
  Effect.gen(function*() {
    if (!fs.existsSync(directory)) {
      return yield* new StoreUnavailable({
        store: directory,
        reason: "there is no store here: the directory does not exist",
        cause: undefined
      })
    }
    const opened: Array<WorkerFile> = []
    yield* Effect.addFinalizer(() => Effect.sync(() => opened.forEach(({ db }) => db.close())))
    const open = (workerIndex: number): Effect.Effect<WorkerFile | undefined, StoreCorrupt | StoreUnavailable> => {
      const file = workerFile(directory, workerIndex)
      return Effect.try({
        try: () => {
          if (inspectSync(file) !== "database") return undefined
          const db = new Database(file, { readonly: true, fileMustExist: true })
          opened.push({ file, db })
          const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").pluck().all()
          // a file whose first open was cut short before its tables were created holds nothing yet
          return tables.includes("sluice_meta") ? { file, db } : undefined
        },
        catch: refail(file, "opening the file read-only failed")
      })
    }

    const first = yield* open(0)
    const metaRow = first === undefined ?
      undefined :
      (yield* query(first, "reading the store's metadata", (db) =>
        db.prepare(
          "SELECT dataflow_id, worker_count, schema_version, created_at FROM sluice_meta WHERE worker_index = 0"
        ).get() as
          | { dataflow_id: string; worker_count: number; schema_version: number; created_at: number }
          | undefined))
    if (metaRow === undefined) return emptyReader
    const meta: StoreMeta = {
      dataflowId: metaRow.dataflow_id,
      workerCount: metaRow.worker_count,
      schemaVersion: metaRow.schema_version,
      createdAt: metaRow.created_at
    }
    const workers: Array<WorkerFile & { readonly workerIndex: number }> = [{ ...first!, workerIndex: 0 }]
    for (let workerIndex = 1; workerIndex < meta.workerCount; workerIndex++) {
      const worker = yield* open(workerIndex)
      if (worker !== undefined) workers.push({ ...worker, workerIndex })
    }
    const progress: Array<WorkerProgress> = []
    for (const worker of workers) {
      const row = yield* query(
        worker,
        "reading the worker's progress",
        (db) =>
          db.prepare("SELECT epoch FROM sluice_progress WHERE worker_index = ?").get(worker.workerIndex) as
            | { epoch: number }
            | undefined
      )
      if (row !== undefined) progress.push({ workerIndex: worker.workerIndex, epoch: row.epoch })
    }

    const steps = (atOrBefore: number) =>
      Effect.gen(function*() {
        const byStep = new Map<string, { keys: number; bytes: number }>()
        for (const worker of workers) {
          const stepIds = yield* query(worker, "listing the steps", (db) =>
            db.prepare(STEP_IDS).pluck().all({ atOrBefore }) as Array<string>)
          // Counted over what a resume reads, changelog overlaid: the same live keys, the same way.
          for (const stepId of stepIds) {
            const usage = byStep.get(stepId) ?? { keys: 0, bytes: 0 }
            yield* Stream.runForEach(
              Resume.snapshots({ file: worker.file, stepId, atOrBefore }),
              ({ value }) =>
                Effect.sync(() => {
                  usage.keys++
                  usage.bytes += Buffer.byteLength(value)
                })
            )
            if (usage.keys > 0) {
              byStep.set(stepId, usage)
            }
          }
        }
        return [...byStep].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map((
          [stepId, usage]
        ): StepUsage => ({ stepId, ...usage }))
      })

    const outputs = (resumeEpoch: number) =>
      Effect.gen(function*() {
        const byDestination = new Map<string, OutputUsage>()
        for (const worker of workers) {
          const rows = yield* query(worker, "counting the output records", (db) =>
            db.prepare(OUTPUT_USAGE).all({ resumeEpoch }) as Array<OutputUsage>)
          for (const row of rows) {
            const usage = byDestination.get(row.destination)
            byDestination.set(row.destination, {
              destination: row.destination,
              records: (usage?.records ?? 0) + row.records,
              pending: (usage?.pending ?? 0) + row.pending
            })
          }
        }
        return [...byDestination.values()]
      })

    const reader: StoreReader = {
      meta: Option.some(meta),
      progress,
      steps,
      outputs,
      snapshots: (stepId, atOrBefore) =>
        Stream.flatMap(
          Stream.fromIterable(workers),
          ({ file }) => Resume.snapshots({ file, stepId, atOrBefore }),
          { concurrency: 1 }
        )
    }
    return reader
  })

const query = <A>(
  worker: WorkerFile,
  doing: string,
  read: (db: Database.Database) => A
): Effect.Effect<A, StoreCorrupt | StoreUnavailable> =>
  Effect.try({ try: () => read(worker.db), catch: refail(worker.file, `${doing} failed`) })

const emptyReader: StoreReader = {
  meta: Option.none(),
  progress: [],
  steps: () => Effect.succeed([]),
  outputs: () => Effect.succeed([]),
  snapshots: () => Stream.empty
}
