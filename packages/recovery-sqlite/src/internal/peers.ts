/**
 * The other workers' files, read-only: their progress decides the resume
 * epoch (R3) and which of this worker's snapshots are still needed (R6).
 */
import { RecoveryMismatch, StoreCorrupt, StoreUnavailable } from "@sluice/core/DataflowError"
import type { WorkerProgress } from "@sluice/core/RecoveryStore"
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as CommittedEpoch from "./committedEpoch.js"
import { inspectSync, refail, workerFile } from "./storeFile.js"

/**
 * What this worker's own file says, to check a peer file against.
 *
 * @internal
 */
export interface OwnMeta {
  readonly dataflowId: string
  readonly workerCount: number
}

/** @internal */
export interface Peers {
  /** The last completed epoch of each other worker that completed one. */
  readonly progress: (own: OwnMeta | undefined) => Effect.Effect<
    ReadonlyArray<WorkerProgress>,
    RecoveryMismatch | StoreCorrupt | StoreUnavailable
  >
}

/** @internal */
export const make = (options: {
  readonly directory: string
  readonly workerIndex: number
  readonly workerCount: number
}): Effect.Effect<Peers, never, Scope.Scope> =>
  Effect.gen(function*() {
    const connections = new Map<number, Database.Database>()
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const db of connections.values()) db.close()
        connections.clear()
      })
    )

    // A file that does not exist, or whose tables are not created yet, belongs
    // to a worker that has not completed an epoch, unless its epoch record says otherwise.
    const readPeer = (peer: number, own: OwnMeta | undefined): WorkerProgress | undefined => {
      const file = workerFile(options.directory, peer)
      // The record is read before and after the file: a peer lowers it before it
      // discards epochs, so only a record ahead both times means lost epochs.
      const record = CommittedEpoch.recordFile(options.directory, peer)
      const before = CommittedEpoch.read(record)
      const found = readPeerFile(peer, file, own)
      const lost = CommittedEpoch.check(
        { workerFile: file, record, recorded: Math.min(before, CommittedEpoch.read(record)) },
        found?.epoch
      )
      if (lost !== undefined) throw lost
      return found
    }

    const readPeerFile = (peer: number, file: string, own: OwnMeta | undefined): WorkerProgress | undefined => {
      let db = connections.get(peer)
      if (db === undefined) {
        if (inspectSync(file) === "missing") return undefined
        db = new Database(file, { readonly: true, fileMustExist: true })
        connections.set(peer, db)
      }
      const tables = db.prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name IN ('sluice_meta', 'sluice_progress')"
      ).pluck().all() as Array<string>
      if (!tables.includes("sluice_progress")) return undefined
      if (own !== undefined) {
        const meta = db.prepare("SELECT dataflow_id, worker_count FROM sluice_meta WHERE worker_index = ?")
          .get(peer) as { readonly dataflow_id: string; readonly worker_count: number } | undefined
        if (meta !== undefined && meta.dataflow_id !== own.dataflowId) {
          throw new RecoveryMismatch({ field: "dataflowId", expected: own.dataflowId, found: meta.dataflow_id })
        }
        if (meta !== undefined && meta.worker_count !== own.workerCount) {
          throw new RecoveryMismatch({ field: "workerCount", expected: own.workerCount, found: meta.worker_count })
        }
      }
      const row = db.prepare("SELECT epoch FROM sluice_progress WHERE worker_index = ?").get(peer) as
        | { readonly epoch: number }
        | undefined
      return row === undefined ? undefined : { workerIndex: peer, epoch: row.epoch }
    }

    const progress = (own: OwnMeta | undefined) =>
      Effect.suspend((): Effect.Effect<
        ReadonlyArray<WorkerProgress>,
        RecoveryMismatch | StoreCorrupt | StoreUnavailable
      > => {
        const found: Array<WorkerProgress> = []
        for (let peer = 0; peer < options.workerCount; peer++) {
          if (peer === options.workerIndex) continue
          const file = workerFile(options.directory, peer)
          try {
            const read = readPeer(peer, own)
            if (read !== undefined) found.push(read)
          } catch (error) {
            if (error instanceof RecoveryMismatch) return Effect.fail(error)
            return Effect.fail(refail(file, `reading the progress of worker ${peer} failed`)(error))
          }
        }
        return Effect.succeed(found)
      })

    return { progress }
  })
