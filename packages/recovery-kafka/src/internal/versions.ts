import type { RecoveryStore } from "@sluice/core"
import {
  encodeHeld,
  encodeValue,
  heldKey,
  type HeldOutput,
  type StateKey,
  type ValueKind,
  versionKey
} from "./records.js"

/** One snapshot version of a key; every version in the index has a record in the state topic. */
interface Version {
  readonly epoch: number
  readonly deleted: boolean
  /** The snapshot bytes, kept from the resume read until the first commit. */
  value: Uint8Array | undefined
}

/** An output record held until every worker has completed its epoch. */
interface Held {
  readonly epoch: number
  readonly sequence: number
  readonly record: HeldOutput
}

/** A record for the worker's partition of the state topic; `null` deletes the key. @internal */
export interface StateRecord {
  readonly key: Buffer
  readonly value: Buffer | null
}

/** An output record to produce in the transaction, with the epoch that made it. @internal */
export interface ReleasedOutput {
  readonly epoch: number
  readonly record: RecoveryStore.OutputRecord
}

/** What one transaction writes, and how the index changes once it commits. @internal */
export interface Plan {
  readonly stateRecords: ReadonlyArray<StateRecord>
  readonly outputs: ReadonlyArray<ReleasedOutput>
  readonly apply: () => void
}

const heldId = (epoch: number, sequence: number) => `${epoch}/${sequence}`

/**
 * One worker's snapshot versions and held outputs, as its partition of the
 * state topic holds them: built by reading the partition on resume, then
 * kept in step with every transaction, so that a commit knows which records
 * to delete without reading Kafka.
 *
 * @internal
 */
export class VersionIndex {
  private readonly steps = new Map<string, Map<string, Array<Version>>>()
  /** Keys holding more than one version or a deletion marker: what collection (R6) may shrink. */
  private readonly collectable = new Map<string, Set<string>>()
  private readonly held = new Map<string, Held>()
  private valuesKept = true

  /** Applies a record of the state topic; records arrive in offset order. */
  load(key: StateKey, value: { readonly kind: ValueKind; readonly payload: Uint8Array } | HeldOutput | null): void {
    if (key._tag === "Held") {
      const id = heldId(key.epoch, key.sequence)
      if (value === null) this.held.delete(id)
      else if ("destination" in value) this.held.set(id, { epoch: key.epoch, sequence: key.sequence, record: value })
      return
    }
    const keys = this.keysOf(key.stepId)
    const versions = (keys.get(key.key) ?? []).filter((v) => v.epoch !== key.epoch)
    if (value !== null && !("destination" in value)) {
      insertByEpoch(versions, {
        epoch: key.epoch,
        deleted: value.kind === "deleted",
        value: value.kind === "deleted" ? undefined : value.payload.slice()
      })
    }
    this.setVersions(key.stepId, key.key, versions)
  }

  /**
   * The newest version of every key at or before `atOrBefore`, leaving out
   * deleted keys; `undefined` when a needed value is no longer kept in memory.
   */
  snapshotsAt(stepId: string, atOrBefore: number): ReadonlyArray<RecoveryStore.Snapshot> | undefined {
    const out: Array<RecoveryStore.Snapshot> = []
    for (const [key, versions] of this.steps.get(stepId) ?? []) {
      for (let i = versions.length - 1; i >= 0; i--) {
        const version = versions[i]
        if (version.epoch > atOrBefore) continue
        if (version.deleted) break
        if (version.value === undefined) return undefined
        out.push({ key, value: version.value })
        break
      }
    }
    return out
  }

  /** Frees the values read on resume: they served the resume, and commits make them stale. */
  forgetValues(): void {
    if (!this.valuesKept) return
    this.valuesKept = false
    for (const keys of this.steps.values()) {
      for (const versions of keys.values()) for (const version of versions) version.value = undefined
    }
  }

  get heldCount(): number {
    return this.held.size
  }

  /**
   * Epoch `epoch`'s transaction: its writes as new versions, tombstones for
   * versions collection drops, and its outputs — produced now when every
   * worker has completed `epoch` (`agreed >= epoch`), held in the state topic
   * otherwise. Held outputs of epochs now agreed are produced and deleted.
   *
   * Collection (R6), as in the memory store: a key keeps its newest version at
   * or before `agreed` (the epoch every worker completed, so the oldest epoch a
   * resume can go back to) and every newer one; a kept oldest version that is
   * a deletion goes too, since nothing older remains for it to hide.
   */
  planCommit(
    epoch: number,
    writes: ReadonlyArray<RecoveryStore.SnapshotWrite>,
    outputs: ReadonlyArray<RecoveryStore.OutputRecord>,
    agreed: number
  ): Plan {
    // the last write of a key in an epoch is the one that counts
    const written = new Map<string, Map<string, Uint8Array | null>>()
    for (const { key, stepId, value } of writes) {
      let keys = written.get(stepId)
      if (keys === undefined) written.set(stepId, keys = new Map())
      keys.delete(key)
      keys.set(key, value)
    }
    const stateRecords: Array<StateRecord> = []
    const changes: Array<readonly [string, string, Array<Version>]> = []
    const visit = (stepId: string, key: string, value: Uint8Array | null | undefined) => {
      const before = this.steps.get(stepId)?.get(key) ?? []
      const candidates = before.filter((v) => v.epoch !== epoch)
      if (value !== undefined) insertByEpoch(candidates, { epoch, deleted: value === null, value: undefined })
      const kept = collect(candidates, agreed)
      if (value !== undefined && kept.some((v) => v.epoch === epoch)) {
        stateRecords.push({
          key: versionKey(stepId, key, epoch),
          value: value === null ? encodeValue("deleted") : encodeValue("snapshot", value)
        })
      }
      for (const old of before) {
        if (!kept.some((v) => v.epoch === old.epoch)) {
          stateRecords.push({ key: versionKey(stepId, key, old.epoch), value: null })
        }
      }
      changes.push([stepId, key, kept])
    }
    for (const [stepId, keys] of written) for (const [key, value] of keys) visit(stepId, key, value)
    for (const [stepId, keys] of this.collectable) {
      for (const key of keys) if (written.get(stepId)?.has(key) !== true) visit(stepId, key, undefined)
    }

    const release = this.releasable(agreed)
    for (const held of release) stateRecords.push({ key: heldKey(held.epoch, held.sequence), value: null })
    const produced: Array<ReleasedOutput> = release.map(({ epoch, record }) => ({ epoch, record }))
    const holding: Array<Held> = []
    if (epoch <= agreed) {
      for (const record of outputs) produced.push({ epoch, record })
    } else {
      outputs.forEach((record, sequence) => {
        holding.push({ epoch, sequence, record })
        stateRecords.push({ key: heldKey(epoch, sequence), value: encodeValue("held", encodeHeld(record)) })
      })
    }
    return {
      stateRecords,
      outputs: produced,
      apply: () => {
        for (const [stepId, key, versions] of changes) this.setVersions(stepId, key, versions)
        for (const held of release) this.held.delete(heldId(held.epoch, held.sequence))
        for (const held of holding) this.held.set(heldId(held.epoch, held.sequence), held)
      }
    }
  }

  /** Held outputs of epochs every worker has completed, to produce (at shutdown, say). */
  planRelease(agreed: number): Plan {
    const release = this.releasable(agreed)
    return {
      stateRecords: release.map((held) => ({ key: heldKey(held.epoch, held.sequence), value: null })),
      outputs: release.map(({ epoch, record }) => ({ epoch, record })),
      apply: () => {
        for (const held of release) this.held.delete(heldId(held.epoch, held.sequence))
      }
    }
  }

  /** Deletes this worker's versions and held outputs of epochs `>= epoch`. */
  planDiscard(epoch: number): Plan {
    const stateRecords: Array<StateRecord> = []
    const changes: Array<readonly [string, string, Array<Version>]> = []
    for (const [stepId, keys] of this.steps) {
      for (const [key, versions] of keys) {
        const kept = versions.filter((v) => v.epoch < epoch)
        if (kept.length === versions.length) continue
        for (const version of versions) {
          if (version.epoch >= epoch) stateRecords.push({ key: versionKey(stepId, key, version.epoch), value: null })
        }
        changes.push([stepId, key, kept])
      }
    }
    const dropped = [...this.held.values()].filter((held) => held.epoch >= epoch)
    for (const held of dropped) stateRecords.push({ key: heldKey(held.epoch, held.sequence), value: null })
    return {
      stateRecords,
      outputs: [],
      apply: () => {
        for (const [stepId, key, versions] of changes) this.setVersions(stepId, key, versions)
        for (const held of dropped) this.held.delete(heldId(held.epoch, held.sequence))
      }
    }
  }

  /**
   * Deletes every version and held output of this worker, for a rescale that
   * rewrites the state under another worker count. Held outputs of epochs
   * every worker completed are produced first: they are results, not state.
   */
  planReset(agreed: number): Plan {
    const release = this.releasable(agreed)
    const stateRecords: Array<StateRecord> = []
    for (const [stepId, keys] of this.steps) {
      for (const [key, versions] of keys) {
        for (const version of versions) stateRecords.push({ key: versionKey(stepId, key, version.epoch), value: null })
      }
    }
    for (const held of this.held.values()) stateRecords.push({ key: heldKey(held.epoch, held.sequence), value: null })
    return {
      stateRecords,
      outputs: release.map(({ epoch, record }) => ({ epoch, record })),
      apply: () => {
        this.steps.clear()
        this.collectable.clear()
        this.held.clear()
      }
    }
  }

  private releasable(agreed: number): Array<Held> {
    return [...this.held.values()]
      .filter((held) => held.epoch <= agreed)
      .sort((a, b) => a.epoch - b.epoch || a.sequence - b.sequence)
  }

  private keysOf(stepId: string): Map<string, Array<Version>> {
    let keys = this.steps.get(stepId)
    if (keys === undefined) this.steps.set(stepId, keys = new Map())
    return keys
  }

  private setVersions(stepId: string, key: string, versions: Array<Version>): void {
    const keys = this.keysOf(stepId)
    if (versions.length === 0) keys.delete(key)
    else keys.set(key, versions)
    let collectable = this.collectable.get(stepId)
    if (versions.length > 1 || versions.some((v) => v.deleted)) {
      if (collectable === undefined) this.collectable.set(stepId, collectable = new Set())
      collectable.add(key)
    } else if (collectable !== undefined) {
      collectable.delete(key)
      if (collectable.size === 0) this.collectable.delete(stepId)
    }
  }
}

/** R6: the versions of a key that a resume at `agreed + 1` or later can still need. */
const collect = (versions: ReadonlyArray<Version>, agreed: number): Array<Version> => {
  let newestAgreed = -1
  for (let i = 0; i < versions.length; i++) if (versions[i].epoch <= agreed) newestAgreed = i
  const kept = newestAgreed > 0 ? versions.slice(newestAgreed) : [...versions]
  if (kept.length > 0 && kept[0].epoch <= agreed && kept[0].deleted) kept.shift()
  return kept
}

const insertByEpoch = (versions: Array<Version>, version: Version) => {
  let at = versions.length
  while (at > 0 && versions[at - 1].epoch > version.epoch) at--
  versions.splice(at, 0, version)
}
