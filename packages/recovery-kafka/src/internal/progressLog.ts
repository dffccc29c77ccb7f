/**
 * The progress topic as one worker sees it: every worker's last completed
 * epoch, the workers retired by a rescale, the store meta, and the plan of a
 * rescale being applied. Each partition
 * is read from where the previous read stopped, so a refresh costs what was
 * written since.
 */
import { DataflowError, type RecoveryStore, StoreKit } from "@sluice/core"
import type { KafkaClient } from "@sluice/kafka"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import {
  decodeProgressKey,
  encodeValue,
  metaKey,
  progressKey,
  recordName,
  rescalePlanKey,
  retiredKey,
  valueOf
} from "./records.js"
import type { StoreErrors } from "./storeErrors.js"

/** Reads a partition of the progress topic from an offset to its end, and returns the end. @internal */
export type ReadProgressPartition = (
  partition: number,
  from: number | "start",
  apply: (record: KafkaClient.KafkaRecord) => DataflowError.RecoveryError | undefined
) => Effect.Effect<number, DataflowError.RecoveryError>

/** A record for the progress topic. @internal */
export interface ProgressRecord {
  readonly key: Buffer
  readonly value: Buffer | null
  readonly partition: number
}

/**
 * A plan goes in pieces: one record must stay under the broker's
 * `message.max.bytes` (1 MiB by default), and the transaction that writes
 * them all makes the plan visible whole or not at all.
 */
const PLAN_PIECE_BYTES = 256 * 1024

const piecesOf = (plan: Uint8Array | null): Array<Uint8Array> =>
  plan === null ? [] : Array.from(
    { length: Math.max(1, Math.ceil(plan.byteLength / PLAN_PIECE_BYTES)) },
    (_, piece) => plan.subarray(piece * PLAN_PIECE_BYTES, (piece + 1) * PLAN_PIECE_BYTES)
  )

/** @internal */
export class ProgressLog {
  private metaValue: RecoveryStore.StoreMeta | undefined
  private readonly progress = new Map<number, number>()
  /** Partitions whose worker was reset for a rescale. */
  private readonly retiredWorkers = new Set<number>()
  /** The pieces of a stored rescale plan, by index. */
  private readonly planPieces = new Map<number, Uint8Array>()
  /** Where the next read of each partition starts. */
  private readonly readFrom: Array<number | "start">
  /** Once loaded, this worker's own progress changes only by its own transactions, which it applies itself. */
  private ownLoaded = false

  constructor(
    private readonly options: {
      readonly workerIndex: number
      readonly partitions: number
      readonly read: ReadProgressPartition
      readonly errors: StoreErrors
    }
  ) {
    this.readFrom = Array.from({ length: options.partitions }, () => "start")
  }

  get meta(): RecoveryStore.StoreMeta | undefined {
    return this.metaValue
  }

  get retired(): ReadonlySet<number> {
    return this.retiredWorkers
  }

  /** The plan of a rescale being applied, as stored: its pieces in order. */
  get rescalePlan(): Uint8Array | undefined {
    if (this.planPieces.size === 0) return undefined
    const pieces = [...this.planPieces].sort(([a], [b]) => a - b).map(([, piece]) => piece)
    return Buffer.concat(pieces)
  }

  get completed(): ReadonlyMap<number, number> {
    return this.progress
  }

  /** Every worker's last completed epoch, as `readProgress` returns it. */
  get workers(): ReadonlyArray<RecoveryStore.WorkerProgress> {
    return [...this.progress].map(([workerIndex, epoch]) => ({ workerIndex, epoch }))
  }

  /** Reads what was written to `partitions` since the last read. */
  refresh(partitions: ReadonlyArray<number>): Effect.Effect<void, DataflowError.RecoveryError> {
    return Effect.forEach(partitions, (partition) =>
      Effect.map(
        this.options.read(partition, this.readFrom[partition] ?? "start", (record) => this.apply(record)),
        (end) => {
          this.readFrom[partition] = end
        }
      ), { discard: true })
  }

  /** From now on, this worker's progress is what it commits. */
  markOwnLoaded(): void {
    this.ownLoaded = true
  }

  /** Partitions added by growing the topic, read from their start. */
  grow(partitions: number): void {
    while (this.readFrom.length < partitions) this.readFrom.push("start")
  }

  /** Applies one record of a progress partition: the error it is, or `undefined`. */
  apply(record: KafkaClient.KafkaRecord): DataflowError.RecoveryError | undefined {
    const { errors, workerIndex } = this.options
    const key = decodeProgressKey(record.key)
    if (key === undefined) return errors.corrupt(`${recordName(record)} has a key sluice does not write`)
    const kind = key._tag === "Meta"
      ? "meta"
      : key._tag === "Retired"
      ? "retired"
      : key._tag === "RescalePlan"
      ? "plan"
      : "progress"
    const decoded = valueOf(record, [kind], errors)
    if (Either.isLeft(decoded)) return decoded.left
    const value = decoded.right
    switch (key._tag) {
      case "RescalePlan": {
        if (value === null) this.planPieces.delete(key.piece)
        else this.planPieces.set(key.piece, value.payload.slice())
        return undefined
      }
      case "Retired": {
        if (value === null) this.retiredWorkers.delete(key.workerIndex)
        else this.retiredWorkers.add(key.workerIndex)
        return undefined
      }
      case "Meta": {
        if (value === null) {
          this.metaValue = undefined
          return undefined
        }
        const meta = StoreKit.decodeStoreMeta(value.payload)
        if (Either.isLeft(meta)) {
          return errors.corrupt(`the store meta in ${recordName(record)} does not parse: ${meta.left}`)
        }
        this.metaValue = meta.right
        return undefined
      }
      case "Progress": {
        if (key.workerIndex === workerIndex && this.ownLoaded) return undefined
        if (value === null) {
          this.progress.delete(key.workerIndex)
          return undefined
        }
        const epoch = StoreKit.decodeProgress(value.payload)
        if (Either.isLeft(epoch)) {
          return errors.corrupt(`progress in ${recordName(record)} does not parse: ${epoch.left}`)
        }
        this.progress.set(key.workerIndex, epoch.right)
        return undefined
      }
    }
  }

  /** The epoch every worker has completed once this worker completes `epoch`. */
  agreedWith(epoch: number, workerCount: number): number {
    return StoreKit.agreedEpoch(this.progress, workerCount, { workerIndex: this.options.workerIndex, epoch })
  }

  /** This worker's progress record: `epoch` completed, or none for `epoch < 1`. */
  progressRecord(epoch: number): ProgressRecord {
    const { workerIndex } = this.options
    return {
      key: progressKey(workerIndex),
      value: epoch < 1 ? null : encodeValue("progress", StoreKit.encodeProgress(epoch)),
      partition: workerIndex
    }
  }

  /** Records that this worker completed `epoch` (or rewound to none, `undefined`), once its transaction committed. */
  setOwn(epoch: number | undefined): void {
    if (epoch === undefined) this.progress.delete(this.options.workerIndex)
    else this.progress.set(this.options.workerIndex, epoch)
  }

  metaRecord(meta: RecoveryStore.StoreMeta | null): ProgressRecord {
    return {
      key: metaKey(),
      value: meta === null ? null : encodeValue("meta", StoreKit.encodeStoreMeta(meta)),
      partition: 0
    }
  }

  setMeta(meta: RecoveryStore.StoreMeta | undefined): void {
    this.metaValue = meta
  }

  /**
   * The records that store `plan` in partition 0, replacing any stored one
   * (pieces beyond its own are deleted); with `null`, the records that
   * delete the stored plan.
   */
  rescalePlanRecords(plan: Uint8Array | null): Array<ProgressRecord> {
    const pieces = piecesOf(plan)
    const records: Array<ProgressRecord> = pieces.map((bytes, piece) => ({
      key: rescalePlanKey(piece),
      value: encodeValue("plan", bytes),
      partition: 0
    }))
    for (const piece of this.planPieces.keys()) {
      if (piece >= pieces.length) records.push({ key: rescalePlanKey(piece), value: null, partition: 0 })
    }
    return records
  }

  /** After the transaction of `rescalePlanRecords(plan)` committed. */
  setRescalePlan(plan: Uint8Array | null): void {
    this.planPieces.clear()
    piecesOf(plan).forEach((bytes, piece) => this.planPieces.set(piece, bytes))
  }

  /** What resetting this worker writes: no progress, the `retired` marker, and for worker 0 no meta. */
  resetRecords(): Array<ProgressRecord> {
    const { workerIndex } = this.options
    return [
      this.progressRecord(0),
      { key: retiredKey(workerIndex), value: encodeValue("retired"), partition: workerIndex },
      ...(workerIndex === 0 ? [this.metaRecord(null)] : [])
    ]
  }

  /** After the reset's transaction committed. */
  applyReset(): void {
    const { workerIndex } = this.options
    this.progress.delete(workerIndex)
    this.retiredWorkers.add(workerIndex)
    if (workerIndex === 0) this.metaValue = undefined
  }
}
