/**
 * CRC-32 (the polynomial of zlib and Ethernet) of a snapshot's step, key and
 * value. Written here because core runs on every JavaScript platform, where
 * `node:zlib` is not; a store checks it on resume, so a damaged value fails
 * naming its key instead of resuming as state.
 */
const TABLE = (() => {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    table[n] = c >>> 0
  }
  return table
})()

const addByte = (crc: number, byte: number): number => TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8)

// Strings go in as UTF-16 code units (two bytes each): no encoding step on the commit path.
const addString = (crc: number, text: string): number => {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    crc = addByte(addByte(crc, unit & 0xff), unit >>> 8)
  }
  return crc
}

/** @internal */
export const snapshotChecksum = (stepId: string, key: string, value: Uint8Array | null): number => {
  let crc = 0xffffffff
  crc = addString(crc, stepId)
  // A separator no UTF-16 string yields as one unit pair, so ("ab", "c") and ("a", "bc") differ.
  crc = addByte(addByte(crc, 0xff), 0xff)
  crc = addString(crc, key)
  // A tombstone is checked too: a damaged NULL must not read as a value, nor a value as a deletion.
  crc = addByte(crc, value === null ? 0 : 1)
  if (value !== null) { for (let i = 0; i < value.length; i++) crc = addByte(crc, value[i]) }
  return (crc ^ 0xffffffff) >>> 0
}
