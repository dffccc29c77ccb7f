import type * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import type { Input } from "../Input.js"
import type { Output } from "../Output.js"
import type { WindowClock, WindowPolicy } from "../Window.js"
import type { WindowAggregate } from "./windowOperator.js"

/** Where a step reads from: a step and one of its output ports. @internal */
export interface Edge {
  readonly node: number
  readonly port: number
}

/** How a keyed step updates state and what it emits. @internal */
export type KeyedLogic =
  | {
    readonly _tag: "StatefulMap"
    readonly init: (key: string) => unknown
    readonly step: (state: any, value: any) => readonly [unknown, unknown]
  }
  | {
    readonly _tag: "Fold"
    /** Absent for `reduce`: the first value is the accumulator. */
    readonly init: ((key: string) => unknown) | undefined
    readonly fold: (acc: any, value: any) => unknown
    readonly emit: "each" | "end"
  }
  | StatefulLogic

/** What a `stateful` callback returns: the key's next state (`undefined` discards it) and what to emit. @internal */
export interface Transition {
  readonly state: unknown
  readonly emit: ReadonlyArray<unknown>
}

/** The callbacks of `stateful`, the keyed logic with timers. @internal */
export interface StatefulLogic {
  readonly _tag: "Stateful"
  /** `key` is for the operators built on `stateful` whose state starts from `init(key)`. */
  readonly onItem: (state: any, value: any, now: number, key: string) => Transition
  readonly onNotify: ((state: any, now: number) => Transition) | undefined
  readonly onEof: ((state: any, now: number) => Transition) | undefined
  readonly notifyAt: ((state: any) => number | undefined) | undefined
}

/** @internal */
export type StepKind =
  | { readonly _tag: "Input"; readonly input: Input<unknown> }
  | {
    readonly _tag: "Transform"
    readonly transform: (items: ReadonlyArray<any>) => ReadonlyArray<unknown>
    /** Set by `keyBy`: its key function, so a keyed step right after it can key raw items itself. */
    readonly keyOf?: (item: any) => string
  }
  | {
    readonly _tag: "MapEffect"
    readonly f: (item: any) => Effect.Effect<unknown, unknown>
    readonly concurrency: number
  }
  | {
    readonly _tag: "Keyed"
    readonly state: Schema.Schema<any, any>
    readonly logic: KeyedLogic
    /** `emit: "epoch"`: each key's last emission of an epoch goes out once, at the epoch's close. */
    readonly emitPerEpoch: boolean
  }
  | {
    readonly _tag: "Window"
    readonly state: Schema.Schema<any, any>
    readonly clock: WindowClock<any>
    readonly policy: WindowPolicy
    readonly aggregate: WindowAggregate
  }
  | { readonly _tag: "Merge" }
  /** Passes items on; with several workers an exchange in front spreads them round robin. */
  | { readonly _tag: "Redistribute" }
  | { readonly _tag: "Branch"; readonly predicate: (item: any) => boolean }
  | { readonly _tag: "Output"; readonly output: Output<any> }

/** @internal */
export interface Step {
  readonly index: number
  readonly stepId: string
  readonly upstream: ReadonlyArray<Edge>
  readonly kind: StepKind
}

/**
 * The steps of a dataflow in the order they were added, which is a topological
 * order: a step can only read from steps that exist already.
 *
 * @internal
 */
export interface Graph {
  readonly steps: Array<Step>
}

/** A `keyBy` whose key function runs in the keyed step after it; its step id names its failures. @internal */
export interface FusedKeyBy {
  readonly stepId: string
  readonly keyOf: (item: any) => string
}

/**
 * The `keyBy` steps to fuse into the keyed step that reads them: a
 * `statefulMap`, `reduce` or `fold` that is their only reader. That step then
 * keys the raw items itself and no `[key, item]` pair is made per item. Only
 * on a run without exchanges: with several workers the exchange between the
 * two routes pairs by key and ships them to other workers, so the pairs are
 * made anyway.
 *
 * @internal
 */
export const fusibleKeyBys = (graph: Graph): Map<number, FusedKeyBy> => {
  const readers = new Map<number, Array<Step>>()
  for (const step of graph.steps) {
    for (const edge of step.upstream) {
      const list = readers.get(edge.node)
      if (list === undefined) readers.set(edge.node, [step])
      else list.push(step)
    }
  }
  const fused = new Map<number, FusedKeyBy>()
  for (const step of graph.steps) {
    const kind = step.kind
    if (kind._tag !== "Transform" || kind.keyOf === undefined) continue
    const stepReaders = readers.get(step.index)
    if (stepReaders === undefined || stepReaders.length !== 1) continue
    const reader = stepReaders[0]
    if (reader.kind._tag === "Keyed" && reader.kind.logic._tag !== "Stateful" && reader.upstream.length === 1) {
      fused.set(step.index, { stepId: step.stepId, keyOf: kind.keyOf })
    }
  }
  return fused
}
