/**
 * R6 for a store that keeps live snapshots in a table, one row per key, and
 * the writes of epochs not every worker has completed apart from it, by epoch
 * (the SQLite store's `sluice_pending_snapshots`).
 */

/** Public through `StoreKit.ts`. */
export interface PendingCommit {
  readonly direct: boolean
  readonly due: ReadonlyArray<number>
  readonly pending: ReadonlyArray<number>
}

/** Public through `StoreKit.ts`. */
export const dueEpochs = (pending: ReadonlyArray<number>, agreed: number): ReadonlyArray<number> =>
  pending.filter((epoch) => epoch <= agreed)

/** Public through `StoreKit.ts`. */
export const planPendingCommit = (options: {
  readonly pending: ReadonlyArray<number>
  readonly epoch: number
  readonly agreed: number
  readonly writes: number
}): PendingCommit => {
  const { agreed, epoch, pending, writes } = options
  const direct = epoch <= agreed
  return {
    direct,
    due: dueEpochs(pending, agreed),
    pending: [...pending.filter((e) => e > agreed), ...(direct || writes === 0 ? [] : [epoch])]
  }
}
