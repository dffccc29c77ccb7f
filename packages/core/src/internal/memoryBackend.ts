import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { Backend, BackendWorker, OutputRecord, Snapshot, StoreMeta, WorkerProgress } from "../RecoveryStore.js"

interface Version {
  readonly epoch: number
  readonly value: Uint8Array | null
}

/** Per worker: step id → key → versions, oldest first. */
type WorkerSnapshots = Map<string, Map<string, Array<Version>>>

/** In-memory store data; public through `RecoveryStore.MemoryHandle`. */
export class MemoryHandle {
  meta: StoreMeta | undefined = undefined
  readonly progress = new Map<number, number>()
  readonly snapshots = new Map<number, WorkerSnapshots>()
  /** Keys that may hold versions GC can drop, per worker. */
  readonly collectable = new Map<number, Map<string, Set<string>>>()
  /** The newest epoch each worker wrote, so that a resume with nothing to discard costs nothing. */
  readonly newestWrite = new Map<number, number>()
  /** Transactional output records per destination, in commit order. */
  readonly outputs = new Map<string, Array<OutputRecord & { readonly epoch: number; readonly workerIndex: number }>>()

  /** Counts what the store holds, for tests of R6. */
  stats(): { snapshots: number; tombstones: number; completedEpochs: ReadonlyArray<WorkerProgress> } {
    let snapshots = 0
    let tombstones = 0
    for (const steps of this.snapshots.values()) {
      for (const keys of steps.values()) {
        for (const versions of keys.values()) {
          for (const version of versions) {
            if (version.value === null) tombstones++
            else snapshots++
          }
        }
      }
    }
    const completedEpochs = [...this.progress].map(([workerIndex, epoch]) => ({ workerIndex, epoch }))
    return { snapshots, tombstones, completedEpochs }
  }
}

/** @internal */
export const makeHandle = (): MemoryHandle => new MemoryHandle()

const getOrCreate = <K, V>(map: Map<K, V>, key: K, make: () => V): V => {
  let value = map.get(key)
  if (value === undefined) {
    value = make()
    map.set(key, value)
  }
  return value
}

/** @internal */
export const makeBackend = (handle: MemoryHandle): Backend => ({
  name: "memory",
  open: ({ workerIndex, workerCount }) =>
    Effect.sync((): BackendWorker => {
      const steps: WorkerSnapshots = getOrCreate(handle.snapshots, workerIndex, (): WorkerSnapshots => new Map())
      const collectable = getOrCreate(handle.collectable, workerIndex, () => new Map<string, Set<string>>())

      // R6: a version is needed only while it is the newest at or before the
      // epoch every worker has completed, or newer than that epoch.
      const collect = () => {
        let agreed = Infinity
        for (let w = 0; w < workerCount; w++) agreed = Math.min(agreed, handle.progress.get(w) ?? 0)
        for (const [stepId, keys] of collectable) {
          const versionsByKey = steps.get(stepId)
          if (versionsByKey === undefined) continue
          for (const key of keys) {
            const versions = versionsByKey.get(key)
            if (versions === undefined) {
              keys.delete(key)
              continue
            }
            let newestAgreed = -1
            for (let i = 0; i < versions.length; i++) if (versions[i].epoch <= agreed) newestAgreed = i
            if (newestAgreed > 0) versions.splice(0, newestAgreed)
            if (versions.length > 0 && versions[0].epoch <= agreed && versions[0].value === null) versions.shift()
            if (versions.length === 0) versionsByKey.delete(key)
            if (versions.length <= 1 && (versions.length === 0 || versions[0].value !== null)) keys.delete(key)
          }
        }
      }

      return {
        readMeta: Effect.sync(() => Option.fromNullable(handle.meta)),
        writeMeta: (meta) =>
          Effect.sync(() => {
            handle.meta = meta
          }),
        readProgress: Effect.sync(() => [...handle.progress].map(([w, epoch]) => ({ workerIndex: w, epoch }))),
        discardFrom: (epoch) =>
          Effect.sync(() => {
            const done = handle.progress.get(workerIndex)
            if (done !== undefined && done >= epoch) {
              if (epoch <= 1) handle.progress.delete(workerIndex)
              else handle.progress.set(workerIndex, epoch - 1)
            }
            if ((handle.newestWrite.get(workerIndex) ?? 0) < epoch) return
            handle.newestWrite.set(workerIndex, epoch - 1)
            // output records of redone epochs would otherwise show twice
            for (const [destination, records] of handle.outputs) {
              handle.outputs.set(destination, records.filter((r) => r.workerIndex !== workerIndex || r.epoch < epoch))
            }
            for (const keys of steps.values()) {
              for (const [key, versions] of keys) {
                const kept = versions.filter((v) => v.epoch < epoch)
                if (kept.length === 0) keys.delete(key)
                else keys.set(key, kept)
              }
            }
          }),
        reset: Effect.sync(() => {
          handle.meta = undefined
          handle.progress.delete(workerIndex)
          handle.newestWrite.delete(workerIndex)
          steps.clear()
          collectable.clear()
          // output records are delivered results: a reset for rescaling keeps them
        }),
        readSnapshots: (stepId, atOrBefore) =>
          Stream.suspend(() => {
            const out: Array<Snapshot> = []
            const keys = steps.get(stepId)
            if (keys !== undefined) {
              for (const [key, versions] of keys) {
                for (let i = versions.length - 1; i >= 0; i--) {
                  const version = versions[i]
                  if (version.epoch <= atOrBefore) {
                    if (version.value !== null) out.push({ key, value: version.value })
                    break
                  }
                }
              }
            }
            return Stream.fromIterable(out)
          }),
        commit: (epoch, writes, outputs) =>
          Effect.sync(() => {
            for (const record of outputs) {
              getOrCreate(handle.outputs, record.destination, () => []).push({ ...record, epoch, workerIndex })
            }
            // Once this epoch commits, is it one every worker has completed? Then
            // its writes are the newest agreed versions of their keys and
            // replace the older ones at once, as collection would (R6).
            let agreed = epoch
            for (let w = 0; w < workerCount; w++) {
              if (w !== workerIndex) agreed = Math.min(agreed, handle.progress.get(w) ?? 0)
            }
            const direct = epoch <= agreed
            // One synchronous mutation: nothing else can observe a half-applied epoch.
            let stepId: string | undefined
            let keys: Map<string, Array<Version>> | undefined
            for (let i = 0; i < writes.length; i++) {
              const write = writes[i]
              if (write.stepId !== stepId || keys === undefined) {
                stepId = write.stepId
                keys = steps.get(stepId)
                if (keys === undefined) {
                  keys = new Map()
                  steps.set(stepId, keys)
                }
              }
              const { key, value } = write
              const versions = keys.get(key)
              if (direct) {
                if (value === null) keys.delete(key)
                else if (versions !== undefined && versions.length === 1) versions[0] = { epoch, value }
                else keys.set(key, [{ epoch, value }])
                continue
              }
              if (versions === undefined) {
                keys.set(key, [{ epoch, value }])
                if (value === null) getOrCreate(collectable, stepId, () => new Set()).add(key)
                continue
              }
              const last = versions[versions.length - 1]
              if (last !== undefined && last.epoch === epoch) versions[versions.length - 1] = { epoch, value }
              else versions.push({ epoch, value })
              if (versions.length > 1 || value === null) {
                getOrCreate(collectable, stepId, () => new Set()).add(key)
              }
            }
            handle.progress.set(workerIndex, epoch)
            handle.newestWrite.set(workerIndex, Math.max(epoch, handle.newestWrite.get(workerIndex) ?? 0))
            if (collectable.size > 0) collect()
          })
      }
    })
})
