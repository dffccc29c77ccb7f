/**
 * The records of a Kafka store.
 *
 * Two compacted topics, one partition per worker:
 *
 * - `<prefix>-progress`, partition `w`: `["progress", w]` → the last epoch
 *   worker `w` completed, and `["retired", w]` once worker `w` was reset for
 *   a rescale; partition 0 also holds `["meta"]` → the store meta.
 * - `<prefix>-state`, partition `w`: `["v", stepId, key, epoch]` → one snapshot
 *   version (a value, or a deletion marker), and `["o", epoch, sequence]` → an
 *   output record held until every worker has completed its epoch.
 *
 * Keys are JSON arrays: unambiguous for any step id and key, and readable in
 * `kafka-console-consumer`. Every version has its own record key, so
 * compaction never replaces a version a resume may still need; versions that
 * are no longer needed (R6) are deleted with tombstones (null values), which
 * compaction then drops.
 *
 * Values start with a header: the bytes `SLU`, the format version, and a kind
 * byte. A topic written by anything else fails to open as `StoreCorrupt`.
 *
 * @internal
 */
export const FORMAT_VERSION = 1

const MAGIC_0 = 0x53 // S
const MAGIC_1 = 0x4c // L
const MAGIC_2 = 0x55 // U
const HEADER_BYTES = 5

const kindCodes = {
  meta: 0x4d, // M
  progress: 0x50, // P
  snapshot: 0x53, // S
  deleted: 0x44, // D
  held: 0x4f, // O
  retired: 0x52 // R
} as const

/** @internal */
export type ValueKind = keyof typeof kindCodes

const kindsByCode = new Map<number, ValueKind>(
  (Object.entries(kindCodes) as Array<[ValueKind, number]>).map(([kind, code]) => [code, kind])
)

/** @internal */
export type ProgressKey =
  | { readonly _tag: "Meta" }
  | { readonly _tag: "Progress"; readonly workerIndex: number }
  /** The partition's worker was reset for a rescale: a smaller worker count may leave the partition unused. */
  | { readonly _tag: "Retired"; readonly workerIndex: number }

/** @internal */
export type StateKey =
  | { readonly _tag: "Version"; readonly stepId: string; readonly key: string; readonly epoch: number }
  | { readonly _tag: "Held"; readonly epoch: number; readonly sequence: number }

/** @internal */
export const metaKey = (): Buffer => Buffer.from(JSON.stringify(["meta"]))

/** @internal */
export const progressKey = (workerIndex: number): Buffer => Buffer.from(JSON.stringify(["progress", workerIndex]))

/** @internal */
export const retiredKey = (workerIndex: number): Buffer => Buffer.from(JSON.stringify(["retired", workerIndex]))

/** @internal */
export const versionKey = (stepId: string, key: string, epoch: number): Buffer =>
  Buffer.from(JSON.stringify(["v", stepId, key, epoch]))

/** @internal */
export const heldKey = (epoch: number, sequence: number): Buffer => Buffer.from(JSON.stringify(["o", epoch, sequence]))

const parseArray = (bytes: Uint8Array | null): ReadonlyArray<unknown> | undefined => {
  if (bytes === null) return undefined
  try {
    const parsed: unknown = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"))
    return Array.isArray(parsed) ? parsed : undefined
  } catch {
    return undefined
  }
}

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0

/** @internal */
export const decodeProgressKey = (bytes: Uint8Array | null): ProgressKey | undefined => {
  const parts = parseArray(bytes)
  if (parts === undefined) return undefined
  if (parts.length === 1 && parts[0] === "meta") return { _tag: "Meta" }
  if (parts.length === 2 && parts[0] === "progress" && isCount(parts[1])) {
    return { _tag: "Progress", workerIndex: parts[1] }
  }
  if (parts.length === 2 && parts[0] === "retired" && isCount(parts[1])) {
    return { _tag: "Retired", workerIndex: parts[1] }
  }
  return undefined
}

/** @internal */
export const decodeStateKey = (bytes: Uint8Array | null): StateKey | undefined => {
  const parts = parseArray(bytes)
  if (parts === undefined) return undefined
  if (
    parts.length === 4 && parts[0] === "v" && typeof parts[1] === "string" && typeof parts[2] === "string" &&
    isCount(parts[3])
  ) {
    return { _tag: "Version", stepId: parts[1], key: parts[2], epoch: parts[3] }
  }
  if (parts.length === 3 && parts[0] === "o" && isCount(parts[1]) && isCount(parts[2])) {
    return { _tag: "Held", epoch: parts[1], sequence: parts[2] }
  }
  return undefined
}

/** @internal */
export const encodeValue = (kind: ValueKind, payload?: Uint8Array): Buffer => {
  const out = Buffer.allocUnsafe(HEADER_BYTES + (payload?.byteLength ?? 0))
  out[0] = MAGIC_0
  out[1] = MAGIC_1
  out[2] = MAGIC_2
  out[3] = FORMAT_VERSION
  out[4] = kindCodes[kind]
  if (payload !== undefined) out.set(payload, HEADER_BYTES)
  return out
}

/** @internal */
export type DecodedValue =
  | { readonly _tag: "Value"; readonly kind: ValueKind; readonly payload: Uint8Array }
  | { readonly _tag: "Foreign" }
  | { readonly _tag: "NewerFormat"; readonly version: number }

/** @internal */
export const decodeValue = (bytes: Uint8Array): DecodedValue => {
  if (bytes.byteLength < HEADER_BYTES || bytes[0] !== MAGIC_0 || bytes[1] !== MAGIC_1 || bytes[2] !== MAGIC_2) {
    return { _tag: "Foreign" }
  }
  if (bytes[3] !== FORMAT_VERSION) {
    return bytes[3] > FORMAT_VERSION
      ? { _tag: "NewerFormat", version: bytes[3] }
      : { _tag: "Foreign" }
  }
  const kind = kindsByCode.get(bytes[4])
  return kind === undefined ? { _tag: "Foreign" } : { _tag: "Value", kind, payload: bytes.subarray(HEADER_BYTES) }
}

const utf8 = new TextEncoder()
const text = new TextDecoder("utf-8", { fatal: true })

/** @internal */
export const encodeJson = (value: unknown): Uint8Array => utf8.encode(JSON.stringify(value))

/** @internal */
export const decodeJson = (payload: Uint8Array): unknown => {
  try {
    return JSON.parse(text.decode(payload))
  } catch {
    return undefined
  }
}

/** A held output record: where it goes, its key and its value. @internal */
export interface HeldOutput {
  readonly destination: string
  readonly key: Uint8Array | null
  readonly value: Uint8Array
}

/**
 * `[u32 destination length][destination][i32 key length, -1 for none][key][value]`.
 *
 * @internal
 */
export const encodeHeld = (record: HeldOutput): Uint8Array => {
  const destination = utf8.encode(record.destination)
  const keyLength = record.key === null ? 0 : record.key.byteLength
  const out = Buffer.allocUnsafe(8 + destination.byteLength + keyLength + record.value.byteLength)
  let at = out.writeUInt32BE(destination.byteLength, 0)
  out.set(destination, at)
  at += destination.byteLength
  at = out.writeInt32BE(record.key === null ? -1 : keyLength, at)
  if (record.key !== null) out.set(record.key, at)
  at += keyLength
  out.set(record.value, at)
  return out
}

/** @internal */
export const decodeHeld = (payload: Uint8Array): HeldOutput | undefined => {
  const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
  if (bytes.byteLength < 8) return undefined
  const destinationLength = bytes.readUInt32BE(0)
  if (4 + destinationLength + 4 > bytes.byteLength) return undefined
  const destination = bytes.subarray(4, 4 + destinationLength).toString("utf8")
  let at = 4 + destinationLength
  const keyLength = bytes.readInt32BE(at)
  at += 4
  if (keyLength < -1 || at + Math.max(keyLength, 0) > bytes.byteLength) return undefined
  const key = keyLength === -1 ? null : Uint8Array.from(bytes.subarray(at, at + keyLength))
  at += Math.max(keyLength, 0)
  return { destination, key, value: Uint8Array.from(bytes.subarray(at)) }
}
