import * as Schema from "effect/Schema"
import type { KeyedLogic, StatefulLogic, Transition } from "./graph.js"

/** A keyed step's logic with the schema of its snapshots. @internal */
export interface KeyedStep {
  readonly state: Schema.Schema<any, any>
  readonly logic: KeyedLogic
}

const nothing: ReadonlyArray<never> = []

/** `statefulMap`, `reduce` and `fold` as `stateful` logic, for when they need timers (a TTL). @internal */
export const asStateful = (step: KeyedStep): KeyedStep => {
  const logic = step.logic
  switch (logic._tag) {
    case "Stateful":
      return step
    case "StatefulMap":
      return {
        state: step.state,
        logic: stateful((state, value, _now, key) => {
          const [next, emit] = logic.step(state === undefined ? logic.init(key) : state, value)
          return { state: next, emit: [emit] }
        })
      }
    case "Fold": {
      const { fold, init } = logic
      const combine = (acc: unknown, key: string, value: unknown) =>
        acc !== undefined ? fold(acc, value) : init === undefined ? value : fold(init(key), value)
      if (logic.emit === "each") {
        return {
          state: step.state,
          logic: stateful((acc, value, _now, key) => {
            const next = combine(acc, key, value)
            return { state: next, emit: [next] }
          })
        }
      }
      // as the plain step: emit at end only what changed since the last emission (R13)
      type Pending = { readonly acc: unknown; readonly pending: boolean }
      return {
        state: Schema.Struct({ acc: step.state, pending: Schema.Boolean }),
        logic: {
          ...stateful((state: Pending | undefined, value, _now, key) => ({
            state: { acc: combine(state?.acc, key, value), pending: true },
            emit: nothing
          })),
          onEof: (state: Pending) =>
            state.pending ? { state: { acc: state.acc, pending: false }, emit: [state.acc] } : { state, emit: nothing }
        }
      }
    }
  }
}

const stateful = (onItem: StatefulLogic["onItem"]): StatefulLogic => ({
  _tag: "Stateful",
  onItem,
  onNotify: undefined,
  onEof: undefined,
  notifyAt: undefined
})

interface Seen {
  readonly value: unknown
  readonly seenAt: number
}

/**
 * Adds a time to live to `stateful` logic: the state carries the `Clock` time
 * the key was last seen, and a timer at `seenAt + ttl` discards it. Keeping
 * the time in the state makes the expiry survive a crash like any timer.
 *
 * @internal
 */
export const withTtl = (step: KeyedStep, ttl: number): KeyedStep => {
  const { state, logic } = asStateful(step)
  if (logic._tag !== "Stateful") throw new Error("unreachable: asStateful returns stateful logic")
  const { notifyAt, onEof, onItem, onNotify } = logic
  const seen = (transition: Transition, seenAt: number): Transition =>
    transition.state === undefined ? transition : { state: { value: transition.state, seenAt }, emit: transition.emit }
  return {
    state: Schema.Struct({ value: state, seenAt: Schema.Number }),
    logic: {
      _tag: "Stateful",
      onItem: (s: Seen | undefined, value, now, key) => seen(onItem(s?.value, value, now, key), now),
      notifyAt: (s: Seen) => {
        const expiry = s.seenAt + ttl
        const own = notifyAt?.(s.value)
        return own === undefined || own > expiry ? expiry : own
      },
      onNotify: (s: Seen, now) =>
        now >= s.seenAt + ttl
          ? { state: undefined, emit: nothing }
          : onNotify === undefined
          ? { state: s, emit: nothing }
          : seen(onNotify(s.value, now), s.seenAt),
      onEof: onEof === undefined ? undefined : (s: Seen, now) => seen(onEof(s.value, now), s.seenAt)
    }
  }
}
