import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { Backend, BackendWorker, OutputRecord, StoreMeta, WorkerProgress } from "../RecoveryStore.js"
import { agreedEpoch, rewindProgress } from "./storeKit/agreement.js"
import { VersionLog } from "./storeKit/versionLog.js"

/** In-memory store data; public through `RecoveryStore.MemoryHandle`. */
export class MemoryHandle {
  meta: StoreMeta | undefined = undefined
  /** The plan of a rescale being applied (`RescaleJournal`). */
  rescalePlan: Uint8Array | undefined = undefined
  readonly progress = new Map<number, number>()
  /** Per worker, its snapshot versions: the log is the data. */
  readonly versions = new Map<number, VersionLog>()
  /** Transactional output records per destination, in commit order. */
  readonly outputs = new Map<string, Array<OutputRecord & { readonly epoch: number; readonly workerIndex: number }>>()

  /** Counts what the store holds, for tests of R6. */
  stats(): { snapshots: number; tombstones: number; completedEpochs: ReadonlyArray<WorkerProgress> } {
    let snapshots = 0
    let tombstones = 0
    for (const log of this.versions.values()) {
      const counts = log.counts()
      snapshots += counts.snapshots
      tombstones += counts.deletions
    }
    const completedEpochs = [...this.progress].map(([workerIndex, epoch]) => ({ workerIndex, epoch }))
    return { snapshots, tombstones, completedEpochs }
  }
}

/** @internal */
export const makeHandle = (): MemoryHandle => new MemoryHandle()

/** @internal */
export const makeBackend = (handle: MemoryHandle): Backend => ({
  name: "memory",
  open: ({ workerCount, workerIndex }) =>
    Effect.sync((): BackendWorker => {
      let versions = handle.versions.get(workerIndex)
      if (versions === undefined) handle.versions.set(workerIndex, versions = new VersionLog({ keepValues: true }))
      const log = versions
      return {
        readMeta: Effect.sync(() => Option.fromNullable(handle.meta)),
        writeMeta: (meta) =>
          Effect.sync(() => {
            handle.meta = meta
          }),
        readProgress: Effect.sync(() => [...handle.progress].map(([w, epoch]) => ({ workerIndex: w, epoch }))),
        discardFrom: (epoch) =>
          Effect.sync(() => {
            const rewound = rewindProgress(handle.progress.get(workerIndex), epoch)
            if (rewound === undefined) handle.progress.delete(workerIndex)
            else handle.progress.set(workerIndex, rewound)
            if (log.newestEpoch < epoch) return
            // output records of redone epochs would otherwise show twice
            for (const [destination, records] of handle.outputs) {
              handle.outputs.set(destination, records.filter((r) => r.workerIndex !== workerIndex || r.epoch < epoch))
            }
            log.planDiscard(epoch).apply()
          }),
        reset: Effect.sync(() => {
          handle.meta = undefined
          handle.progress.delete(workerIndex)
          log.planReset().apply()
          // output records are delivered results: a reset for rescaling keeps them
        }),
        rescaleJournal: {
          read: Effect.sync(() => Option.fromNullable(handle.rescalePlan)),
          write: (plan) =>
            Effect.sync(() => {
              handle.rescalePlan = plan
            }),
          clear: Effect.sync(() => {
            handle.rescalePlan = undefined
          })
        },
        readSnapshots: (stepId, atOrBefore) =>
          Stream.suspend(() => Stream.fromIterable(log.snapshotsAt(stepId, atOrBefore) ?? [])),
        readKeys: (stepId, keys, atOrBefore) => Effect.sync(() => log.snapshotsOfKeys(stepId, keys, atOrBefore)),
        commit: (epoch, writes, outputs) =>
          Effect.sync(() => {
            // One synchronous mutation: nothing else can observe a half-applied epoch.
            for (const record of outputs) {
              let records = handle.outputs.get(record.destination)
              if (records === undefined) handle.outputs.set(record.destination, records = [])
              records.push({ ...record, epoch, workerIndex })
            }
            log.commit(epoch, writes, agreedEpoch(handle.progress, workerCount, { workerIndex, epoch }))
            handle.progress.set(workerIndex, epoch)
          })
      }
    })
})
