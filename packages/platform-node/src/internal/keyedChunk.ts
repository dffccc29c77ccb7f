/**
 * The wire form of a chunk of keyed items sent to another worker. Keys travel
 * as one string plus their lengths, and values as one `v8.serialize`d array,
 * or not at all when every value is its own key (`keyBy((word) => word)`).
 * Measured on 50k word pairs: v8-serializing the pairs costs ~31 ms per
 * round trip, this form ~8–16 ms, and it allocates a handful of objects per
 * chunk instead of an array per item.
 *
 * @internal
 */
import * as v8 from "node:v8"
import type { KeyedChunk as KeyedChunkSchema } from "./protocol.js"

/**
 * `keys`: every key, concatenated; `lengths`: a `Uint32Array` of the keys'
 * lengths in UTF-16 code units; `values`: `v8.serialize` of the values, absent
 * when each value is its key.
 *
 * @internal
 */
export type KeyedChunk = typeof KeyedChunkSchema.Type

const transferable = (buffer: Buffer): ArrayBuffer =>
  buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength
    ? buffer.buffer as ArrayBuffer
    : buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength) as ArrayBuffer

/** Encodes `[key, value]` pairs; the returned buffers can be transferred. @internal */
export const encode = (
  pairs: ReadonlyArray<readonly [string, unknown]>
): { readonly chunk: KeyedChunk; readonly transfer: ReadonlyArray<ArrayBuffer> } => {
  const lengths = new Uint32Array(pairs.length)
  let keys = ""
  let valuesAreKeys = true
  for (let i = 0; i < pairs.length; i++) {
    const key = pairs[i][0]
    keys += key
    lengths[i] = key.length
    if (valuesAreKeys && pairs[i][1] !== key) valuesAreKeys = false
  }
  if (valuesAreKeys) return { chunk: { keys, lengths: lengths.buffer }, transfer: [lengths.buffer] }
  const values = new Array<unknown>(pairs.length)
  for (let i = 0; i < pairs.length; i++) values[i] = pairs[i][1]
  const serialized = transferable(v8.serialize(values))
  return { chunk: { keys, lengths: lengths.buffer, values: serialized }, transfer: [lengths.buffer, serialized] }
}

/** The pairs of a received chunk, in the order they were encoded. @internal */
export const decode = (chunk: KeyedChunk): Array<readonly [string, unknown]> => {
  const lengths = new Uint32Array(chunk.lengths)
  const values = chunk.values === undefined ? undefined : v8.deserialize(new Uint8Array(chunk.values)) as Array<unknown>
  const pairs = new Array<readonly [string, unknown]>(lengths.length)
  let offset = 0
  for (let i = 0; i < lengths.length; i++) {
    const key = chunk.keys.slice(offset, offset += lengths[i])
    pairs[i] = [key, values === undefined ? key : values[i]]
  }
  return pairs
}
