/**
 * CRC-32 (the polynomial of zlib and Ethernet) of a snapshot's step, key and
 * value. Written here because core runs on every JavaScript platform, where
 * `node:zlib` is not; a store checks it on resume, so a damaged value fails
 * naming its key instead of resuming as state.
 *
 * Everything is inside one function that closes over nothing, so that a
 * thread started from source text can run the same code
 * (`StoreKit.makeSnapshotChecksum`).
 */

/** @internal */
export const makeSnapshotChecksum = (): (stepId: string, key: string, value: string | null) => number => {
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

  // The value's UTF-8 bytes, encoded on the fly: values were bytes before they were text, and stores
  // written then keep checksums of those bytes, which must still verify.
  const addUtf8 = (crc: number, text: string): number => {
    for (let i = 0; i < text.length; i++) {
      let point = text.charCodeAt(i)
      if (point < 0x80) {
        crc = addByte(crc, point)
        continue
      }
      if (point >= 0xd800 && point < 0xdc00 && i + 1 < text.length) {
        const low = text.charCodeAt(i + 1)
        if (low >= 0xdc00 && low < 0xe000) {
          point = 0x10000 + ((point - 0xd800) << 10) + (low - 0xdc00)
          i++
        }
      }
      // a lone surrogate encodes as U+FFFD, as TextEncoder does
      if (point >= 0xd800 && point < 0xe000) point = 0xfffd
      if (point < 0x800) {
        crc = addByte(addByte(crc, 0xc0 | (point >>> 6)), 0x80 | (point & 0x3f))
      } else if (point < 0x10000) {
        crc = addByte(
          addByte(addByte(crc, 0xe0 | (point >>> 12)), 0x80 | ((point >>> 6) & 0x3f)),
          0x80 | (point & 0x3f)
        )
      } else {
        crc = addByte(crc, 0xf0 | (point >>> 18))
        crc = addByte(addByte(crc, 0x80 | ((point >>> 12) & 0x3f)), 0x80 | ((point >>> 6) & 0x3f))
        crc = addByte(crc, 0x80 | (point & 0x3f))
      }
    }
    return crc
  }

  // A resume checks a million rows of one step in a row: the CRC of the step's part is kept, not redone per row.
  let prefixStepId: string | undefined
  let prefixCrc = 0

  const stepPrefix = (stepId: string): number => {
    if (stepId !== prefixStepId) {
      // A separator no UTF-16 string yields as one unit pair, so ("ab", "c") and ("a", "bc") differ.
      prefixCrc = addByte(addByte(addString(0xffffffff, stepId), 0xff), 0xff)
      prefixStepId = stepId
    }
    return prefixCrc
  }

  return (stepId: string, key: string, value: string | null): number => {
    let crc = addString(stepPrefix(stepId), key)
    // A tombstone is checked too: a damaged NULL must not read as a value, nor a value as a deletion.
    crc = addByte(crc, value === null ? 0 : 1)
    if (value !== null) crc = addUtf8(crc, value)
    return (crc ^ 0xffffffff) >>> 0
  }
}

/** @internal */
export const snapshotChecksum = makeSnapshotChecksum()
