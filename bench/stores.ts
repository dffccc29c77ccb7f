/**
 * The stores a configuration runs on, and what they leave on disk.
 */
import { RecoveryStore } from "@sluice/core"
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as path from "node:path"

export type StoreKind = "memory" | "sqlite"

/**
 * The store's Layer. The SQLite store is imported on demand, so the other
 * configurations run (and the SQLite rows report why not) while its package
 * cannot load.
 */
export const storeLayer = async (
  kind: StoreKind,
  directory: string
): Promise<Layer.Layer<RecoveryStore.RecoveryStore, unknown>> => {
  if (kind === "memory") return RecoveryStore.layerMemory()
  const { SqliteRecovery } = await import("@sluice/recovery-sqlite")
  // for A/B runs of the materialization interval: 1 writes every epoch into the live rows, as layout 2 did
  const materializeEvery = process.env.SLUICE_BENCH_MATERIALIZE_EVERY
  return SqliteRecovery.layer({
    directory,
    ...(materializeEvery === undefined ? {} : { materializeEvery: Number(materializeEvery) })
  })
}

/**
 * The layer, noting in `restored.lazy` whether a run that asks for
 * `restore: "lazy"` gets it: only a store whose backend reads keys
 * (`snapshotsOf`) restores lazily; the others fall back to eager.
 */
export const notingLazyRestore = (
  layer: Layer.Layer<RecoveryStore.RecoveryStore, unknown>,
  restore: "eager" | "lazy" | undefined,
  restored: { lazy?: boolean }
): Layer.Layer<RecoveryStore.RecoveryStore, unknown> =>
  Layer.effect(
    RecoveryStore.RecoveryStore,
    Effect.map(RecoveryStore.RecoveryStore, (store) => ({
      ...store,
      open: (options: Parameters<typeof store.open>[0]) =>
        Effect.tap(store.open(options), (worker) =>
          Effect.sync(() => {
            restored.lazy = restore === "lazy" && worker.snapshotsOf !== undefined
          }))
    }))
  ).pipe(Layer.provide(layer))

/** Bytes of every file under `directory` (SQLite's `-wal` and `-shm` included); 0 when it is missing. */
export const directoryBytes = (directory: string): number => {
  let total = 0
  let entries: Array<fs.Dirent>
  try {
    entries = fs.readdirSync(directory, { withFileTypes: true })
  } catch {
    return 0
  }
  for (const entry of entries) {
    const full = path.join(directory, entry.name)
    if (entry.isDirectory()) total += directoryBytes(full)
    else if (entry.isFile()) total += fs.statSync(full).size
  }
  return total
}

export const emptyDirectory = (directory: string): void => {
  fs.rmSync(directory, { recursive: true, force: true })
  fs.mkdirSync(directory, { recursive: true })
}

/** One epoch's writes as a store receives them. */
export interface RecordedEpoch {
  readonly epoch: number
  readonly writes: ReadonlyArray<RecoveryStore.SnapshotWrite>
}

/**
 * A memory store that also keeps every epoch's writes, so the raw-store
 * baseline can replay exactly the snapshots a run commits.
 */
export const recordingLayer = (
  epochs: Array<RecordedEpoch>
): Layer.Layer<RecoveryStore.RecoveryStore> => {
  const inner = RecoveryStore.memoryBackend(RecoveryStore.makeMemoryHandle())
  return RecoveryStore.layer({
    name: "recording memory",
    open: (options) =>
      Effect.map(inner.open(options), (worker) => ({
        ...worker,
        commit: (epoch, writes, outputs) => {
          epochs.push({ epoch, writes: [...writes] })
          return worker.commit(epoch, writes, outputs)
        }
      }))
  })
}

/**
 * The raw-store baseline: the same rows upserted with better-sqlite3
 * directly, one transaction per epoch, in the SQLite store's table layout,
 * journal mode and sync level (WAL, `synchronous = FULL`). What this takes is
 * the floor of what the SQLite store can cost.
 */
export const replayRaw = (file: string, epochs: ReadonlyArray<RecordedEpoch>): void => {
  const db = new Database(file)
  try {
    db.pragma("journal_mode = WAL")
    db.pragma("synchronous = FULL")
    db.exec(`
      CREATE TABLE snapshots (
        step_id TEXT NOT NULL,
        key TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (step_id, key)
      ) STRICT, WITHOUT ROWID;
      CREATE TABLE progress (worker_index INTEGER PRIMARY KEY, epoch INTEGER NOT NULL) STRICT;
    `)
    const upsert = db.prepare(
      `INSERT INTO snapshots (step_id, key, epoch, value) VALUES (?, ?, ?, ?)
       ON CONFLICT (step_id, key) DO UPDATE SET epoch = excluded.epoch, value = excluded.value`
    )
    const remove = db.prepare("DELETE FROM snapshots WHERE step_id = ? AND key = ?")
    const progress = db.prepare(
      `INSERT INTO progress (worker_index, epoch) VALUES (0, ?)
       ON CONFLICT (worker_index) DO UPDATE SET epoch = excluded.epoch`
    )
    const commit = db.transaction((recorded: RecordedEpoch) => {
      for (const write of recorded.writes) {
        if (write.value === null) remove.run(write.stepId, write.key)
        else upsert.run(write.stepId, write.key, recorded.epoch, Buffer.from(write.value))
      }
      progress.run(recorded.epoch)
    })
    for (const recorded of epochs) commit(recorded)
  } finally {
    db.close()
  }
}

/**
 * What issue #15 asks of the SQLite store on wordcount, per epoch size (items
 * per epoch): a floor on its rate ÷ the hand-written loop, on its rate ÷
 * bytewax's, and a ceiling on its recovery overhead vs the memory store. The
 * report prints each next to the measured figure.
 */
export const SQLITE_TARGETS: ReadonlyMap<number, {
  readonly toLoop: number
  readonly toBytewax?: number
  readonly overhead?: number
}> = new Map([
  [100_000, { toLoop: 0.30, toBytewax: 10, overhead: 0.15 }],
  [10_000, { toLoop: 0.20 }]
])
