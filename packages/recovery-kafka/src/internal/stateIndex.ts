/**
 * One worker's partition of the state topic, indexed in memory: its snapshot
 * versions (a `StoreKit.VersionLog`, which plans collection, R6) and its held
 * output records. Built by reading the partition on resume, then kept in step
 * with every transaction, so that a commit knows which records to write and
 * which to delete without reading Kafka.
 */
import { type RecoveryStore, StoreKit } from "@sluice/core"
import type { KafkaClient } from "@sluice/kafka"
import * as Either from "effect/Either"
import {
  decodeHeld,
  decodeStateKey,
  encodeHeld,
  encodeValue,
  heldKey,
  type HeldOutput,
  payloadText,
  recordName,
  valueOf,
  versionKey
} from "./records.js"
import type { StoreErrors } from "./storeErrors.js"
import { readPartition, type Topics } from "./topics.js"

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

const versionRecords = (plan: StoreKit.VersionPlan): Array<StateRecord> => {
  const records: Array<StateRecord> = []
  for (const { epoch, key, stepId, value } of plan.written) {
    records.push({
      key: versionKey(stepId, key, epoch),
      value: value === null ? encodeValue("deleted") : encodeValue("snapshot", value)
    })
  }
  for (const { epoch, key, stepId } of plan.dropped) records.push({ key: versionKey(stepId, key, epoch), value: null })
  return records
}

/** @internal */
export class StateIndex {
  /** The values read on resume serve the resume; commits make them stale, so the log forgets them. */
  readonly versions = new StoreKit.VersionLog({ keepValues: false })
  private readonly held = new Map<string, Held>()

  get heldCount(): number {
    return this.held.size
  }

  /** The epoch and destination of every held output record, for a read-only view of the store. */
  heldOutputs(): ReadonlyArray<{ readonly epoch: number; readonly destination: string }> {
    return [...this.held.values()].map(({ epoch, record }) => ({ epoch, destination: record.destination }))
  }

  /** Applies a version record of the state topic; records arrive in offset order. */
  loadVersion(ref: StoreKit.VersionRef, value: { readonly deleted: boolean; readonly payload: Uint8Array } | null) {
    if (value === null) this.versions.unload(ref)
    else this.versions.load(ref, value.deleted ? null : payloadText(value.payload))
  }

  /** Applies a held-output record of the state topic. */
  loadHeld(epoch: number, sequence: number, record: HeldOutput | null): void {
    if (record === null) this.held.delete(heldId(epoch, sequence))
    else this.held.set(heldId(epoch, sequence), { epoch, sequence, record })
  }

  /**
   * Epoch `epoch`'s transaction: the version records of its writes and of
   * what collection drops, and its outputs — produced now when every worker
   * has completed `epoch` (`agreed >= epoch`), held in the state topic
   * otherwise. Held outputs of epochs now agreed are produced and deleted.
   */
  planCommit(
    epoch: number,
    writes: ReadonlyArray<RecoveryStore.SnapshotWrite>,
    outputs: ReadonlyArray<RecoveryStore.OutputRecord>,
    agreed: number
  ): Plan {
    const versions = this.versions.planCommit(epoch, writes, agreed)
    const release = this.planRelease(agreed)
    const stateRecords = [...versionRecords(versions), ...release.stateRecords]
    const produced = [...release.outputs]
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
        versions.apply()
        release.apply()
        for (const held of holding) this.held.set(heldId(held.epoch, held.sequence), held)
        this.versions.forgetValues()
      }
    }
  }

  /** Held outputs of epochs every worker has completed, to produce (at shutdown, say). */
  planRelease(agreed: number): Plan {
    const release = [...this.held.values()]
      .filter((held) => held.epoch <= agreed)
      .sort((a, b) => a.epoch - b.epoch || a.sequence - b.sequence)
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
    const versions = this.versions.planDiscard(epoch)
    const dropped = [...this.held.values()].filter((held) => held.epoch >= epoch)
    return {
      stateRecords: [
        ...versionRecords(versions),
        ...dropped.map((held) => ({ key: heldKey(held.epoch, held.sequence), value: null }))
      ],
      outputs: [],
      apply: () => {
        versions.apply()
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
    const versions = this.versions.planReset()
    const release = this.planRelease(agreed)
    return {
      stateRecords: [
        ...versionRecords(versions),
        ...[...this.held.values()].map((held) => ({ key: heldKey(held.epoch, held.sequence), value: null }))
      ],
      outputs: release.outputs,
      apply: () => {
        versions.apply()
        this.held.clear()
      }
    }
  }
}

/**
 * Reads one worker's partition of the state topic into an index: its
 * snapshot versions and held output records.
 *
 * @internal
 */
export const loadStatePartition = (
  client: KafkaClient.KafkaClient,
  errors: StoreErrors,
  topics: Topics,
  partition: number,
  into: StateIndex
) =>
  readPartition(client, errors, { topic: topics.state, partition, from: "start" }, (record) => {
    const key = decodeStateKey(record.key)
    if (key === undefined) return errors.corrupt(`${recordName(record)} has a key sluice does not write`)
    if (key._tag === "Version") {
      const value = valueOf(record, ["snapshot", "deleted"], errors)
      if (Either.isLeft(value)) return value.left
      into.loadVersion(
        key,
        value.right === null ? null : { deleted: value.right.kind === "deleted", payload: value.right.payload }
      )
      return undefined
    }
    const value = valueOf(record, ["held"], errors)
    if (Either.isLeft(value)) return value.left
    const held = value.right === null ? null : decodeHeld(value.right.payload)
    if (held === undefined) return errors.corrupt(`held output ${recordName(record)} does not parse`)
    into.loadHeld(key.epoch, key.sequence, held)
    return undefined
  })
