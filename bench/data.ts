/**
 * Seeded inputs of the workloads. Every process that needs an input builds it
 * from the same seed, so the runner, each child and the bytewax peer (through
 * a file the runner writes) see the same items.
 */
import * as fs from "node:fs"

/** mulberry32: small, fast and good enough to draw benchmark inputs. */
export const random = (seed: number): () => number => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const letters = "abcdefghijklmnopqrstuvwxyz"

/** `size` distinct lowercase words of 3 to 10 letters. */
export const vocabulary = (size: number, seed: number): Array<string> => {
  const next = random(seed)
  const words = new Set<string>()
  while (words.size < size) {
    const length = 3 + Math.floor(next() * 8)
    let word = ""
    for (let i = 0; i < length; i++) word += letters[Math.floor(next() * 26)]
    words.add(word)
  }
  return [...words]
}

/** Draws ranks `0..n-1` with probability proportional to `1 / (rank + 1)^exponent`. */
export const zipf = (n: number, exponent: number, next: () => number): () => number => {
  const cumulative = new Float64Array(n)
  let total = 0
  for (let rank = 0; rank < n; rank++) {
    total += 1 / Math.pow(rank + 1, exponent)
    cumulative[rank] = total
  }
  return () => rankAt(cumulative, next() * total)
}

/** The first rank whose cumulative weight reaches `target` (binary search). */
const rankAt = (cumulative: Float64Array, target: number): number => {
  let low = 0
  let high = cumulative.length - 1
  while (low < high) {
    const middle = (low + high) >>> 1
    if (cumulative[middle] < target) low = middle + 1
    else high = middle
  }
  return low
}

export const WORDS_PER_LINE = 10
export const VOCABULARY_SIZE = 50_000

/**
 * Wordcount's input: `words` words from a Zipf-like vocabulary of 50,000, as
 * lines of ten words separated by single spaces.
 */
export const wordLines = (words: number, seed = 42): Array<string> => {
  const vocab = vocabulary(VOCABULARY_SIZE, seed)
  const rank = zipf(VOCABULARY_SIZE, 1, random(seed + 1))
  const lines = new Array<string>(Math.ceil(words / WORDS_PER_LINE))
  let drawn = 0
  for (let i = 0; i < lines.length; i++) {
    const count = Math.min(WORDS_PER_LINE, words - drawn)
    let line = vocab[rank()]
    for (let j = 1; j < count; j++) line += " " + vocab[rank()]
    lines[i] = line
    drawn += count
  }
  return lines
}

/**
 * A word line made from its index alone, for inputs that generate their items
 * on demand (each worker thread reads its own partitions, and a resumed
 * partition starts at its position without building what it skips). Same
 * vocabulary and Zipf-like ranks as {@link wordLines}, different draws.
 */
export const wordLineAt = (() => {
  let table: { readonly vocab: Array<string>; readonly cumulative: Float64Array } | undefined
  return (index: number, count = WORDS_PER_LINE, seed = 42): string => {
    if (table === undefined) {
      const cumulative = new Float64Array(VOCABULARY_SIZE)
      let total = 0
      for (let rank = 0; rank < VOCABULARY_SIZE; rank++) cumulative[rank] = total += 1 / (rank + 1)
      table = { vocab: vocabulary(VOCABULARY_SIZE, seed), cumulative }
    }
    const { cumulative, vocab } = table
    const next = random(seed * 1_000_003 + index)
    const total = cumulative[VOCABULARY_SIZE - 1]
    let line = ""
    for (let j = 0; j < count; j++) {
      const word = vocab[rankAt(cumulative, next() * total)]
      line = j === 0 ? word : line + " " + word
    }
    return line
  }
})()

export interface Event {
  readonly user: string
  /** Event time, milliseconds since the Unix epoch. */
  readonly ts: number
  readonly value: number
}

export const USERS = 10_000
/** Events start here; 10-second windows aligned to 0 fall on whole ten seconds. */
export const EVENT_START = Date.UTC(2024, 0, 1)
/** Events arrive up to this much out of order, well within a lateness of 2 seconds. */
export const EVENT_JITTER_MS = 1_000

/**
 * The windowed workload's input: events of 10,000 users, ten per millisecond
 * of event time (so each user has about ten events per 10-second window),
 * each up to a second out of order.
 */
export const events = (count: number, seed = 7): Array<Event> => {
  const next = random(seed)
  const out = new Array<Event>(count)
  for (let i = 0; i < count; i++) {
    out[i] = {
      user: `u${Math.floor(next() * USERS)}`,
      ts: EVENT_START + Math.floor(i / 10) + Math.floor(next() * EVENT_JITTER_MS),
      value: 1 + Math.floor(next() * 100)
    }
  }
  return out
}

/** The resume workload's keys: all distinct, ten to a line. */
export const distinctLine = (line: number): string => {
  let text = ""
  for (let j = 0; j < WORDS_PER_LINE; j++) {
    if (j > 0) text += " "
    text += `k${(line * WORDS_PER_LINE + j).toString(36)}`
  }
  return text
}

/** The stateless workload's input. */
export const numbers = (count: number): Array<number> => {
  const out = new Array<number>(count)
  for (let i = 0; i < count; i++) out[i] = i
  return out
}

/** Writes a workload's input for the bytewax peer: one item a line. */
export const writeWordLines = (file: string, lines: ReadonlyArray<string>): void => {
  fs.writeFileSync(file, lines.join("\n") + "\n")
}

export const writeEvents = (file: string, items: ReadonlyArray<Event>): void => {
  const rows = new Array<string>(items.length)
  for (let i = 0; i < items.length; i++) rows[i] = `${items[i].user},${items[i].ts},${items[i].value}`
  fs.writeFileSync(file, rows.join("\n") + "\n")
}

export interface Order {
  readonly id: string
  readonly total: number
}

export interface Payment {
  readonly order: string
  readonly amount: number
}

/** Payments arrive out of order within blocks of this many orders, so joins hold state for a while. */
export const PAYMENT_BLOCK = 1_000

/**
 * The join workload's input: `count` orders `o<i>` and one payment for each,
 * the payments in reverse order within each block of `PAYMENT_BLOCK`.
 */
export const ordersAndPayments = (count: number): { orders: Array<Order>; payments: Array<Payment> } => {
  const orders = new Array<Order>(count)
  const payments = new Array<Payment>(count)
  for (let i = 0; i < count; i++) {
    orders[i] = { id: `o${i}`, total: i % 997 }
    const block = i - (i % PAYMENT_BLOCK)
    const paid = Math.min(count, block + PAYMENT_BLOCK) - 1 - (i - block)
    payments[i] = { order: `o${paid}`, amount: paid % 997 }
  }
  return { orders, payments }
}

export const writeOrdersAndPayments = (
  file: string,
  { orders, payments }: { orders: ReadonlyArray<Order>; payments: ReadonlyArray<Payment> }
): void => {
  const rows = new Array<string>(orders.length * 2)
  for (let i = 0; i < orders.length; i++) {
    rows[2 * i] = `o,${orders[i].id},${orders[i].total}`
    rows[2 * i + 1] = `p,${payments[i].order},${payments[i].amount}`
  }
  fs.writeFileSync(file, rows.join("\n") + "\n")
}
