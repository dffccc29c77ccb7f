/**
 * R6 for a store that indexes every snapshot version of a key: which versions
 * an epoch's commit adds, which ones it collects, and what a discard or a
 * reset drops. The memory store holds its data in this log; the Kafka store
 * holds the index of its state partition here and writes a record per change.
 */
import type { Snapshot, SnapshotWrite } from "../../RecoveryStore.js"

/** Public through `StoreKit.ts`. */
export interface Version {
  readonly epoch: number
  /** A deletion marker: the key had no live snapshot as of this epoch. */
  readonly deleted: boolean
  /** The snapshot text, when the log keeps it. */
  value: string | undefined
}

/** Public through `StoreKit.ts`. */
export interface VersionRef {
  readonly stepId: string
  readonly key: string
  readonly epoch: number
}

/** Public through `StoreKit.ts`. */
export interface VersionPlan {
  /** Versions to store: a snapshot, or a deletion marker (`value: null`). */
  readonly written: ReadonlyArray<VersionRef & { readonly value: string | null }>
  /** Versions to delete. */
  readonly dropped: ReadonlyArray<VersionRef>
  /** Makes the log show the plan; call it once the store has done the writes. */
  readonly apply: () => void
}

/** Public through `StoreKit.ts`. */
export const collectVersions = <V extends Pick<Version, "epoch" | "deleted">>(
  versions: ReadonlyArray<V>,
  agreed: number
): Array<V> => {
  let newestAgreed = -1
  for (let i = 0; i < versions.length; i++) if (versions[i].epoch <= agreed) newestAgreed = i
  const kept = newestAgreed > 0 ? versions.slice(newestAgreed) : [...versions]
  // nothing older remains for a deletion marker to hide
  if (kept.length > 0 && kept[0].epoch <= agreed && kept[0].deleted) kept.shift()
  return kept
}

/** Whether `collectVersions(versions, agreed)` drops anything, without building its result. */
const needsCollection = (versions: ReadonlyArray<Version>, agreed: number): boolean =>
  (versions.length > 1 && versions[1].epoch <= agreed) ||
  (versions.length > 0 && versions[0].epoch <= agreed && versions[0].deleted)

const insertByEpoch = (versions: Array<Version>, version: Version) => {
  let at = versions.length
  while (at > 0 && versions[at - 1].epoch > version.epoch) at--
  versions.splice(at, 0, version)
}

/**
 * A key's versions as the log holds them: most keys have one, held without an
 * array around it. On a resume of 1M keys that is a million arrays fewer to
 * build and for the collector to trace (bench/PROFILE.md, session 9).
 */
type Held = Version | Array<Version>

const versionsOf = (held: Held | undefined): Array<Version> | undefined =>
  held === undefined ? undefined : Array.isArray(held) ? held : [held]

function* liveSnapshots(keys: ReadonlyMap<string, Held>, atOrBefore: number): Generator<Snapshot> {
  for (const [key, held] of keys) {
    const version = liveVersion(held, atOrBefore)
    if (version === undefined) continue
    if (version.value === undefined) throw new Error(`the version log has no text for ${key}@${version.epoch}`)
    yield { key, value: version.value }
  }
}

/** The newest version at or before `atOrBefore`, unless it is a deletion marker. */
const liveVersion = (versions: Held, atOrBefore: number): Version | undefined => {
  if (!Array.isArray(versions)) return versions.epoch > atOrBefore || versions.deleted ? undefined : versions
  for (let i = versions.length - 1; i >= 0; i--) {
    const version = versions[i]
    if (version.epoch > atOrBefore) continue
    return version.deleted ? undefined : version
  }
  return undefined
}

type Change = readonly [stepId: string, key: string, versions: Array<Version>]

/** Public through `StoreKit.ts`. */
export class VersionLog {
  private readonly steps = new Map<string, Map<string, Held>>()
  /** Keys holding more than one version or a deletion marker: what collection may shrink. */
  private readonly collectable = new Map<string, Set<string>>()
  private newest = 0
  private valuesKept = true
  /** Whether every version holds its snapshot's text: not once values were forgotten or not kept. */
  private valuesComplete = true
  private readonly keepValues: boolean

  constructor(options: { readonly keepValues: boolean }) {
    this.keepValues = options.keepValues
  }

  get newestEpoch(): number {
    return this.newest
  }

  load(ref: VersionRef, value: string | null): void {
    const keys = this.keysOf(ref.stepId)
    const before = keys.get(ref.key)
    const version: Version = { epoch: ref.epoch, deleted: value === null, value: value ?? undefined }
    if (before === undefined && value !== null) {
      // a key's first version, the common case of a resume (one call per record of a partition): a key
      // without versions is in no collectable set, and one snapshot does not put it there
      keys.set(ref.key, version)
    } else {
      const versions = before === undefined ? [] : versionsOf(before)!.filter((v) => v.epoch !== ref.epoch)
      insertByEpoch(versions, version)
      this.setIn(keys, ref.stepId, ref.key, versions)
    }
    if (ref.epoch > this.newest) this.newest = ref.epoch
  }

  unload(ref: VersionRef): void {
    const versions = versionsOf(this.steps.get(ref.stepId)?.get(ref.key))
    if (versions === undefined) return
    this.setVersions(ref.stepId, ref.key, versions.filter((v) => v.epoch !== ref.epoch))
  }

  /** The steps with versions in the log, for a read-only view of the store. */
  stepIds(): ReadonlyArray<string> {
    return [...this.steps.keys()]
  }

  /**
   * Every live snapshot of the step at `atOrBefore`, read as it is iterated
   * (a resume of 1M keys made them all at once before; now each is garbage
   * as soon as the operator has it); `undefined` once the log has forgotten
   * values. Iterate it before the log changes.
   */
  snapshotsAt(stepId: string, atOrBefore: number): Iterable<Snapshot> | undefined {
    const keys = this.steps.get(stepId)
    if (keys === undefined) return []
    if (!this.valuesComplete) return undefined
    return liveSnapshots(keys, atOrBefore)
  }

  /**
   * The newest value at or before `atOrBefore` of each of `keys` that has one;
   * keys without are left out. Only a log that keeps values can answer.
   */
  snapshotsOfKeys(stepId: string, keys: ReadonlyArray<string>, atOrBefore: number): ReadonlyArray<Snapshot> {
    const out: Array<Snapshot> = []
    const heldOf = this.steps.get(stepId)
    if (heldOf === undefined) return out
    for (const key of keys) {
      const held = heldOf.get(key)
      const value = held === undefined ? undefined : liveVersion(held, atOrBefore)?.value
      if (value !== undefined) out.push({ key, value })
    }
    return out
  }

  forgetValues(): void {
    if (this.keepValues || !this.valuesKept) return
    this.valuesKept = false
    this.valuesComplete = false
    for (const keys of this.steps.values()) {
      for (const held of keys.values()) {
        if (Array.isArray(held)) { for (const version of held) version.value = undefined }
        else held.value = undefined
      }
    }
  }

  counts(): { readonly snapshots: number; readonly deletions: number } {
    let snapshots = 0
    let deletions = 0
    for (const keys of this.steps.values()) {
      for (const held of keys.values()) {
        for (const version of versionsOf(held)!) {
          if (version.deleted) deletions++
          else snapshots++
        }
      }
    }
    return { snapshots, deletions }
  }

  planCommit(epoch: number, writes: ReadonlyArray<SnapshotWrite>, agreed: number): VersionPlan {
    // the last write of a key in an epoch is the one that counts
    const byStep = new Map<string, Map<string, string | null>>()
    let stepId: string | undefined
    let keys: Map<string, string | null> | undefined
    for (let i = 0; i < writes.length; i++) {
      const write = writes[i]
      if (write.stepId !== stepId || keys === undefined) {
        stepId = write.stepId
        keys = byStep.get(stepId)
        if (keys === undefined) byStep.set(stepId, keys = new Map())
      }
      if (keys.has(write.key)) keys.delete(write.key)
      keys.set(write.key, write.value)
    }
    const written: Array<VersionRef & { readonly value: string | null }> = []
    const dropped: Array<VersionRef> = []
    const changes: Array<Change> = []
    const visit = (stepId: string, key: string, value: string | null | undefined) => {
      const before = versionsOf(this.steps.get(stepId)?.get(key))
      const kept = this.nextVersions(before, epoch, value, agreed)
      if (value !== undefined && kept.some((v) => v.epoch === epoch)) written.push({ stepId, key, epoch, value })
      for (const old of before ?? []) {
        if (!kept.some((v) => v.epoch === old.epoch)) dropped.push({ stepId, key, epoch: old.epoch })
      }
      changes.push([stepId, key, kept])
    }
    for (const [stepId, keys] of byStep) for (const [key, value] of keys) visit(stepId, key, value)
    for (const [stepId, keys] of this.collectable) {
      const writtenKeys = byStep.get(stepId)
      for (const key of keys) if (writtenKeys?.has(key) !== true) visit(stepId, key, undefined)
    }
    return {
      written,
      dropped,
      apply: () => {
        for (const [stepId, key, versions] of changes) this.setVersions(stepId, key, versions)
        if (epoch > this.newest) this.newest = epoch
      }
    }
  }

  /**
   * `planCommit(epoch, writes, agreed).apply()` without the plan, for a store
   * whose data is the log: writes apply in order, so the last write of a key
   * counts without first gathering the epoch's keys.
   */
  commit(epoch: number, writes: ReadonlyArray<SnapshotWrite>, agreed: number): void {
    let stepId: string | undefined
    let keys: Map<string, Held> | undefined
    for (let i = 0; i < writes.length; i++) {
      const write = writes[i]
      // writes come grouped by step: look the step up once per group
      if (write.stepId !== stepId || keys === undefined) keys = this.keysOf(stepId = write.stepId)
      this.setIn(
        keys,
        stepId,
        write.key,
        this.nextVersions(versionsOf(keys.get(write.key)), epoch, write.value, agreed)
      )
    }
    for (const [stepId, keys] of this.collectable) {
      const versionsByKey = this.steps.get(stepId)
      for (const key of keys) {
        const versions = versionsOf(versionsByKey?.get(key))
        if (versions !== undefined && needsCollection(versions, agreed)) {
          this.setVersions(stepId, key, collectVersions(versions, agreed))
        }
      }
    }
    if (epoch > this.newest) this.newest = epoch
  }

  planDiscard(from: number): VersionPlan {
    const dropped: Array<VersionRef> = []
    const changes: Array<Change> = []
    // a resume with nothing to discard must not cost a pass over every key (R14)
    if (this.newest >= from) {
      for (const [stepId, keys] of this.steps) {
        for (const [key, held] of keys) {
          const versions = versionsOf(held)!
          const kept = versions.filter((v) => v.epoch < from)
          if (kept.length === versions.length) continue
          for (const version of versions) if (version.epoch >= from) dropped.push({ stepId, key, epoch: version.epoch })
          changes.push([stepId, key, kept])
        }
      }
    }
    return {
      written: [],
      dropped,
      apply: () => {
        for (const [stepId, key, versions] of changes) this.setVersions(stepId, key, versions)
        if (this.newest >= from) this.newest = from - 1
      }
    }
  }

  planReset(): VersionPlan {
    const dropped: Array<VersionRef> = []
    for (const [stepId, keys] of this.steps) {
      for (const [key, held] of keys) for (const { epoch } of versionsOf(held)!) dropped.push({ stepId, key, epoch })
    }
    return {
      written: [],
      dropped,
      apply: () => {
        this.steps.clear()
        this.collectable.clear()
        this.newest = 0
      }
    }
  }

  /** A key's versions once `epoch` writes `value` (`undefined`: no write, collection only), after R6. */
  private nextVersions(
    before: ReadonlyArray<Version> | undefined,
    epoch: number,
    value: string | null | undefined,
    agreed: number
  ): Array<Version> {
    const newest = before === undefined || before.length === 0 ? undefined : before[before.length - 1]
    if (value !== undefined && (newest === undefined || newest.epoch < epoch)) {
      // the common cases, without the general merge: an epoch every worker has
      // completed leaves only its own write; otherwise the write goes after the
      // versions collection keeps, which it does not change
      if (epoch <= agreed) return value === null ? [] : [this.versionOf(epoch, value)]
      const kept = newest === undefined
        ? []
        : needsCollection(before!, agreed)
        ? collectVersions(before!, agreed)
        : [...before!]
      kept.push(this.versionOf(epoch, value))
      return kept
    }
    if (value === undefined) return collectVersions(before ?? [], agreed)
    // a second write of the key in the same epoch replaces the first
    const candidates = before === undefined ? [] : before.filter((v) => v.epoch !== epoch)
    insertByEpoch(candidates, this.versionOf(epoch, value))
    return collectVersions(candidates, agreed)
  }

  private versionOf(epoch: number, value: string | null): Version {
    if (value === null) return { epoch, deleted: true, value: undefined }
    if (!this.keepValues) this.valuesComplete = false
    return { epoch, deleted: false, value: this.keepValues ? value : undefined }
  }

  private keysOf(stepId: string): Map<string, Held> {
    let keys = this.steps.get(stepId)
    if (keys === undefined) this.steps.set(stepId, keys = new Map())
    return keys
  }

  private setVersions(stepId: string, key: string, versions: Array<Version>): void {
    this.setIn(this.keysOf(stepId), stepId, key, versions)
  }

  private setIn(keys: Map<string, Held>, stepId: string, key: string, versions: Array<Version>): void {
    if (versions.length === 0) keys.delete(key)
    else keys.set(key, versions.length === 1 ? versions[0] : versions)
    if (versions.length > 1 || (versions.length === 1 && versions[0].deleted)) {
      let collectable = this.collectable.get(stepId)
      if (collectable === undefined) this.collectable.set(stepId, collectable = new Set())
      collectable.add(key)
    } else if (this.collectable.size > 0) {
      const collectable = this.collectable.get(stepId)
      if (collectable !== undefined && collectable.delete(key) && collectable.size === 0) {
        this.collectable.delete(stepId)
      }
    }
  }
}
