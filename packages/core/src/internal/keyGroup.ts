/**
 * Keys are hashed into a fixed number of key groups, and each worker owns a
 * contiguous range of groups (as Flink does). The group count never changes,
 * so a store written by `n` workers can be split for `m` by whole groups.
 *
 * @internal
 */
export const KEY_GROUPS = 128

/** FNV-1a over UTF-16 code units: fast, stable across processes and releases. @internal */
export const keyGroupOf = (key: string): number => {
  let hash = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return (hash >>> 0) % KEY_GROUPS
}

/** The worker that owns a key group. @internal */
export const ownerOfGroup = (group: number, workerCount: number): number =>
  Math.floor((group * workerCount) / KEY_GROUPS)

/** The worker that owns a key. @internal */
export const ownerOfKey = (key: string, workerCount: number): number => ownerOfGroup(keyGroupOf(key), workerCount)

/** Partition `p` of an input's partition list runs on worker `p mod n`. @internal */
export const ownsPartition = (partitionIndex: number, workerIndex: number, workerCount: number): boolean =>
  partitionIndex % workerCount === workerIndex
