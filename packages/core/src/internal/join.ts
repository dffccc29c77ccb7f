import * as Schema from "effect/Schema"
import type { StatefulLogic, Transition } from "./graph.js"

/** When a join emits rows (bytewax `JoinEmitMode`). @internal */
export type JoinEmit = "complete" | "final" | "running"

/** What a join keeps of several values from one side (bytewax `JoinInsertMode`). @internal */
export type JoinInsert = "last" | "first" | "product"

/** A key's values, per side in the order of the join's sides. */
type Seen = Array<Array<unknown>>

/** An item of a join's merged input: the index of its side and its value. @internal */
export type Tagged = readonly [side: number, value: unknown]

const nothing: ReadonlyArray<never> = []
const lone: ReadonlyArray<undefined> = [undefined]

/**
 * The snapshot schema of a key's join state: one array of values per side,
 * each with its side's schema, so a key is one snapshot whatever its sides.
 *
 * @internal
 */
export const joinStateSchema = (sides: ReadonlyArray<Schema.Schema<any, any>>): Schema.Schema<any, any> =>
  Schema.Tuple(...sides.map((side) => Schema.mutable(Schema.Array(side))))

/**
 * The schema of a tagged item: the side's index as a literal picks the side's
 * schema, so sides whose encoded forms look alike still decode as their own.
 *
 * @internal
 */
export const taggedSchema = (sides: ReadonlyArray<Schema.Schema<any, any>>): Schema.Schema<any, any> =>
  Schema.Union(...sides.map((side, index) => Schema.Tuple(Schema.Literal(index), side)))

const emptySeen = (sides: number): Seen => {
  const seen: Seen = new Array(sides)
  for (let i = 0; i < sides; i++) seen[i] = []
  return seen
}

const insertValue = (seen: Seen, side: number, value: unknown, insert: JoinInsert): void => {
  const values = seen[side]
  if (insert === "product") values.push(value)
  else if (insert === "last") seen[side] = [value]
  else if (values.length === 0) values.push(value)
}

const allSet = (seen: Seen): boolean => {
  for (let i = 0; i < seen.length; i++) if (seen[i].length === 0) return false
  return true
}

/** Every combination of one value per side, the first side varying slowest; a side without values gives `undefined`. */
const rows = (seen: Seen): Array<ReadonlyArray<unknown>> => {
  let out: Array<Array<unknown>> = [[]]
  for (const values of seen) {
    const choices = values.length === 0 ? lone : values
    const next: Array<Array<unknown>> = []
    for (const row of out) for (const value of choices) next.push([...row, value])
    out = next
  }
  return out
}

/**
 * A join as `stateful` logic over tagged items: insert the value into its
 * side, then emit by the mode. `complete` forgets the key once every side has
 * a value; `final` emits at end of input and forgets; `running` emits the
 * current rows on every item and keeps the key.
 *
 * @internal
 */
export const joinLogic = (sides: number, emit: JoinEmit, insert: JoinInsert): StatefulLogic => ({
  _tag: "Stateful",
  onItem: (state: Seen | undefined, [side, value]: Tagged): Transition => {
    // the key's own state, so it is updated in place
    const seen = state ?? emptySeen(sides)
    insertValue(seen, side, value, insert)
    switch (emit) {
      case "complete":
        return allSet(seen) ? { state: undefined, emit: rows(seen) } : { state: seen, emit: nothing }
      case "running":
        return { state: seen, emit: rows(seen) }
      case "final":
        return { state: seen, emit: nothing }
    }
  },
  onNotify: undefined,
  onEof: emit === "final" ? (seen: Seen) => ({ state: undefined, emit: rows(seen) }) : undefined,
  notifyAt: undefined
})

/**
 * A window's join: its tagged items applied in timestamp order (stable, so
 * ties keep arrival order), as bytewax's ordered `join_window`. `complete`
 * starts afresh within the window after each complete row; `final` emits the
 * rows of the whole window.
 *
 * @internal
 */
export const windowRows = (
  sides: number,
  emit: JoinEmit,
  insert: JoinInsert,
  items: ReadonlyArray<Tagged>,
  timestamp: ((item: Tagged) => number) | undefined
): Array<ReadonlyArray<unknown>> => {
  const ordered = timestamp === undefined
    ? items
    : items.map((item, index) => ({ item, at: timestamp(item), index }))
      .sort((a, b) => a.at - b.at || a.index - b.index)
      .map(({ item }) => item)
  let seen = emptySeen(sides)
  const out: Array<ReadonlyArray<unknown>> = []
  for (const [side, value] of ordered) {
    insertValue(seen, side, value, insert)
    if (emit === "complete" && allSet(seen)) {
      out.push(...rows(seen))
      seen = emptySeen(sides)
    } else if (emit === "running") out.push(...rows(seen))
  }
  if (emit === "final") out.push(...rows(seen))
  return out
}
