/**
 * The records of a Kafka store.
 *
 * Two compacted topics, one partition per worker:
 *
 * - `<prefix>-progress`, partition `w`: `["progress", w]` → the last epoch
 *   worker `w` completed, and `["retired", w]` once worker `w` was reset for
 *   a rescale; partition 0 also holds `["meta"]` → the store meta, and while
 *   a rescale is applied `["rescale", i]` → the `i`-th piece of its plan.
 * - `<prefix>-state`, partition `w`: `["v", stepId, key, epoch]` → one snapshot
 *   version (a value, or a deletion marker), and `["o", epoch, sequence]` → an
 *   output record held until every worker has completed its epoch.
 *
 * Keys are JSON arrays, decoded with `Schema`: unambiguous for any step id and
 * key, and readable in `kafka-console-consumer`. Every version has its own record key, so
 * compaction never replaces a version a resume may still need; versions that
 * are no longer needed (R6) are deleted with tombstones (null values), which
 * compaction then drops.
 *
 * Values start with a header: the bytes `SLU`, the format version, and a kind
 * byte. A topic written by anything else fails to open as `StoreCorrupt`.
 */
import { DataflowError } from "@sluice/core"
import type { KafkaClient } from "@sluice/kafka"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type { StoreErrors } from "./storeErrors.js"

/** @internal */
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
  retired: 0x52, // R
  plan: 0x4c // L
} as const

/** @internal */
export type ValueKind = keyof typeof kindCodes

const kindsByCode = new Map<number, ValueKind>(
  (Object.entries(kindCodes) as Array<[ValueKind, number]>).map(([kind, code]) => [code, kind])
)

const Count = Schema.NonNegativeInt

/** `["meta"]`: the store meta, in partition 0. */
const MetaKey = Schema.transform(Schema.Tuple(Schema.Literal("meta")), Schema.TaggedStruct("Meta", {}), {
  strict: true,
  decode: () => ({ _tag: "Meta" as const }),
  encode: () => ["meta"] as const
})

/** `[name, w]`: a record about worker `w`. */
const workerKey = <const Name extends string, const Tag extends string>(name: Name, tag: Tag) =>
  Schema.transform(Schema.Tuple(Schema.Literal(name), Count), Schema.TaggedStruct(tag, { workerIndex: Count }), {
    strict: true,
    decode: ([, workerIndex]) => ({ _tag: tag, workerIndex }),
    encode: ({ workerIndex }) => [name, workerIndex] as const
  })

/** `["progress", w]`: the last epoch worker `w` completed. */
const ProgressOf = workerKey("progress", "Progress")

/** `["retired", w]`: worker `w` was reset for a rescale; a smaller worker count may leave its partition unused. */
const RetiredOf = workerKey("retired", "Retired")

/** `["rescale", i]`: the `i`-th piece of the plan of a rescale being applied, in partition 0. */
const RescalePlanOf = Schema.transform(
  Schema.Tuple(Schema.Literal("rescale"), Count),
  Schema.TaggedStruct("RescalePlan", { piece: Count }),
  {
    strict: true,
    decode: ([, piece]) => ({ _tag: "RescalePlan" as const, piece }),
    encode: ({ piece }) => ["rescale", piece] as const
  }
)

/** `["v", stepId, key, epoch]`: one snapshot version. */
const VersionOf = Schema.transform(
  Schema.Tuple(Schema.Literal("v"), Schema.String, Schema.String, Count),
  Schema.TaggedStruct("Version", { stepId: Schema.String, key: Schema.String, epoch: Count }),
  {
    strict: true,
    decode: ([, stepId, key, epoch]) => ({ _tag: "Version" as const, stepId, key, epoch }),
    encode: ({ epoch, key, stepId }) => ["v", stepId, key, epoch] as const
  }
)

/** `["o", epoch, sequence]`: an output record held until every worker has completed its epoch. */
const HeldOf = Schema.transform(
  Schema.Tuple(Schema.Literal("o"), Count, Count),
  Schema.TaggedStruct("Held", { epoch: Count, sequence: Count }),
  {
    strict: true,
    decode: ([, epoch, sequence]) => ({ _tag: "Held" as const, epoch, sequence }),
    encode: ({ epoch, sequence }) => ["o", epoch, sequence] as const
  }
)

const ProgressKeyJson = Schema.parseJson(Schema.Union(MetaKey, ProgressOf, RetiredOf, RescalePlanOf))
const StateKey = Schema.Union(VersionOf, HeldOf)
/** The state topic's keys as JSON text; the tests check the hand-written codec below against it. @internal */
export const StateKeyJson = Schema.parseJson(StateKey)

/** @internal */
export type ProgressKey = typeof ProgressKeyJson.Type

/** @internal */
export type StateKey = typeof StateKeyJson.Type

const encodeProgressKey = Schema.encodeSync(ProgressKeyJson)
const encodeStateKey = Schema.encodeSync(StateKeyJson)
const decodeProgressKeyText = Schema.decodeEither(ProgressKeyJson)
const decodeStateKeyValue = Schema.decodeUnknownEither(StateKey)
const text = new TextDecoder("utf-8", { fatal: true })

const decodeKey = <A>(decode: (text: string) => Either.Either<A, unknown>) => (bytes: Uint8Array | null) => {
  if (bytes === null) return undefined
  try {
    return Either.getOrUndefined(decode(text.decode(bytes)))
  } catch {
    // not UTF-8 text: not a key sluice writes
    return undefined
  }
}

/** @internal */
export const metaKey = (): Buffer => Buffer.from(encodeProgressKey({ _tag: "Meta" }))

/** @internal */
export const progressKey = (workerIndex: number): Buffer =>
  Buffer.from(encodeProgressKey({ _tag: "Progress", workerIndex }))

/** @internal */
export const retiredKey = (workerIndex: number): Buffer =>
  Buffer.from(encodeProgressKey({ _tag: "Retired", workerIndex }))

/** @internal */
export const rescalePlanKey = (piece: number): Buffer => Buffer.from(encodeProgressKey({ _tag: "RescalePlan", piece }))

/**
 * `["v", stepId, key, epoch]`: the text `VersionOf` encodes to (the tests hold
 * the two equal), written without the schema's parse. A commit writes two of
 * these per changed key, and the schema's encoding was a third of its time.
 * `epoch` is a non-negative integer, whose JSON is its decimal text.
 *
 * @internal
 */
export const versionKey = (stepId: string, key: string, epoch: number): Buffer => {
  // a commit's writes come grouped by step: the step's part of the text is made once per group
  if (stepId !== prefixStepId) {
    prefixStepId = stepId
    prefixText = `["v",${JSON.stringify(stepId)},`
  }
  return Buffer.from(`${prefixText}${JSON.stringify(key)},${epoch}]`)
}
let prefixStepId: string | undefined
let prefixText = ""

/** @internal */
export const heldKey = (epoch: number, sequence: number): Buffer =>
  Buffer.from(encodeStateKey({ _tag: "Held", epoch, sequence }))

/** @internal */
export const decodeProgressKey: (bytes: Uint8Array | null) => ProgressKey | undefined = decodeKey(
  decodeProgressKeyText
)

/**
 * A version key passes the same checks as `VersionOf`'s (a string step id and
 * key, a non-negative integer epoch) by hand: a resume decodes one per record
 * of the partition, and the schema's decoding was most of the restore's time.
 * Any other key goes through the schema.
 */
const decodeStateKeyText = (text: string): Either.Either<StateKey, unknown> => {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    return Either.left(error)
  }
  if (
    Array.isArray(parsed) && parsed.length === 4 && parsed[0] === "v" && typeof parsed[1] === "string" &&
    typeof parsed[2] === "string" && Number.isSafeInteger(parsed[3]) && parsed[3] >= 0
  ) {
    return Either.right({ _tag: "Version", stepId: parsed[1], key: parsed[2], epoch: parsed[3] })
  }
  return decodeStateKeyValue(parsed)
}

const decodeStateKeyBytes = decodeKey(decodeStateKeyText)

/**
 * The same bytes as a `Buffer`, for its text and integer reads. kafkajs hands
 * records over as Buffers already: no second view per record on resume.
 */
const bufferOf = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

const QUOTE = 0x22
const COMMA = 0x2c
const CLOSE = 0x5d
const BACKSLASH = 0x5c
/** `["v","`: how every version key starts when its step id is plain text. */
const VERSION_KEY_START = [0x5b, QUOTE, 0x76, QUOTE, COMMA, QUOTE]
/** Digits of an epoch read here; longer ones (past 2^53 they are not safe integers) go through `JSON.parse`. */
const MAX_EPOCH_DIGITS = 15

/**
 * The end (the closing quote) of a JSON string of printable ASCII without
 * escapes starting at `from`, or -1 when it has anything else: its bytes are
 * then its characters, one each.
 */
const plainStringEnd = (bytes: Uint8Array, from: number): number => {
  for (let at = from; at < bytes.length; at++) {
    const byte = bytes[at]
    if (byte === QUOTE) return at
    if (byte < 0x20 || byte > 0x7e || byte === BACKSLASH) return -1
  }
  return -1
}

/**
 * `["v","<step id>","<key>",<epoch>]` read straight from its bytes when both
 * strings are printable ASCII without escapes and the epoch is plain digits,
 * as `versionKey` writes every such key; `undefined` for anything else, which
 * `decodeStateKeyText` then decodes (and the tests hold both equal). A resume
 * reads one per record of the partition: the UTF-8 text and `JSON.parse`'s
 * array were the largest cost of the restore after kafkajs's.
 */
const decodePlainVersionKey = (bytes: Uint8Array): StateKey | undefined => {
  for (let i = 0; i < VERSION_KEY_START.length; i++) if (bytes[i] !== VERSION_KEY_START[i]) return undefined
  const stepStart = VERSION_KEY_START.length
  const stepEnd = plainStringEnd(bytes, stepStart)
  if (stepEnd < 0 || bytes[stepEnd + 1] !== COMMA || bytes[stepEnd + 2] !== QUOTE) return undefined
  const keyStart = stepEnd + 3
  const keyEnd = plainStringEnd(bytes, keyStart)
  if (keyEnd < 0 || bytes[keyEnd + 1] !== COMMA) return undefined
  const digitsStart = keyEnd + 2
  const digitsEnd = bytes.length - 1
  const digits = digitsEnd - digitsStart
  // JSON allows no leading zero
  if (bytes[digitsEnd] !== CLOSE || digits < 1 || digits > MAX_EPOCH_DIGITS) return undefined
  if (digits > 1 && bytes[digitsStart] === 0x30) return undefined
  let epoch = 0
  for (let at = digitsStart; at < digitsEnd; at++) {
    const digit = bytes[at] - 0x30
    if (digit < 0 || digit > 9) return undefined
    epoch = epoch * 10 + digit
  }
  const text = bufferOf(bytes)
  return {
    _tag: "Version",
    stepId: stepIdOf(text, stepStart, stepEnd),
    key: text.toString("latin1", keyStart, keyEnd),
    epoch
  }
}

let lastStepId = ""
let lastStepBytes: Buffer = Buffer.alloc(0)

/**
 * The step id in `bytes[start, end)`: the string of the last record's step
 * when the bytes are the same, as they are for runs of a partition's records.
 * One string for all of them, not one per record, and the index's map hashes
 * it once.
 */
const stepIdOf = (bytes: Buffer, start: number, end: number): string => {
  const length = end - start
  if (length === lastStepBytes.length) {
    let same = true
    for (let i = 0; i < length; i++) {
      if (bytes[start + i] !== lastStepBytes[i]) {
        same = false
        break
      }
    }
    if (same) return lastStepId
  }
  lastStepId = bytes.toString("latin1", start, end)
  lastStepBytes = Buffer.from(bytes.subarray(start, end))
  return lastStepId
}

/** @internal */
export const decodeStateKey = (bytes: Uint8Array | null): StateKey | undefined =>
  bytes === null ? undefined : decodePlainVersionKey(bytes) ?? decodeStateKeyBytes(bytes)

/** @internal */
export const encodeValue = (kind: ValueKind, payload?: Uint8Array | string): Buffer => {
  // a snapshot's text goes in as its UTF-8, written straight into the record
  const length = payload === undefined
    ? 0
    : typeof payload === "string"
    ? Buffer.byteLength(payload)
    : payload.byteLength
  const out = Buffer.allocUnsafe(HEADER_BYTES + length)
  out[0] = MAGIC_0
  out[1] = MAGIC_1
  out[2] = MAGIC_2
  out[3] = FORMAT_VERSION
  out[4] = kindCodes[kind]
  if (typeof payload === "string") out.write(payload, HEADER_BYTES, "utf8")
  else if (payload !== undefined) out.set(payload, HEADER_BYTES)
  return out
}

/** A snapshot payload's UTF-8 as text. @internal */
export const payloadText = (payload: Uint8Array): string => bufferOf(payload).toString("utf8")

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
  const bytes = bufferOf(payload)
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

/**
 * The value of a store record, checked against the kinds its key allows;
 * `null` for a tombstone. An `Either` (an effect too): a resume checks one
 * per record and goes on without running an effect for it.
 *
 * @internal
 */
export const valueOf = (
  record: Pick<KafkaClient.KafkaRecord, "topic" | "partition" | "offset" | "value">,
  kinds: ReadonlyArray<ValueKind>,
  errors: StoreErrors
): Either.Either<
  { readonly kind: ValueKind; readonly payload: Uint8Array } | null,
  DataflowError.StoreVersionUnsupported | DataflowError.StoreCorrupt
> => {
  if (record.value === null) return Either.right(null)
  const decoded = decodeValue(record.value)
  if (decoded._tag === "NewerFormat") {
    return Either.left(new DataflowError.StoreVersionUnsupported({ found: decoded.version, supported: FORMAT_VERSION }))
  }
  if (decoded._tag === "Foreign" || !kinds.includes(decoded.kind)) {
    return Either.left(errors.corrupt(`${recordName(record)} was not written by sluice`))
  }
  return Either.right(decoded)
}

/** How errors name a record: `topic/partition@offset`. @internal */
export const recordName = (record: Pick<KafkaClient.KafkaRecord, "topic" | "partition" | "offset">): string =>
  `record ${record.topic}/${record.partition}@${record.offset}`
