import type * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { InputFileChanged, InputFileNotText } from "../DataflowError.js"
import type { Batch } from "./batch.js"
import { fileSystemFor } from "./fileSystem.js"

/**
 * How a file input reads its file. Public as `Input.FileOptions`.
 */
export interface FileOptions {
  /** Bytes read at once (64 KiB). */
  readonly chunkBytes?: number
  /** What a resume does when the file is not the one its position was taken in. */
  readonly onReplaced?: "fail" | "restart"
  /** The text encoding of the file. */
  readonly encoding?: "utf-8" | "latin1"
  /** What bytes that are not UTF-8 do (with `encoding: "utf-8"`). */
  readonly invalidUtf8?: "fail" | "replace"
  /** Whether a last line without its newline is read at end of input, or waits for its newline. */
  readonly unterminatedLastLine?: "emit" | "hold"
}

/**
 * What a file input stores as its position: the offset of the next byte to
 * read, and what identifies the file it was read in (device, inode and a hash
 * of the bytes just before the offset).
 *
 * @internal
 */
export interface FilePosition {
  readonly offset: number
  readonly dev: number
  readonly ino: number | null
  readonly tailHash: number
  /** The last line read had no newline: it was read as complete at end of input. */
  readonly unterminated?: true
}

/** How many bytes before a position its hash covers: enough to tell a rewritten file, cheap to re-read. */
const TAIL_BYTES = 4096

/** FNV-1a (32 bits) over `bytes[from, to)`, continuing from `hash`. */
const fnv1a = (hash: number, bytes: Uint8Array, from: number, to: number): number => {
  let h = hash
  for (let i = from; i < to; i++) h = Math.imul(h ^ bytes[i], 16777619) >>> 0
  return h
}
const FNV_SEED = 2166136261

/** The last `TAIL_BYTES` of `before ++ bytes[0, to)`. */
const tailHash = (before: Uint8Array, bytes: Uint8Array, to: number): number => {
  if (to >= TAIL_BYTES) return fnv1a(FNV_SEED, bytes, to - TAIL_BYTES, to)
  const fromBefore = Math.max(0, before.length - (TAIL_BYTES - to))
  return fnv1a(fnv1a(FNV_SEED, before, fromBefore, before.length), bytes, 0, to)
}

/** The last `TAIL_BYTES` of `before ++ bytes`, kept so that a later position can hash what precedes it. */
const keepTail = (before: Uint8Array, bytes: Uint8Array): Uint8Array => {
  if (bytes.length >= TAIL_BYTES) return bytes.slice(bytes.length - TAIL_BYTES)
  const fromBefore = Math.max(0, before.length - (TAIL_BYTES - bytes.length))
  const kept = new Uint8Array(before.length - fromBefore + bytes.length)
  kept.set(before.subarray(fromBefore), 0)
  kept.set(bytes, before.length - fromBefore)
  return kept
}

/** The index of the first byte of `bytes` that does not belong to valid UTF-8. */
const firstInvalidUtf8 = (bytes: Uint8Array): number => {
  let i = 0
  while (i < bytes.length) {
    const b = bytes[i]
    const [length, low, high] = b < 0x80
      ? [1, 0x80, 0xbf]
      : b >= 0xc2 && b <= 0xdf
      ? [2, 0x80, 0xbf]
      : b === 0xe0
      ? [3, 0xa0, 0xbf]
      : b === 0xed
      ? [3, 0x80, 0x9f]
      : b >= 0xe1 && b <= 0xef
      ? [3, 0x80, 0xbf]
      : b === 0xf0
      ? [4, 0x90, 0xbf]
      : b === 0xf4
      ? [4, 0x80, 0x8f]
      : b >= 0xf1 && b <= 0xf3
      ? [4, 0x80, 0xbf]
      : [0, 0, 0]
    if (length === 0) return i
    for (let k = 1; k < length; k++) {
      const c = bytes[i + k]
      // the second byte has a narrower range for some leads (overlongs, surrogates, past U+10FFFF)
      if (c === undefined || c < (k === 1 ? low : 0x80) || c > (k === 1 ? high : 0xbf)) return i
    }
    i += length
  }
  return bytes.length
}

const readExactly = (file: FileSystem.File, at: number, length: number) =>
  Effect.gen(function*() {
    yield* file.seek(at, "start")
    const bytes = new Uint8Array(length)
    let filled = 0
    while (filled < length) {
      const read = yield* file.read(bytes.subarray(filled))
      if (Number(read) === 0) break
      filled += Number(read)
    }
    return bytes.subarray(0, filled)
  })

const decodePosition = (path: string, value: unknown): FilePosition | Error => {
  // a bare offset is what inputs stored before positions carried the file's identity
  if (typeof value === "number") return { offset: value, dev: -1, ino: null, tailHash: -1 }
  const p = value as Partial<FilePosition> | null
  return p !== null && typeof p === "object" && typeof p.offset === "number" && typeof p.dev === "number" &&
      typeof p.tailHash === "number"
    ? p as FilePosition
    : new Error(`the stored position of input file ${path} is damaged: ${JSON.stringify(value)}`)
}

/**
 * Checks that the file is the one `position` was taken in and says where to
 * continue, with the bytes just before that offset (for the next hashes).
 */
const checkResume = (file: FileSystem.File, path: string, position: FilePosition, identity: Identity) =>
  Effect.gen(function*() {
    const legacy = position.tailHash === -1
    const sameFile = legacy || (position.dev === identity.dev && position.ino === identity.ino)
    if (!sameFile) return yield* new InputFileChanged({ path, offset: position.offset, change: "replaced" })
    if (identity.size < position.offset) {
      return yield* new InputFileChanged({ path, offset: position.offset, change: "truncated" })
    }
    const from = Math.max(0, position.offset - TAIL_BYTES)
    const before = yield* readExactly(file, from, position.offset - from)
    if (!legacy && fnv1a(FNV_SEED, before, 0, before.length) !== position.tailHash) {
      return yield* new InputFileChanged({ path, offset: position.offset, change: "replaced" })
    }
    let offset = position.offset
    if (position.unterminated === true && identity.size > offset) {
      // the line read as complete may since have got its newline, which is fine, or more bytes, which is not
      const next = yield* readExactly(file, offset, 2)
      if (next[0] === 10) offset += 1
      else if (next[0] === 13 && next[1] === 10) offset += 2
      else return yield* new InputFileChanged({ path, offset, change: "line extended" })
    }
    return { offset, before: keepTail(before, yield* readExactly(file, position.offset, offset - position.offset)) }
  })

interface Identity {
  readonly dev: number
  readonly ino: number | null
  readonly size: number
}

/**
 * Opens the lines of the file at `path` (already resolved) after
 * `resumeFrom`, checking first that it is the same file.
 *
 * @internal
 */
export const openFileLines = (
  user: string,
  path: string,
  resumeFrom: Option.Option<unknown>,
  options: FileOptions = {}
): Effect.Effect<Stream.Stream<Batch<string>, unknown>, unknown, Scope.Scope> =>
  Effect.map(openFile(user, path, resumeFrom, options), ({ lines }) => lines)

/**
 * `openFileLines`, saying whether reading starts at the file's start (a fresh
 * run, or a file started over with `onReplaced: "restart"`).
 *
 * @internal
 */
export const openFile = (
  user: string,
  path: string,
  resumeFrom: Option.Option<unknown>,
  options: FileOptions = {}
): Effect.Effect<
  { readonly lines: Stream.Stream<Batch<string>, unknown>; readonly fromStart: boolean },
  unknown,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const fs = yield* fileSystemFor(user)
    const file = yield* fs.open(path, { flag: "r" })
    const info = yield* file.stat
    const identity: Identity = { dev: info.dev, ino: Option.getOrNull(info.ino), size: Number(info.size) }
    let start: { offset: number; before: Uint8Array } = { offset: 0, before: new Uint8Array(0) }
    if (Option.isSome(resumeFrom)) {
      const position = decodePosition(path, resumeFrom.value)
      if (position instanceof Error) return yield* Effect.fail(position)
      const checked = yield* Effect.either(checkResume(file, path, position, identity))
      if (checked._tag === "Right") start = checked.right
      else if (options.onReplaced === "restart" && checked.left instanceof InputFileChanged) {
        yield* Effect.logWarning(`${checked.left.message}; reading it again from its start (onReplaced: "restart")`)
      } else return yield* Effect.fail(checked.left)
    }
    yield* file.seek(start.offset, "start")
    return { lines: linesOf(file, path, start.offset, start.before, identity, options), fromStart: start.offset === 0 }
  })

/**
 * Cuts a file into lines chunk by chunk. Bytes after a chunk's last newline
 * are kept as pieces and joined once the newline arrives, so a line spread
 * over many chunks costs its length once, not once per chunk.
 */
const linesOf = (
  file: FileSystem.File,
  path: string,
  start: number,
  startBefore: Uint8Array,
  identity: Identity,
  options: FileOptions
): Stream.Stream<Batch<string>, unknown> => {
  const chunkBytes = options.chunkBytes ?? 1 << 16
  const fatal = new TextDecoder("utf-8", { fatal: true })
  const encoding = options.encoding === "latin1" ? "latin1" : "utf8"
  const lossy = options.encoding === "latin1" || options.invalidUtf8 === "replace"
  let offset = start // file offset of the first byte not yet emitted
  let recent = startBefore // the last bytes before the next chunk, for the positions' hashes
  let pending: Array<Uint8Array> = []
  let pendingBytes = 0
  let ended = false
  const position = (end: number, hash: number, unterminated?: true): FilePosition => ({
    offset: end,
    dev: identity.dev,
    ino: identity.ino,
    tailHash: hash,
    ...(unterminated ? { unterminated } : {})
  })
  const text = (bytes: Uint8Array, from: number, to: number, lineOffset: number) => {
    const end = to > from && bytes[to - 1] === 13 ? to - 1 : to
    if (lossy) return Buffer.from(bytes.buffer, bytes.byteOffset + from, end - from).toString(encoding)
    const line = bytes.subarray(from, end)
    try {
      return fatal.decode(line)
    } catch {
      throw new InputFileNotText({ path, offset: lineOffset + firstInvalidUtf8(line) })
    }
  }
  const takePending = (tail: Uint8Array): Uint8Array => {
    if (pending.length === 0) return tail
    const joined = new Uint8Array(pendingBytes + tail.length)
    let at = 0
    for (const piece of pending) {
      joined.set(piece, at)
      at += piece.length
    }
    joined.set(tail, at)
    pending = []
    pendingBytes = 0
    return joined
  }
  const atEnd = (): Batch<string> | undefined => {
    ended = true
    // a line without its newline is complete only if the file has ended for good: "hold" leaves it for a later run
    if (pendingBytes === 0 || options.unterminatedLastLine === "hold") return undefined
    const last = takePending(new Uint8Array(0))
    const line = text(last, 0, last.length, offset)
    offset += last.length
    const after = position(offset, fnv1a(FNV_SEED, recent, 0, recent.length), true)
    return { items: [line], positionAfter: () => after }
  }
  const cut = (chunk: Uint8Array, before: Uint8Array): Batch<string> | undefined => {
    const chunkStart = offset + pendingBytes
    const firstNewline = chunk.indexOf(10)
    if (firstNewline === -1) {
      pending.push(chunk)
      pendingBytes += chunk.length
      return undefined
    }
    const items: Array<string> = []
    const ends: Array<number> = []
    const head = takePending(chunk.subarray(0, firstNewline + 1))
    items.push(text(head, 0, head.length - 1, offset))
    offset += head.length
    ends.push(offset)
    let lineStart = firstNewline + 1
    for (let newline = chunk.indexOf(10, lineStart); newline !== -1; newline = chunk.indexOf(10, lineStart)) {
      items.push(text(chunk, lineStart, newline, offset))
      offset += newline + 1 - lineStart
      ends.push(offset)
      lineStart = newline + 1
    }
    if (lineStart < chunk.length) {
      pending.push(chunk.subarray(lineStart))
      pendingBytes += chunk.length - lineStart
    }
    // hashed on demand: most batches are asked for one position at most
    return { items, positionAfter: (i) => position(ends[i], tailHash(before, chunk, ends[i] - chunkStart)) }
  }
  const nextBatch: Effect.Effect<Batch<string>, Option.Option<unknown>> = Effect.suspend(() => {
    if (ended) return Effect.fail(Option.none())
    return Effect.flatMap(Effect.mapError(file.readAlloc(chunkBytes), Option.some), (read) =>
      Effect.flatMap(
        Effect.try({
          try: () => {
            if (Option.isNone(read) || read.value.length === 0) return atEnd()
            const before = recent
            recent = keepTail(recent, read.value)
            return cut(read.value, before)
          },
          catch: (error) => Option.some(error)
        }),
        (batch) => batch !== undefined ? Effect.succeed(batch) : ended ? Effect.fail(Option.none()) : nextBatch
      ))
  })
  return Stream.repeatEffectOption(nextBatch)
}
