/**
 * The snapshot writes of one worker's epoch, as they travel to the
 * coordinator: keys as one string, values as one UTF-16 buffer, per run of
 * writes to the same step. Cloning an array of `{ stepId, key, value }`
 * objects costs the receiving thread an object and three strings per write;
 * this form costs it a few objects per epoch until the writes are committed.
 *
 * @internal
 */
import type { SnapshotWrite } from "@sluice/core/RecoveryStore"

/** @internal */
export interface EncodedWrites {
  /** The step of each run of consecutive writes. */
  readonly stepIds: ReadonlyArray<string>
  /** `Uint32Array`: the index one past each run's last write. */
  readonly runEnds: ArrayBuffer
  readonly keys: string
  /** `Uint32Array` of key lengths in UTF-16 code units. */
  readonly keyLengths: ArrayBuffer
  /** `Int32Array` of value lengths in UTF-16 code units; -1 is a tombstone. */
  readonly valueLengths: ArrayBuffer
  /** Every value's text, concatenated, as UTF-16LE: transferred rather than copied like a string. */
  readonly values: ArrayBuffer
}

/** Gathers an epoch's writes on a worker. @internal */
export class EpochWritesBuilder {
  private readonly stepIds: Array<string> = []
  private readonly runEnds: Array<number> = []
  private keys = ""
  private readonly keyLengths: Array<number> = []
  private readonly valueLengths: Array<number> = []
  private values = ""

  write(stepId: string, key: string, value: string | null): void {
    const last = this.stepIds.length - 1
    if (last < 0 || this.stepIds[last] !== stepId) {
      this.stepIds.push(stepId)
      this.runEnds.push(0)
    }
    this.runEnds[this.runEnds.length - 1] = this.keyLengths.length + 1
    this.keys += key
    this.keyLengths.push(key.length)
    if (value === null) this.valueLengths.push(-1)
    else {
      this.valueLengths.push(value.length)
      this.values += value
    }
  }

  /** The writes and the buffers to transfer with them. */
  finish(): { readonly writes: EncodedWrites; readonly transfer: ReadonlyArray<ArrayBuffer> } {
    // not Buffer.from: a small one shares Node's pool, which transferring would take from this thread
    const values = Buffer.alloc(this.values.length * 2)
    values.write(this.values, "utf16le")
    const runEnds = Uint32Array.from(this.runEnds).buffer
    const keyLengths = Uint32Array.from(this.keyLengths).buffer
    const valueLengths = Int32Array.from(this.valueLengths).buffer
    return {
      writes: { stepIds: this.stepIds, runEnds, keys: this.keys, keyLengths, valueLengths, values: values.buffer },
      transfer: [runEnds, keyLengths, valueLengths, values.buffer]
    }
  }
}

/**
 * The writes in the order they were made. Each value is a string decoded out
 * of the shared buffer, so a store that keeps it does not keep the epoch's buffer.
 *
 * @internal
 */
export const decode = (encoded: EncodedWrites): Array<SnapshotWrite> => {
  const runEnds = new Uint32Array(encoded.runEnds)
  const keyLengths = new Uint32Array(encoded.keyLengths)
  const valueLengths = new Int32Array(encoded.valueLengths)
  const values = Buffer.from(encoded.values)
  const writes = new Array<SnapshotWrite>(keyLengths.length)
  let run = 0
  let keyOffset = 0
  let valueOffset = 0
  for (let i = 0; i < keyLengths.length; i++) {
    while (i >= runEnds[run]) run++
    const key = encoded.keys.slice(keyOffset, keyOffset += keyLengths[i])
    const length = valueLengths[i]
    const value = length < 0 ? null : values.toString("utf16le", valueOffset * 2, (valueOffset + length) * 2)
    if (length > 0) valueOffset += length
    writes[i] = { stepId: encoded.stepIds[run], key, value }
  }
  return writes
}
