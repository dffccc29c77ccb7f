/**
 * The epoch every worker agreed (R3, R6): what a resume starts after, and the
 * oldest epoch a resume can still go back to, so what collection must keep.
 */
import type { WorkerProgress } from "../../RecoveryStore.js"

/** Every worker's last completed epoch, as a list or as a map from worker index. Public through `StoreKit.ts`. */
export type ProgressView = ReadonlyArray<WorkerProgress> | ReadonlyMap<number, number>

const lastCompleted = (progress: ProgressView, workerIndex: number): number | undefined => {
  if (!Array.isArray(progress)) return (progress as ReadonlyMap<number, number>).get(workerIndex)
  for (const entry of progress as ReadonlyArray<WorkerProgress>) {
    if (entry.workerIndex === workerIndex) return entry.epoch
  }
  return undefined
}

/** Public through `StoreKit.ts`. */
export const agreedEpoch = (progress: ProgressView, workerCount: number, committing?: WorkerProgress): number => {
  let agreed = Infinity
  for (let workerIndex = 0; workerIndex < workerCount; workerIndex++) {
    // a worker that never completed an epoch agrees to none
    const epoch = committing !== undefined && committing.workerIndex === workerIndex
      ? committing.epoch
      : lastCompleted(progress, workerIndex) ?? 0
    if (epoch < agreed) agreed = epoch
  }
  return agreed === Infinity ? 0 : agreed
}

/** Public through `StoreKit.ts`. */
export const resumeEpoch = (progress: ProgressView, workerCount: number): number =>
  agreedEpoch(progress, workerCount) + 1

/** Public through `StoreKit.ts`. */
export const rewindProgress = (lastCompleted: number | undefined, from: number): number | undefined =>
  lastCompleted === undefined || lastCompleted < from ? lastCompleted : from <= 1 ? undefined : from - 1
