/**
 * Dataflows: a graph of steps from inputs to outputs, run with recovery.
 *
 * A dataflow is built by piping a `Dataflow` into `input`, then `Flow`s through
 * operators, into one or more `output`s. Stateless operators work on whole
 * chunks; keyed operators keep state per key, snapshot it at every epoch end
 * and restore it on resume.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import type * as Order from "effect/Order"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import * as Schema from "effect/Schema"
import { type DataflowError, InvalidDataflow } from "./DataflowError.js"
import type { EpochPolicy } from "./Epoch.js"
import type { Input } from "./Input.js"
import { decodeSnapshot as decodeStepSnapshot, describe as describeGraph } from "./internal/describe.js"
import type { Graph, Step, StepKind } from "./internal/graph.js"
import { joinLogic, joinStateSchema, type Tagged, taggedSchema, windowRows } from "./internal/join.js"
import { loadDataflow } from "./internal/module.js"
import * as runtime from "./internal/run.js"
import { type KeyedStep, withTtl } from "./internal/statefulLogic.js"
import { WorkerRuntime } from "./internal/workerShare.js"
import type { Output } from "./Output.js"
import type { RecoveryStore } from "./RecoveryStore.js"
import type * as Window from "./Window.js"

/**
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: unique symbol = Symbol.for("@sluice/core/Dataflow")

/**
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * A dataflow under construction or complete: its id and its steps. Steps are
 * added by the operators of this module; `Dataflow.run` checks the whole.
 *
 * @since 0.1.0
 * @category models
 */
export interface Dataflow extends Pipeable {
  readonly [TypeId]: TypeId
  readonly id: string
  /** @internal */
  readonly graph: Graph
}

/**
 * A stream of items of type `A` inside a dataflow: the output of one step.
 *
 * @since 0.1.0
 * @category models
 */
export interface Flow<out A> extends Pipeable {
  readonly dataflow: Dataflow
  readonly stepId: string
  /** @internal */
  readonly node: number
  /** @internal */
  readonly port: number
  /** @internal */
  readonly _A?: (_: never) => A
}

/**
 * A keyed item: a string key and a value.
 *
 * @since 0.1.0
 * @category models
 */
export type Keyed<V> = readonly [key: string, value: V]

/**
 * When a keyed step emits. `"each"`: every emission as its item is handled.
 * `"epoch"`: latest per epoch (Kafka Streams' record cache, Flink's
 * mini-batch) — of each key's emissions during an epoch only the last goes
 * out, once, when the epoch closes (before its snapshot, so an exactly-once
 * output commits it with the epoch), the keys in key order. A key that emitted
 * nothing in an epoch emits nothing at its close. At end of input the pending
 * emissions go out before the last epoch closes. A resumed epoch re-runs from
 * its first item, so it emits the same records a failure-free run does.
 *
 * @example
 * ```ts
 * import { Dataflow, Input } from "@sluice/core"
 * import { Schema } from "effect"
 * const emit: Dataflow.KeyedEmit = "epoch"
 * // one ["a", 2] and one ["b", 1] per epoch, instead of ["a", 1], ["b", 1], ["a", 2]
 * const counts = Dataflow.make("x").pipe(
 *   Dataflow.input("in", Input.fromIterable(["a", "b", "a"])),
 *   Dataflow.keyBy("key", (w) => w),
 *   Dataflow.fold("count", { state: Schema.Number, init: () => 0, fold: (n, _w: string) => n + 1, emit })
 * )
 * ```
 * @since 0.1.0
 * @category keyed
 */
export type KeyedEmit = "each" | "epoch"

const DataflowProto = {
  [TypeId]: TypeId,
  pipe() {
    return pipeArguments(this, arguments)
  }
}

const FlowProto = {
  pipe() {
    return pipeArguments(this, arguments)
  }
}

/**
 * Makes an empty dataflow. The id tags its recovery data: a store written by
 * another dataflow id refuses to resume (R7).
 *
 * @example
 * ```ts
 * import { Dataflow } from "@sluice/core"
 * const flow = Dataflow.make("wordcount")
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (id: string): Dataflow => {
  const dataflow = Object.create(DataflowProto)
  dataflow.id = id
  dataflow.graph = { steps: [] } satisfies Graph
  return dataflow
}

const addStep = <A>(
  dataflow: Dataflow,
  stepId: string,
  upstream: ReadonlyArray<Flow<unknown>>,
  kind: StepKind
): Flow<A> => {
  const step: Step = {
    index: dataflow.graph.steps.length,
    stepId,
    upstream: upstream.map((flow) => ({ node: flow.node, port: flow.port })),
    kind
  }
  dataflow.graph.steps.push(step)
  return makeFlow(dataflow, step, 0)
}

/** A keyed step; with a TTL it runs as `stateful` logic, so the plain path stays as fast as it is. */
const addKeyedStep = <A>(
  self: Flow<unknown>,
  stepId: string,
  step: KeyedStep,
  ttl: Duration.DurationInput | undefined,
  emit: KeyedEmit | "end" | undefined = "each"
): Flow<A> => {
  const { logic, state } = ttl === undefined ? step : withTtl(step, Duration.toMillis(ttl))
  return addStep(self.dataflow, stepId, [self], { _tag: "Keyed", state, logic, emitPerEpoch: emit === "epoch" })
}

const makeFlow = <A>(dataflow: Dataflow, step: Step, port: number): Flow<A> => {
  const flow = Object.create(FlowProto)
  flow.dataflow = dataflow
  flow.stepId = step.stepId
  flow.node = step.index
  flow.port = port
  return flow
}

/**
 * Adds an input step.
 *
 * @example
 * ```ts
 * import { Dataflow, Input } from "@sluice/core"
 * const lines = Dataflow.make("wc").pipe(Dataflow.input("lines", Input.fromIterable(["a b"])))
 * ```
 * @since 0.1.0
 * @category inputs
 */
export const input: {
  <A>(stepId: string, source: Input<A>): (self: Dataflow) => Flow<A>
  <A>(self: Dataflow, stepId: string, source: Input<A>): Flow<A>
} = dual(
  3,
  <A>(self: Dataflow, stepId: string, source: Input<A>): Flow<A> =>
    addStep(self, stepId, [], { _tag: "Input", input: source as Input<unknown> })
)

const transform = <A, B>(
  self: Flow<A>,
  stepId: string,
  run: (items: ReadonlyArray<A>) => ReadonlyArray<B>
): Flow<B> => addStep(self.dataflow, stepId, [self], { _tag: "Transform", transform: run })

/**
 * Transforms each item.
 *
 * @example
 * ```ts
 * import { Dataflow, Input } from "@sluice/core"
 * const upper = Dataflow.make("x").pipe(
 *   Dataflow.input("in", Input.fromIterable(["a"])),
 *   Dataflow.map("upper", (s) => s.toUpperCase())
 * )
 * ```
 * @since 0.1.0
 * @category stateless
 */
export const map: {
  <A, B>(stepId: string, f: (a: A) => B): (self: Flow<A>) => Flow<B>
  <A, B>(self: Flow<A>, stepId: string, f: (a: A) => B): Flow<B>
} = dual(3, <A, B>(self: Flow<A>, stepId: string, f: (a: A) => B): Flow<B> =>
  transform(self, stepId, (items) => {
    const out = new Array<B>(items.length)
    for (let i = 0; i < items.length; i++) out[i] = f(items[i])
    return out
  }))

/**
 * Transforms each item into any number of items.
 *
 * @example
 * ```ts
 * import { Dataflow, Input } from "@sluice/core"
 * const words = Dataflow.make("x").pipe(
 *   Dataflow.input("in", Input.fromIterable(["a b"])),
 *   Dataflow.flatMap("split", (line) => line.split(" "))
 * )
 * ```
 * @since 0.1.0
 * @category stateless
 */
export const flatMap: {
  <A, B>(stepId: string, f: (a: A) => Iterable<B>): (self: Flow<A>) => Flow<B>
  <A, B>(self: Flow<A>, stepId: string, f: (a: A) => Iterable<B>): Flow<B>
} = dual(
  3,
  <A, B>(self: Flow<A>, stepId: string, f: (a: A) => Iterable<B>): Flow<B> =>
    transform(self, stepId, (items) => {
      const out: Array<B> = []
      for (let i = 0; i < items.length; i++) {
        const produced = f(items[i])
        if (Array.isArray(produced)) {
          for (let j = 0; j < produced.length; j++) out.push(produced[j])
        } else {
          for (const b of produced) out.push(b)
        }
      }
      return out
    })
)

/**
 * Keeps the items that satisfy a predicate.
 *
 * @example
 * ```ts
 * import { Dataflow, Input } from "@sluice/core"
 * const even = Dataflow.make("x").pipe(
 *   Dataflow.input("in", Input.fromIterable([1, 2, 3])),
 *   Dataflow.filter("even", (n) => n % 2 === 0)
 * )
 * ```
 * @since 0.1.0
 * @category stateless
 */
export const filter: {
  <A, B extends A>(stepId: string, predicate: (a: A) => a is B): (self: Flow<A>) => Flow<B>
  <A>(stepId: string, predicate: (a: A) => boolean): (self: Flow<A>) => Flow<A>
  <A, B extends A>(self: Flow<A>, stepId: string, predicate: (a: A) => a is B): Flow<B>
  <A>(self: Flow<A>, stepId: string, predicate: (a: A) => boolean): Flow<A>
} = dual(
  3,
  <A>(self: Flow<A>, stepId: string, predicate: (a: A) => boolean): Flow<A> =>
    transform(self, stepId, (items) => {
      const out: Array<A> = []
      for (let i = 0; i < items.length; i++) if (predicate(items[i])) out.push(items[i])
      return out
    })
)

/**
 * Transforms each item into an `Option` and keeps the `Some` values.
 *
 * @example
 * ```ts
 * import { Dataflow, Input } from "@sluice/core"
 * import { Option } from "effect"
 * const numbers = Dataflow.make("x").pipe(
 *   Dataflow.input("in", Input.fromIterable(["1", "x"])),
 *   Dataflow.filterMap("parse", (s) => Number.isNaN(Number(s)) ? Option.none() : Option.some(Number(s)))
 * )
 * ```
 * @since 0.1.0
 * @category stateless
 */
export const filterMap: {
  <A, B>(stepId: string, f: (a: A) => Option.Option<B>): (self: Flow<A>) => Flow<B>
  <A, B>(self: Flow<A>, stepId: string, f: (a: A) => Option.Option<B>): Flow<B>
} = dual(
  3,
  <A, B>(self: Flow<A>, stepId: string, f: (a: A) => Option.Option<B>): Flow<B> =>
    transform(self, stepId, (items) => {
      const out: Array<B> = []
      for (let i = 0; i < items.length; i++) {
        const o = f(items[i])
        if (Option.isSome(o)) out.push(o.value)
      }
      return out
    })
)

/**
 * Calls `f` with each item and passes the item on unchanged (for logging or
 * debugging; `f` gets the item alone, not the epoch).
 *
 * @example
 * ```ts
 * import { Dataflow, Input } from "@sluice/core"
 * const seen = Dataflow.make("x").pipe(
 *   Dataflow.input("in", Input.fromIterable([1])),
 *   Dataflow.inspect("debug", (n) => console.log(n))
 * )
 * ```
 * @since 0.1.0
 * @category stateless
 */
export const inspect: {
  <A>(stepId: string, f: (a: A) => void): (self: Flow<A>) => Flow<A>
  <A>(self: Flow<A>, stepId: string, f: (a: A) => void): Flow<A>
} = dual(3, <A>(self: Flow<A>, stepId: string, f: (a: A) => void): Flow<A> =>
  transform(self, stepId, (items) => {
    for (let i = 0; i < items.length; i++) f(items[i])
    return items
  }))

/**
 * Transforms each item with an Effect, keeping the input order; up to
 * `concurrency` items (default 1) run at once.
 *
 * @example
 * ```ts
 * import { Dataflow, Input } from "@sluice/core"
 * import { Effect } from "effect"
 * const looked = Dataflow.make("x").pipe(
 *   Dataflow.input("in", Input.fromIterable([1, 2])),
 *   Dataflow.mapEffect("lookup", (n) => Effect.succeed(n * 2), { concurrency: 4 })
 * )
 * ```
 * @since 0.1.0
 * @category stateless
 */
export const mapEffect: {
  <A, B, E>(
    stepId: string,
    f: (a: A) => Effect.Effect<B, E>,
    options?: { readonly concurrency?: number }
  ): (self: Flow<A>) => Flow<B>
  <A, B, E>(
    self: Flow<A>,
    stepId: string,
    f: (a: A) => Effect.Effect<B, E>,
    options?: { readonly concurrency?: number }
  ): Flow<B>
} = dual(
  (args) => isFlow(args[0]),
  <A, B, E>(
    self: Flow<A>,
    stepId: string,
    f: (a: A) => Effect.Effect<B, E>,
    options?: { readonly concurrency?: number }
  ): Flow<B> => addStep(self.dataflow, stepId, [self], { _tag: "MapEffect", f, concurrency: options?.concurrency ?? 1 })
)

/**
 * Keys each item by a string, making a keyed flow for the stateful operators.
 *
 * @example
 * ```ts
 * import { Dataflow, Input } from "@sluice/core"
 * const keyed = Dataflow.make("x").pipe(
 *   Dataflow.input("in", Input.fromIterable(["a", "b"])),
 *   Dataflow.keyBy("key", (word) => word)
 * )
 * ```
 * @since 0.1.0
 * @category keyed
 */
export const keyBy: {
  <A>(stepId: string, f: (a: A) => string): (self: Flow<A>) => Flow<Keyed<A>>
  <A>(self: Flow<A>, stepId: string, f: (a: A) => string): Flow<Keyed<A>>
} = dual(
  3,
  <A>(self: Flow<A>, stepId: string, f: (a: A) => string): Flow<Keyed<A>> =>
    addStep(self.dataflow, stepId, [self], {
      _tag: "Transform",
      transform: (items: ReadonlyArray<A>) => {
        const out = new Array<Keyed<A>>(items.length)
        for (let i = 0; i < items.length; i++) out[i] = [f(items[i]), items[i]]
        return out
      },
      keyOf: f
    })
)

/**
 * Keeps a state per key. For each item, `step` gets the key's state (from
 * `init` for a new key) and returns the next state and an item to emit;
 * returning `undefined` as next state deletes the key. The state is
 * snapshotted with the `state` schema at each epoch end (R1, R8). With
 * `emit: "epoch"` each key's last emitted item of an epoch goes out once, at
 * the epoch's close (see {@link KeyedEmit}); the default `"each"` emits one
 * item per input item.
 *
 * @example
 * ```ts
 * import { Dataflow, Input } from "@sluice/core"
 * import { Schema } from "effect"
 * const counts = Dataflow.make("x").pipe(
 *   Dataflow.input("in", Input.fromIterable(["a", "b", "a"])),
 *   Dataflow.keyBy("key", (w) => w),
 *   Dataflow.statefulMap("count", {
 *     state: Schema.Number,
 *     init: () => 0,
 *     step: (count, _word) => [count + 1, count + 1]
 *   })
 * )
 * ```
 * @since 0.1.0
 * @category keyed
 */
export const statefulMap: {
  <V, S, B, I = S>(stepId: string, options: {
    readonly state: Schema.Schema<S, I>
    readonly init: (key: string) => S
    readonly step: (state: S, value: V) => readonly [next: S | undefined, emit: B]
    readonly ttl?: Duration.DurationInput
    readonly emit?: KeyedEmit
  }): (self: Flow<Keyed<V>>) => Flow<Keyed<B>>
  <V, S, B, I = S>(self: Flow<Keyed<V>>, stepId: string, options: {
    readonly state: Schema.Schema<S, I>
    readonly init: (key: string) => S
    readonly step: (state: S, value: V) => readonly [next: S | undefined, emit: B]
    readonly ttl?: Duration.DurationInput
    readonly emit?: KeyedEmit
  }): Flow<Keyed<B>>
} = dual(3, <V, S, B, I>(self: Flow<Keyed<V>>, stepId: string, options: {
  readonly state: Schema.Schema<S, I>
  readonly init: (key: string) => S
  readonly step: (state: S, value: V) => readonly [next: S | undefined, emit: B]
  readonly ttl?: Duration.DurationInput
  readonly emit?: KeyedEmit
}): Flow<Keyed<B>> =>
  addKeyedStep(
    self,
    stepId,
    {
      state: options.state,
      logic: { _tag: "StatefulMap", init: options.init, step: options.step }
    },
    options.ttl,
    options.emit
  ))

/**
 * Combines the values of each key: the first value is the accumulator, later
 * ones are combined with `reduce`. Emits the accumulator after each item, or
 * only at end of input with `emit: "end"`, or each changed key's accumulator
 * once per epoch, at its close, with `emit: "epoch"` (see {@link KeyedEmit}).
 *
 * @example
 * ```ts
 * import { Dataflow, Input } from "@sluice/core"
 * import { Schema } from "effect"
 * const max = Dataflow.make("x").pipe(
 *   Dataflow.input("in", Input.fromIterable<Dataflow.Keyed<number>>([["a", 1], ["a", 5]])),
 *   Dataflow.reduce("max", { state: Schema.Number, reduce: (a, b) => Math.max(a, b), emit: "end" })
 * )
 * ```
 * @since 0.1.0
 * @category keyed
 */
export const reduce: {
  <V, I = V>(stepId: string, options: {
    readonly state: Schema.Schema<V, I>
    readonly reduce: (acc: V, value: V) => V
    readonly emit?: KeyedEmit | "end"
    readonly ttl?: Duration.DurationInput
  }): (self: Flow<Keyed<V>>) => Flow<Keyed<V>>
  <V, I = V>(self: Flow<Keyed<V>>, stepId: string, options: {
    readonly state: Schema.Schema<V, I>
    readonly reduce: (acc: V, value: V) => V
    readonly emit?: KeyedEmit | "end"
    readonly ttl?: Duration.DurationInput
  }): Flow<Keyed<V>>
} = dual(3, <V, I>(self: Flow<Keyed<V>>, stepId: string, options: {
  readonly state: Schema.Schema<V, I>
  readonly reduce: (acc: V, value: V) => V
  readonly emit?: KeyedEmit | "end"
  readonly ttl?: Duration.DurationInput
}): Flow<Keyed<V>> =>
  addKeyedStep(
    self,
    stepId,
    {
      state: options.state,
      logic: { _tag: "Fold", init: undefined, fold: options.reduce, emit: options.emit === "end" ? "end" : "each" }
    },
    options.ttl,
    options.emit
  ))

/**
 * Folds the values of each key into an accumulator that starts at `init`.
 * Emits the accumulator after each item, or only at end of input with
 * `emit: "end"`, or each changed key's accumulator once per epoch, at its
 * close, with `emit: "epoch"` (see {@link KeyedEmit}): the word count that
 * writes one record per changed word per epoch.
 *
 * @example
 * ```ts
 * import { Dataflow, Input } from "@sluice/core"
 * import { Schema } from "effect"
 * const lists = Dataflow.make("x").pipe(
 *   Dataflow.input("in", Input.fromIterable<Dataflow.Keyed<number>>([["a", 1], ["a", 5]])),
 *   Dataflow.fold("collect", {
 *     state: Schema.Array(Schema.Number),
 *     init: () => [] as ReadonlyArray<number>,
 *     fold: (acc, n) => [...acc, n],
 *     emit: "end"
 *   })
 * )
 * ```
 * @since 0.1.0
 * @category keyed
 */
export const fold: {
  <V, S, I = S>(stepId: string, options: {
    readonly state: Schema.Schema<S, I>
    readonly init: (key: string) => S
    readonly fold: (acc: S, value: V) => S
    readonly emit?: KeyedEmit | "end"
    readonly ttl?: Duration.DurationInput
  }): (self: Flow<Keyed<V>>) => Flow<Keyed<S>>
  <V, S, I = S>(self: Flow<Keyed<V>>, stepId: string, options: {
    readonly state: Schema.Schema<S, I>
    readonly init: (key: string) => S
    readonly fold: (acc: S, value: V) => S
    readonly emit?: KeyedEmit | "end"
    readonly ttl?: Duration.DurationInput
  }): Flow<Keyed<S>>
} = dual(3, <V, S, I>(self: Flow<Keyed<V>>, stepId: string, options: {
  readonly state: Schema.Schema<S, I>
  readonly init: (key: string) => S
  readonly fold: (acc: S, value: V) => S
  readonly emit?: KeyedEmit | "end"
  readonly ttl?: Duration.DurationInput
}): Flow<Keyed<S>> =>
  addKeyedStep(
    self,
    stepId,
    {
      state: options.state,
      logic: { _tag: "Fold", init: options.init, fold: options.fold, emit: options.emit === "end" ? "end" : "each" }
    },
    options.ttl,
    options.emit
  ))

/**
 * What a `stateful` callback returns: the key's next state, `undefined` to
 * discard the key (a tombstone at the epoch's commit), and the items to emit.
 *
 * @example
 * ```ts
 * import type { Dataflow } from "@sluice/core"
 * const keep: Dataflow.Transition<number, string> = { state: 1, emit: ["seen"] }
 * ```
 * @since 0.1.0
 * @category keyed
 */
export interface Transition<S, O> {
  readonly state: S | undefined
  readonly emit: ReadonlyArray<O>
}

/**
 * The callbacks of `stateful`.
 *
 * @example
 * ```ts
 * import type { Dataflow } from "@sluice/core"
 * import { Schema } from "effect"
 * const options: Dataflow.StatefulOptions<number, number, number> = {
 *   state: Schema.Number,
 *   onItem: (sum, n) => ({ state: (sum ?? 0) + n, emit: [] }),
 *   onEof: (sum) => ({ state: undefined, emit: [sum] })
 * }
 * ```
 * @since 0.1.0
 * @category keyed
 */
export interface StatefulOptions<V, S, O, I = S> {
  /** The snapshot codec of a key's state (R8). */
  readonly state: Schema.Schema<S, I>
  /** Each item of the key, with its state (`undefined` for a new key) and the `Clock` time. */
  readonly onItem: (state: S | undefined, value: V, now: number) => Transition<S, O>
  /**
   * When `notifyAt(state)` is at or before the `Clock` time. Return a state
   * with a later `notifyAt` (or none): a timer still due fires again at the
   * next chunk or epoch end.
   */
  readonly onNotify?: (state: S, now: number) => Transition<S, O>
  /** For every live key at the end of input, in key order. */
  readonly onEof?: (state: S, now: number) => Transition<S, O>
  /** The key's timer, in epoch millis of the `Clock`; `undefined` for none. */
  readonly notifyAt?: (state: S) => number | undefined
  /** Discards a key once this long has passed (`Clock` time) since its last item. */
  readonly ttl?: Duration.DurationInput
  /**
   * `"each"` (the default) emits every item as it is returned; `"epoch"`
   * emits, at each epoch's close, only the last item each key emitted in the
   * epoch (from `onItem`, `onNotify` or `onEof`), in key order.
   */
  readonly emit?: KeyedEmit
}

/**
 * General keyed logic with timers: the building block of the other keyed
 * operators. `onItem` gets each item with its key's state; a key whose
 * `notifyAt(state)` is at or before the `Clock` time gets `onNotify` before
 * the step handles its next chunk and at every epoch end before the snapshot;
 * `onEof` runs for every live key at end of input (each run, including a
 * continuation). Timers are derived from state, so they survive a crash with
 * it. Only keys changed in an epoch are snapshotted (R1). With `emit: "epoch"`
 * only the last item each key emitted during an epoch (from any callback; a
 * timer firing at the epoch's end included) goes out, at the epoch's close.
 *
 * @example
 * ```ts
 * import { Dataflow, Input } from "@sluice/core"
 * import { Schema } from "effect"
 * // a key's running sum, emitted a second after its first item, or at end
 * const sums = Dataflow.make("x").pipe(
 *   Dataflow.input("in", Input.fromIterable([["a", 1], ["a", 2]] as const)),
 *   Dataflow.stateful("sum", {
 *     state: Schema.Struct({ sum: Schema.Number, since: Schema.Number }),
 *     onItem: (s, n: number, now) => ({ state: { sum: (s?.sum ?? 0) + n, since: s?.since ?? now }, emit: [] }),
 *     notifyAt: (s) => s.since + 1000,
 *     onNotify: (s) => ({ state: undefined, emit: [s.sum] }),
 *     onEof: (s) => ({ state: undefined, emit: [s.sum] })
 *   })
 * )
 * ```
 * @since 0.1.0
 * @category keyed
 */
export const stateful: {
  <V, S, O, I = S>(stepId: string, options: StatefulOptions<V, S, O, I>): (self: Flow<Keyed<V>>) => Flow<Keyed<O>>
  <V, S, O, I = S>(self: Flow<Keyed<V>>, stepId: string, options: StatefulOptions<V, S, O, I>): Flow<Keyed<O>>
} = dual(
  3,
  <V, S, O, I>(self: Flow<Keyed<V>>, stepId: string, options: StatefulOptions<V, S, O, I>): Flow<Keyed<O>> =>
    addKeyedStep(
      self,
      stepId,
      {
        state: options.state,
        logic: {
          _tag: "Stateful",
          onItem: options.onItem,
          onNotify: options.onNotify,
          onEof: options.onEof,
          notifyAt: options.notifyAt
        }
      },
      options.ttl,
      options.emit
    )
)

/**
 * Keeps a state per key, from `init` for a new key; `step` returns the next
 * state (`undefined` discards the key) and any number of items to emit
 * (bytewax `stateful_flat_map`). With `emit: "epoch"` only the last item a key
 * emitted during an epoch goes out, at the epoch's close; a key whose steps in
 * the epoch emitted nothing emits nothing (see {@link KeyedEmit}).
 *
 * @example
 * ```ts
 * import { Dataflow, Input } from "@sluice/core"
 * import { Schema } from "effect"
 * // emits every second item of a key
 * const pairs = Dataflow.make("x").pipe(
 *   Dataflow.input("in", Input.fromIterable([["a", 1], ["a", 2]] as const)),
 *   Dataflow.statefulFlatMap("pairs", {
 *     state: Schema.Number,
 *     init: () => 0,
 *     step: (seen, n: number) => [seen + 1, seen % 2 === 1 ? [n] : []]
 *   })
 * )
 * ```
 * @since 0.1.0
 * @category keyed
 */
export const statefulFlatMap: {
  <V, S, O, I = S>(stepId: string, options: {
    readonly state: Schema.Schema<S, I>
    readonly init: () => S
    readonly step: (state: S, value: V) => readonly [next: S | undefined, emit: ReadonlyArray<O>]
    readonly emit?: KeyedEmit
  }): (self: Flow<Keyed<V>>) => Flow<Keyed<O>>
  <V, S, O, I = S>(self: Flow<Keyed<V>>, stepId: string, options: {
    readonly state: Schema.Schema<S, I>
    readonly init: () => S
    readonly step: (state: S, value: V) => readonly [next: S | undefined, emit: ReadonlyArray<O>]
    readonly emit?: KeyedEmit
  }): Flow<Keyed<O>>
} = dual(3, <V, S, O, I>(self: Flow<Keyed<V>>, stepId: string, options: {
  readonly state: Schema.Schema<S, I>
  readonly init: () => S
  readonly step: (state: S, value: V) => readonly [next: S | undefined, emit: ReadonlyArray<O>]
  readonly emit?: KeyedEmit
}): Flow<Keyed<O>> =>
  stateful(self, stepId, {
    state: options.state,
    ...(options.emit === undefined ? {} : { emit: options.emit }),
    onItem: (state, value) => {
      const [next, emit] = options.step(state === undefined ? options.init() : state, value)
      return { state: next, emit }
    }
  }))

/**
 * Gathers each key's items into batches: a batch is emitted when it reaches
 * `maxSize`, when `timeout` has passed (`Clock` time) since its first item,
 * or at end of input. Pending batches are state, snapshotted with `item`.
 *
 * @example
 * ```ts
 * import { Dataflow, Input } from "@sluice/core"
 * import { Schema } from "effect"
 * const batches = Dataflow.make("x").pipe(
 *   Dataflow.input("in", Input.fromIterable([["a", 1], ["a", 2], ["a", 3]] as const)),
 *   Dataflow.collect("batch", { item: Schema.Number, maxSize: 2, timeout: "10 seconds" })
 * )
 * // ["a", [1, 2]], then ["a", [3]] at end of input
 * ```
 * @since 0.1.0
 * @category keyed
 */
export const collect: {
  <V, I = V>(stepId: string, options: CollectOptions<V, I>): (self: Flow<Keyed<V>>) => Flow<Keyed<ReadonlyArray<V>>>
  <V, I = V>(self: Flow<Keyed<V>>, stepId: string, options: CollectOptions<V, I>): Flow<Keyed<ReadonlyArray<V>>>
} = dual(3, <V, I>(self: Flow<Keyed<V>>, stepId: string, options: CollectOptions<V, I>) => {
  const timeout = Duration.toMillis(options.timeout)
  const maxSize = options.maxSize
  if (!(maxSize >= 1)) throw new Error(`collect "${stepId}": maxSize must be at least 1, got ${maxSize}`)
  const flush = (batch: PendingBatch<V>) => ({ state: undefined, emit: [batch.items] })
  return stateful(self, stepId, {
    state: Schema.Struct({ items: Schema.mutable(Schema.Array(options.item)), since: Schema.Number }),
    onItem: (batch: PendingBatch<V> | undefined, value: V, now) => {
      // the batch is the key's own state, so it grows in place
      const next = batch ?? { items: [], since: now }
      next.items.push(value)
      return next.items.length >= maxSize ? flush(next) : { state: next, emit: [] }
    },
    notifyAt: (batch) => batch.since + timeout,
    onNotify: flush,
    onEof: flush
  })
})

/**
 * The options of `collect`.
 *
 * @example
 * ```ts
 * import type { Dataflow } from "@sluice/core"
 * import { Schema } from "effect"
 * const options: Dataflow.CollectOptions<string> = { item: Schema.String, maxSize: 100, timeout: "1 second" }
 * ```
 * @since 0.1.0
 * @category keyed
 */
export interface CollectOptions<V, I = V> {
  /** The snapshot codec of one item of a pending batch. */
  readonly item: Schema.Schema<V, I>
  readonly maxSize: number
  /** How long after its first item a batch is emitted, on `Clock` time. */
  readonly timeout: Duration.DurationInput
}

interface PendingBatch<V> {
  readonly items: Array<V>
  readonly since: number
}

/**
 * Counts the items of each key (from `key`), emitting the counts at end of
 * input (bytewax `count_final`).
 *
 * @example
 * ```ts
 * import { Dataflow, Input } from "@sluice/core"
 * const counts = Dataflow.make("x").pipe(
 *   Dataflow.input("in", Input.fromIterable(["a", "b", "a"])),
 *   Dataflow.countFinal("count", (word: string) => word)
 * )
 * // ["a", 2], ["b", 1]
 * ```
 * @since 0.1.0
 * @category keyed
 */
export const countFinal: {
  <A>(stepId: string, key: (a: A) => string): (self: Flow<A>) => Flow<Keyed<number>>
  <A>(self: Flow<A>, stepId: string, key: (a: A) => string): Flow<Keyed<number>>
} = dual(
  3,
  <A>(self: Flow<A>, stepId: string, key: (a: A) => string): Flow<Keyed<number>> =>
    stateful(keyBy(self, `${stepId}/key`, key), stepId, {
      state: Schema.Number,
      onItem: (count: number | undefined) => ({ state: (count ?? 0) + 1, emit: [] }),
      onEof: emitFinal
    })
)

const emitFinal = <S>(state: S): Transition<S, S> => ({ state: undefined, emit: [state] })

/**
 * The options of `maxFinal` and `minFinal`.
 *
 * @example
 * ```ts
 * import type { Dataflow } from "@sluice/core"
 * import { Order, Schema } from "effect"
 * const options: Dataflow.ExtremeOptions<string> = { value: Schema.String, order: Order.string }
 * ```
 * @since 0.1.0
 * @category keyed
 */
export interface ExtremeOptions<V, I = V> {
  /** The snapshot codec of the extreme so far. */
  readonly value: Schema.Schema<V, I>
  /** Defaults to `<` on the values (numbers, strings). */
  readonly order?: Order.Order<V>
}

const naturalOrder: Order.Order<unknown> = (a, b) => ((a as number) < (b as number) ? -1 : a === b ? 0 : 1)

const extremeFinal = <V, I>(self: Flow<Keyed<V>>, stepId: string, options: ExtremeOptions<V, I>, keepMax: boolean) => {
  const order = options.order ?? naturalOrder
  return stateful(self, stepId, {
    state: options.value,
    onItem: (best: V | undefined, value: V) => ({
      state: best === undefined || (keepMax ? order(value, best) > 0 : order(value, best) < 0) ? value : best,
      emit: []
    }),
    onEof: emitFinal
  })
}

/**
 * The largest value of each key, emitted at end of input (bytewax `max_final`).
 *
 * @example
 * ```ts
 * import { Dataflow, Input } from "@sluice/core"
 * import { Schema } from "effect"
 * const max = Dataflow.make("x").pipe(
 *   Dataflow.input("in", Input.fromIterable([["a", 1], ["a", 5]] as const)),
 *   Dataflow.maxFinal("max", { value: Schema.Number })
 * )
 * ```
 * @since 0.1.0
 * @category keyed
 */
export const maxFinal: {
  <V, I = V>(stepId: string, options: ExtremeOptions<V, I>): (self: Flow<Keyed<V>>) => Flow<Keyed<V>>
  <V, I = V>(self: Flow<Keyed<V>>, stepId: string, options: ExtremeOptions<V, I>): Flow<Keyed<V>>
} = dual(
  3,
  <V, I>(self: Flow<Keyed<V>>, stepId: string, options: ExtremeOptions<V, I>) =>
    extremeFinal(self, stepId, options, true)
)

/**
 * The smallest value of each key, emitted at end of input (bytewax `min_final`).
 *
 * @example
 * ```ts
 * import { Dataflow, Input } from "@sluice/core"
 * import { Schema } from "effect"
 * const min = Dataflow.make("x").pipe(
 *   Dataflow.input("in", Input.fromIterable([["a", 1], ["a", 5]] as const)),
 *   Dataflow.minFinal("min", { value: Schema.Number })
 * )
 * ```
 * @since 0.1.0
 * @category keyed
 */
export const minFinal: {
  <V, I = V>(stepId: string, options: ExtremeOptions<V, I>): (self: Flow<Keyed<V>>) => Flow<Keyed<V>>
  <V, I = V>(self: Flow<Keyed<V>>, stepId: string, options: ExtremeOptions<V, I>): Flow<Keyed<V>>
} = dual(
  3,
  <V, I>(self: Flow<Keyed<V>>, stepId: string, options: ExtremeOptions<V, I>) =>
    extremeFinal(self, stepId, options, false)
)

/**
 * When a join emits (bytewax `JoinEmitMode`): `complete` once every side has
 * a value for the key, then forgets the key; `final` at end of input (or when
 * the window closes, for `joinWindow`), then forgets; `running` on every item,
 * keeping the key.
 *
 * @example
 * ```ts
 * import type { Dataflow } from "@sluice/core"
 * const emit: Dataflow.JoinEmit = "running"
 * ```
 * @since 0.1.0
 * @category joins
 */
export type JoinEmit = "complete" | "final" | "running"

/**
 * What a join keeps of several values of one side (bytewax
 * `JoinInsertMode`): the `last`, the `first`, or every value, emitting their
 * cross `product` with the other sides.
 *
 * @example
 * ```ts
 * import type { Dataflow } from "@sluice/core"
 * const insert: Dataflow.JoinInsert = "product"
 * ```
 * @since 0.1.0
 * @category joins
 */
export type JoinInsert = "last" | "first" | "product"

/**
 * The schemas of a join's sides, one per side in order.
 *
 * @since 0.1.0
 * @category joins
 */
export type JoinSchemas = ReadonlyArray<Schema.Schema.AnyNoContext>

/**
 * A joined row: one value per side, `undefined` for a side without a value.
 *
 * @example
 * ```ts
 * import type { Dataflow } from "@sluice/core"
 * import type { Schema } from "effect"
 * const row: Dataflow.JoinRow<readonly [typeof Schema.Number, typeof Schema.String]> = [1, undefined]
 * ```
 * @since 0.1.0
 * @category joins
 */
export type JoinRow<Ss extends JoinSchemas> = { readonly [K in keyof Ss]: Schema.Schema.Type<Ss[K]> | undefined }

/**
 * The keyed flows a join reads, one per schema.
 *
 * @since 0.1.0
 * @category joins
 */
export type JoinSides<Ss extends JoinSchemas> = { readonly [K in keyof Ss]: Flow<Keyed<Schema.Schema.Type<Ss[K]>>> }

/**
 * An item of one of a join's sides, tagged with the side's index: what a
 * window join sends to `late`.
 *
 * @since 0.1.0
 * @category joins
 */
export type JoinSideItem<Ss extends JoinSchemas> = readonly [side: number, value: Schema.Schema.Type<Ss[number]>]

/**
 * The options of {@link join}.
 *
 * @since 0.1.0
 * @category joins
 */
export interface JoinOptions<Ss extends JoinSchemas> {
  /** The snapshot codec of each side's values, in the order of the sides. */
  readonly schemas: Ss
  /** Default `"complete"`. */
  readonly emit?: JoinEmit
  /** Default `"last"`. */
  readonly insert?: JoinInsert
  /** Discards a key once this long has passed (`Clock` time) since its last item on any side. */
  readonly ttl?: Duration.DurationInput
}

/** Tags each side's items with the side's index and merges them, so one keyed step sees every side. */
const tagSides = (stepId: string, sides: ReadonlyArray<Flow<Keyed<unknown>>>): Flow<Keyed<Tagged>> => {
  if (sides.length === 0) throw new RangeError(`join ${stepId} needs at least one side`)
  const tagged = sides.map((side, index) =>
    map(side, `${stepId}/side${index}`, ([key, value]): Keyed<Tagged> => [key, [index, value]])
  )
  return merge(`${stepId}/merge`, tagged)
}

/**
 * Joins keyed flows on their key (bytewax `join`): a key's state holds each
 * side's value(s), and rows of one value per side are emitted as `emit` says,
 * with `undefined` for a side that has none. Any number of sides; every side
 * is routed by key, so joins work on several workers. A key's state is one
 * snapshot, encoded with the sides' schemas.
 *
 * @example
 * ```ts
 * import { Dataflow, Input } from "@sluice/core"
 * import { Schema } from "effect"
 * const df = Dataflow.make("orders")
 * const orders = df.pipe(
 *   Dataflow.input("orders", Input.fromIterable([{ id: "o1", total: 30 }])),
 *   Dataflow.keyBy("order-id", (o) => o.id)
 * )
 * const payments = df.pipe(
 *   Dataflow.input("payments", Input.fromIterable([{ order: "o1", paid: 30 }])),
 *   Dataflow.keyBy("payment-order", (p) => p.order)
 * )
 * const paid = Dataflow.join("paid", [orders, payments], {
 *   schemas: [
 *     Schema.Struct({ id: Schema.String, total: Schema.Number }),
 *     Schema.Struct({ order: Schema.String, paid: Schema.Number })
 *   ]
 * })
 * // ["o1", [{ id: "o1", total: 30 }, { order: "o1", paid: 30 }]]
 * ```
 * @since 0.1.0
 * @category joins
 */
export const join = <const Ss extends JoinSchemas>(
  stepId: string,
  sides: JoinSides<Ss>,
  options: JoinOptions<Ss>
): Flow<Keyed<JoinRow<Ss>>> => {
  const flows = sides as unknown as ReadonlyArray<Flow<Keyed<unknown>>>
  if (options.schemas.length !== flows.length) {
    throw new RangeError(`join ${stepId} has ${flows.length} sides but ${options.schemas.length} schemas`)
  }
  return addKeyedStep(tagSides(stepId, flows), stepId, {
    state: joinStateSchema(options.schemas),
    logic: joinLogic(flows.length, options.emit ?? "complete", options.insert ?? "last")
  }, options.ttl)
}

/**
 * What a window step returns: the flow of closed windows, with the flow of
 * late items (older than their key's watermark) alongside as `late`, so late
 * data is never dropped silently.
 *
 * @since 0.1.0
 * @category windows
 */
export type WindowFlow<V, S> = Flow<Keyed<Window.Windowed<S>>> & { readonly late: Flow<Keyed<V>> }

/**
 * What every window step is given: the clock that stamps items and moves the
 * watermark, and the windows items fall into.
 *
 * @since 0.1.0
 * @category windows
 */
export interface WindowOptions<V> {
  readonly clock: Window.WindowClock<V>
  readonly window: Window.WindowPolicy
}

/**
 * The options of {@link foldWindow}.
 *
 * @since 0.1.0
 * @category windows
 */
export interface FoldWindowOptions<V, S, I = S> extends WindowOptions<V> {
  readonly state: Schema.Schema<S, I>
  readonly init: () => S
  readonly fold: (acc: S, value: V) => S
  readonly merge?: (a: S, b: S) => S
}

/**
 * The options of {@link reduceWindow}.
 *
 * @since 0.1.0
 * @category windows
 */
export interface ReduceWindowOptions<V, I = V> extends WindowOptions<V> {
  readonly state: Schema.Schema<V, I>
  readonly reduce: (a: V, b: V) => V
}

/**
 * The options of {@link collectWindow}.
 *
 * @since 0.1.0
 * @category windows
 */
export interface CollectWindowOptions<V, I = V> extends WindowOptions<V> {
  readonly item: Schema.Schema<V, I>
}

type WindowKind = Extract<StepKind, { _tag: "Window" }>

const addWindowStep = <V, S>(
  self: Flow<Keyed<V>>,
  stepId: string,
  options: WindowOptions<V>,
  state: WindowKind["state"],
  aggregate: WindowKind["aggregate"]
): WindowFlow<V, S> => {
  const kind: WindowKind = { _tag: "Window", state, clock: options.clock, policy: options.window, aggregate }
  if (kind.policy._tag === "Session" && kind.aggregate.merge === undefined) {
    throw new RangeError(`window step ${stepId} uses session windows, which merge: pass a merge function`)
  }
  const windows = addStep<Keyed<Window.Windowed<S>>>(self.dataflow, stepId, [self], kind)
  const late = makeFlow<Keyed<V>>(self.dataflow, self.dataflow.graph.steps[windows.node], 1)
  return Object.assign(windows, { late })
}

/**
 * Folds each key's values per window into an accumulator that starts at
 * `init`, and emits `[key, { window, value }]` when the window closes. Session
 * windows also need `merge`, for when an item bridges two sessions. Items older
 * than the watermark go to the returned flow's `late`.
 *
 * @example
 * ```ts
 * import { Dataflow, Input, Window } from "@sluice/core"
 * import { Schema } from "effect"
 * interface Event { readonly user: string; readonly at: Date; readonly value: number }
 * const events: Array<Event> = [{ user: "a", at: new Date(1_000), value: 2 }]
 * const sums = Dataflow.make("sums").pipe(
 *   Dataflow.input("events", Input.fromIterable(events)),
 *   Dataflow.keyBy("user", (e) => e.user),
 *   Dataflow.foldWindow("per_user", {
 *     clock: Window.eventClock({ timestamp: (e: Event) => e.at, lateness: "5 seconds" }),
 *     window: Window.tumbling({ length: "10 seconds", alignTo: new Date(0) }),
 *     state: Schema.Number,
 *     init: () => 0,
 *     fold: (sum, e) => sum + e.value
 *   })
 * )
 * const late = sums.late
 * ```
 * @since 0.1.0
 * @category windows
 */
export const foldWindow: {
  <V, S, I = S>(stepId: string, options: FoldWindowOptions<V, S, I>): (self: Flow<Keyed<V>>) => WindowFlow<V, S>
  <V, S, I = S>(self: Flow<Keyed<V>>, stepId: string, options: FoldWindowOptions<V, S, I>): WindowFlow<V, S>
} = dual(
  3,
  <V, S, I>(self: Flow<Keyed<V>>, stepId: string, options: FoldWindowOptions<V, S, I>): WindowFlow<V, S> =>
    addWindowStep<V, S>(self, stepId, options, options.state, {
      init: options.init,
      fold: options.fold,
      merge: options.merge
    })
)

/**
 * Combines each key's values per window with `reduce` (the first value is the
 * accumulator) and emits `[key, { window, value }]` when the window closes.
 *
 * @example
 * ```ts
 * import { Dataflow, Input, Window } from "@sluice/core"
 * import { Schema } from "effect"
 * const maxima = Dataflow.make("max").pipe(
 *   Dataflow.input("in", Input.fromIterable([["a", 3], ["a", 9]] as const)),
 *   Dataflow.map("pairs", (p) => p as readonly [string, number]),
 *   Dataflow.reduceWindow("max", {
 *     clock: Window.systemClock(),
 *     window: Window.tumbling({ length: "1 minute" }),
 *     state: Schema.Number,
 *     reduce: (a, b) => Math.max(a, b)
 *   })
 * )
 * ```
 * @since 0.1.0
 * @category windows
 */
export const reduceWindow: {
  <V, I = V>(stepId: string, options: ReduceWindowOptions<V, I>): (self: Flow<Keyed<V>>) => WindowFlow<V, V>
  <V, I = V>(self: Flow<Keyed<V>>, stepId: string, options: ReduceWindowOptions<V, I>): WindowFlow<V, V>
} = dual(
  3,
  <V, I>(self: Flow<Keyed<V>>, stepId: string, options: ReduceWindowOptions<V, I>): WindowFlow<V, V> =>
    addWindowStep<V, V>(self, stepId, options, options.state, {
      init: undefined,
      fold: options.reduce,
      merge: options.reduce
    })
)

/**
 * Collects each key's items per window, in arrival order, and emits
 * `[key, { window, value: items }]` when the window closes. `item` is the
 * schema the pending items are snapshotted with.
 *
 * @example
 * ```ts
 * import { Dataflow, Input, Window } from "@sluice/core"
 * import { Schema } from "effect"
 * const sessions = Dataflow.make("sessions").pipe(
 *   Dataflow.input("in", Input.fromIterable(["a:click", "a:buy"])),
 *   Dataflow.keyBy("user", (s) => s.split(":")[0]),
 *   Dataflow.collectWindow("session", {
 *     clock: Window.systemClock(),
 *     window: Window.session({ gap: "30 minutes" }),
 *     item: Schema.String
 *   })
 * )
 * ```
 * @since 0.1.0
 * @category windows
 */
export const collectWindow: {
  <V, I = V>(
    stepId: string,
    options: CollectWindowOptions<V, I>
  ): (self: Flow<Keyed<V>>) => WindowFlow<V, ReadonlyArray<V>>
  <V, I = V>(self: Flow<Keyed<V>>, stepId: string, options: CollectWindowOptions<V, I>): WindowFlow<V, ReadonlyArray<V>>
} = dual(
  3,
  <V, I>(self: Flow<Keyed<V>>, stepId: string, options: CollectWindowOptions<V, I>): WindowFlow<V, ReadonlyArray<V>> =>
    addWindowStep<V, ReadonlyArray<V>>(self, stepId, options, Schema.Array(options.item), {
      init: () => [],
      // the accumulator is owned by the window, so appending in place is safe
      fold: (items: Array<V>, item: V) => {
        items.push(item)
        return items
      },
      merge: (a: ReadonlyArray<V>, b: ReadonlyArray<V>) => [...a, ...b]
    })
)

/**
 * The options of {@link joinWindow}.
 *
 * @since 0.1.0
 * @category joins
 */
export interface JoinWindowOptions<Ss extends JoinSchemas> {
  readonly clock: Window.WindowClock<Schema.Schema.Type<Ss[number]>>
  /** How items are assigned to windows (the `window` of `foldWindow`). */
  readonly windower: Window.WindowPolicy
  /** The snapshot codec of each side's values, in the order of the sides. */
  readonly schemas: Ss
  /** Default `"final"`, as bytewax's `join_window`. */
  readonly emit?: JoinEmit
  /** Default `"last"`. */
  readonly insert?: JoinInsert
}

/**
 * Joins keyed flows on their key within windows (bytewax `join_window`): a
 * window's values are applied in timestamp order when it closes, and its rows
 * are emitted as `[key, { window, value: row }]`; `complete` starts afresh in
 * the window after each complete row. Items older than the watermark go to
 * `late`, tagged with their side's index.
 *
 * @example
 * ```ts
 * import { Dataflow, Input, Window } from "@sluice/core"
 * import { Schema } from "effect"
 * const Click = Schema.Struct({ user: Schema.String, at: Schema.Number })
 * const Buy = Schema.Struct({ user: Schema.String, at: Schema.Number, item: Schema.String })
 * const df = Dataflow.make("funnel")
 * const clicks = df.pipe(
 *   Dataflow.input("clicks", Input.fromIterable([{ user: "a", at: 1_000 }])),
 *   Dataflow.keyBy("click-user", (c) => c.user)
 * )
 * const buys = df.pipe(
 *   Dataflow.input("buys", Input.fromIterable([{ user: "a", at: 4_000, item: "book" }])),
 *   Dataflow.keyBy("buy-user", (b) => b.user)
 * )
 * const funnel = Dataflow.joinWindow("funnel", [clicks, buys], {
 *   clock: Window.eventClock({ timestamp: (e: { readonly at: number }) => new Date(e.at), lateness: "5 seconds" }),
 *   windower: Window.session({ gap: "10 seconds" }),
 *   schemas: [Click, Buy]
 * })
 * const late = funnel.late
 * ```
 * @since 0.1.0
 * @category joins
 */
export const joinWindow = <const Ss extends JoinSchemas>(
  stepId: string,
  sides: JoinSides<Ss>,
  options: JoinWindowOptions<Ss>
): WindowFlow<JoinSideItem<Ss>, JoinRow<Ss>> => {
  const flows = sides as unknown as ReadonlyArray<Flow<Keyed<unknown>>>
  if (options.schemas.length !== flows.length) {
    throw new RangeError(`joinWindow ${stepId} has ${flows.length} sides but ${options.schemas.length} schemas`)
  }
  const clock = options.clock as Window.WindowClock<unknown>
  const timestamp = clock._tag === "EventClock" ? (item: Tagged) => clock.timestamp(item[1]).getTime() : undefined
  const taggedClock: Window.WindowClock<Tagged> = clock._tag === "EventClock"
    ? { _tag: "EventClock", lateness: clock.lateness, timestamp: (item: Tagged) => clock.timestamp(item[1]) }
    : clock
  const emit = options.emit ?? "final"
  const insert = options.insert ?? "last"
  const windows = collectWindow(tagSides(stepId, flows), stepId, {
    clock: taggedClock,
    window: options.windower,
    item: taggedSchema(options.schemas) as Schema.Schema<Tagged>
  })
  const joined = flatMap(
    windows,
    `${stepId}/rows`,
    ([key, { value, window }]) =>
      windowRows(flows.length, emit, insert, value, timestamp).map((row) => [key, { window, value: row }] as const)
  )
  return Object.assign(joined as Flow<Keyed<Window.Windowed<JoinRow<Ss>>>>, {
    late: windows.late as Flow<Keyed<unknown>> as Flow<Keyed<JoinSideItem<Ss>>>
  })
}

/**
 * Spreads items evenly over the workers, round robin (bytewax
 * `redistribute`): for stateless work after a step that concentrates items on
 * few workers, such as an input with fewer partitions than workers. Keyed
 * steps route by key anyway, so it is of no use right before them. On one
 * worker it passes items on.
 *
 * @example
 * ```ts
 * import { Dataflow, Input } from "@sluice/core"
 * const spread = Dataflow.make("x").pipe(
 *   Dataflow.input("in", Input.fromIterable([1, 2, 3, 4])),
 *   Dataflow.redistribute("spread"),
 *   Dataflow.map("heavy", (n) => n * n)
 * )
 * ```
 * @since 0.1.0
 * @category graph
 */
export const redistribute: {
  (stepId: string): <A>(self: Flow<A>) => Flow<A>
  <A>(self: Flow<A>, stepId: string): Flow<A>
} = dual(
  2,
  <A>(self: Flow<A>, stepId: string): Flow<A> => addStep(self.dataflow, stepId, [self], { _tag: "Redistribute" })
)

/**
 * Merges several flows of one dataflow into one. Barriers are aligned: the
 * merged flow passes epoch `e`'s barrier on only after every upstream has
 * delivered it, holding back items of later epochs until then (R2).
 *
 * @example
 * ```ts
 * import { Dataflow, Input } from "@sluice/core"
 * const df = Dataflow.make("x")
 * const a = df.pipe(Dataflow.input("a", Input.fromIterable([1])))
 * const b = df.pipe(Dataflow.input("b", Input.fromIterable([2])))
 * const both = Dataflow.merge("both", [a, b])
 * ```
 * @since 0.1.0
 * @category graph
 */
export const merge = <A>(stepId: string, flows: ReadonlyArray<Flow<A>>): Flow<A> => {
  const dataflow = flows[0]?.dataflow
  if (dataflow === undefined) throw new RangeError(`Dataflow.merge ${stepId} needs at least one flow`)
  for (const flow of flows) {
    if (flow.dataflow !== dataflow) {
      throw new RangeError(`Dataflow.merge ${stepId} mixes flows of dataflows ${dataflow.id} and ${flow.dataflow.id}`)
    }
  }
  return addStep(dataflow, stepId, flows, { _tag: "Merge" })
}

/**
 * Splits a flow by a predicate into the items that satisfy it and the rest.
 *
 * @example
 * ```ts
 * import { Dataflow, Input, Output } from "@sluice/core"
 * const df = Dataflow.make("x")
 * const { trues: evens, falses: odds } = df.pipe(
 *   Dataflow.input("in", Input.fromIterable([1, 2, 3])),
 *   Dataflow.branch("even", (n) => n % 2 === 0)
 * )
 * evens.pipe(Dataflow.output("evens", Output.console()))
 * odds.pipe(Dataflow.output("odds", Output.console()))
 * ```
 * @since 0.1.0
 * @category graph
 */
export const branch: {
  <A, B extends A>(stepId: string, predicate: (a: A) => a is B): (self: Flow<A>) => {
    readonly trues: Flow<B>
    readonly falses: Flow<Exclude<A, B>>
  }
  <A>(stepId: string, predicate: (a: A) => boolean): (self: Flow<A>) => {
    readonly trues: Flow<A>
    readonly falses: Flow<A>
  }
  <A, B extends A>(self: Flow<A>, stepId: string, predicate: (a: A) => a is B): {
    readonly trues: Flow<B>
    readonly falses: Flow<Exclude<A, B>>
  }
  <A>(self: Flow<A>, stepId: string, predicate: (a: A) => boolean): {
    readonly trues: Flow<A>
    readonly falses: Flow<A>
  }
} = dual(3, <A>(self: Flow<A>, stepId: string, predicate: (a: A) => boolean) => {
  const trues = addStep<A>(self.dataflow, stepId, [self], { _tag: "Branch", predicate })
  const step = self.dataflow.graph.steps[trues.node]
  return { trues, falses: makeFlow<A>(self.dataflow, step, 1) }
})

/**
 * Sends a flow to an output and returns the dataflow, so a chain of pipes ends
 * with a complete dataflow. A dataflow may have several outputs.
 *
 * @example
 * ```ts
 * import { Dataflow, Input, Output } from "@sluice/core"
 * const flow = Dataflow.make("x").pipe(
 *   Dataflow.input("in", Input.fromIterable([1, 2])),
 *   Dataflow.output("out", Output.console())
 * )
 * ```
 * @since 0.1.0
 * @category outputs
 */
export const output: {
  <A>(stepId: string, destination: Output<A>): (self: Flow<A>) => Dataflow
  <A>(self: Flow<A>, stepId: string, destination: Output<A>): Dataflow
} = dual(3, <A>(self: Flow<A>, stepId: string, destination: Output<A>): Dataflow => {
  addStep(self.dataflow, stepId, [self], { _tag: "Output", output: destination })
  return self.dataflow
})

/**
 * A dataflow named by module and export, so that worker threads can import it:
 * functions do not cross threads. Made with `Dataflow.fromModule`.
 *
 * @since 0.1.0
 * @category running
 */
export interface DataflowModule {
  readonly _tag: "DataflowModule"
  readonly url: string
  readonly exportName: string
}

/**
 * The names of a module's exports that are dataflows or build one.
 *
 * @since 0.1.0
 * @category running
 */
export type DataflowExports<M> =
  & {
    [K in keyof M]: M[K] extends Dataflow | (() => Dataflow) ? K : never
  }[keyof M]
  & string

/**
 * Names a dataflow by the module that exports it (as bytewax's
 * `python -m bytewax.run module:flow`), for runs on several workers. Pass the
 * module's type to have the export name checked.
 *
 * @example
 * ```ts
 * import { Dataflow, RecoveryStore } from "@sluice/core"
 * import { NodeWorkers } from "@sluice/platform-node"
 * import { Effect, Layer } from "effect"
 * // flow.ts: export const wordcount = Dataflow.make("wordcount").pipe(...)
 * // with fromModule<typeof import("./flow.js")>(…) the export name is type-checked against flow.ts
 * const flow = Dataflow.fromModule(new URL("./flow.js", import.meta.url), "wordcount")
 * const program = Dataflow.run(flow, { workers: 2 }).pipe(
 *   Effect.provide(Layer.merge(NodeWorkers.layer, RecoveryStore.layerMemory()))
 * )
 * ```
 * @since 0.1.0
 * @category running
 */
export const fromModule = <M = Record<string, Dataflow>>(
  url: URL | string,
  exportName: DataflowExports<M>
): DataflowModule => ({
  _tag: "DataflowModule",
  url: url instanceof URL ? url.href : url,
  exportName
})

/**
 * Options of a run.
 *
 * @since 0.1.0
 * @category running
 */
export interface RunOptions {
  /** How epochs are cut; default `Epoch.interval("10 seconds")`. */
  readonly epoch?: EpochPolicy
  /** Accept that inputs which cannot resume replay from their start on resume (R11). */
  readonly replayUnresumableInputs?: boolean
  /**
   * Worker threads to run on (default 1, in the calling thread). Input
   * partitions are spread over workers (partition `p` on worker `p mod n`) and
   * keyed items are routed to the worker that owns their key.
   */
  readonly workers?: number
  /**
   * Accept a store written with another worker count and move its state to
   * this run's workers first (by key group, and input positions by partition).
   * Without it such a store refuses to resume (R7).
   */
  readonly rescale?: boolean
  /**
   * How keyed state comes back on resume. `"eager"` (the default) loads every
   * key of every keyed step before the first item. `"lazy"` loads a key on
   * its first item after the resume, read with the other new keys of its
   * chunk, so the first item comes as soon as the inputs open and memory
   * holds only the keys touched since; steps with timers (windows, `notifyAt`,
   * a TTL) still load every key at resume, steps that act at end of input
   * (`fold` with `emit: "end"`, `onEof`) load the keys not yet touched when
   * their input ends. A store whose backend has no `readKeys` restores
   * eagerly. A rescale reads the whole store either way.
   */
  readonly restore?: "eager" | "lazy"
  /** Called after each epoch commits, e.g. to report progress. */
  readonly onEpochCommitted?: (progress: EpochProgress) => Effect.Effect<void>
}

/**
 * What a committed epoch did.
 *
 * @since 0.1.0
 * @category running
 */
export interface EpochProgress {
  readonly dataflowId: string
  readonly epoch: number
  /** Input items read in this epoch. */
  readonly items: number
  /** Input items read since the run started. */
  readonly totalItems: number
  /** Keyed state writes committed with the epoch. */
  readonly snapshots: number
}

/**
 * What a finished run did.
 *
 * @since 0.1.0
 * @category running
 */
export interface RunSummary {
  readonly dataflowId: string
  /** The epoch this run started at: 1 for a fresh store (R3). */
  readonly resumeEpoch: number
  /** The last epoch this run committed. */
  readonly lastEpoch: number
  /** Input items this run read. */
  readonly items: number
}

/**
 * Runs a dataflow to the end of its inputs with the `RecoveryStore` in context:
 * resumes from the last completed epoch, commits every epoch, and fails with a
 * `DataflowError` that names the step, key and epoch.
 *
 * @example
 * ```ts
 * import { Dataflow, Epoch, Input, Output, RecoveryStore } from "@sluice/core"
 * import { Effect } from "effect"
 * const flow = Dataflow.make("x").pipe(
 *   Dataflow.input("in", Input.fromIterable([1, 2, 3])),
 *   Dataflow.output("out", Output.console())
 * )
 * const program = Dataflow.run(flow, { epoch: Epoch.everyItems(2) }).pipe(
 *   Effect.provide(RecoveryStore.layerMemory())
 * )
 * ```
 * @since 0.1.0
 * @category running
 */
export const run = (
  flow: Dataflow | DataflowModule,
  options: RunOptions = {}
): Effect.Effect<RunSummary, DataflowError, RecoveryStore> => {
  const workers = options.workers ?? 1
  if (!Number.isInteger(workers) || workers < 1) {
    return Effect.die(new RangeError(`Dataflow.run needs a whole number of workers of at least 1, got ${workers}`))
  }
  if ("_tag" in flow) {
    if (workers === 1) {
      return Effect.flatMap(loadDataflow(flow.url, flow.exportName), (dataflow) => runtime.run(dataflow, options))
    }
    return Effect.flatMap(Effect.serviceOption(WorkerRuntime), (threads) =>
      Option.isSome(threads)
        ? threads.value.run(flow, workers, options)
        : Effect.fail(
          new InvalidDataflow({
            dataflowId: `${flow.url}#${flow.exportName}`,
            problem: "workers need a thread runtime"
          })
        ))
  }
  return workers === 1
    ? runtime.run(flow, options)
    : Effect.fail(new InvalidDataflow({ dataflowId: flow.id, problem: "workers need a module" }))
}

const isFlow = (u: unknown): u is Flow<unknown> => typeof u === "object" && u !== null && "dataflow" in u && "node" in u

/**
 * One step of a dataflow as `describe` reports it.
 *
 * @since 0.2.0
 * @category introspection
 */
export interface StepDescription {
  /** The step id given when the step was added. */
  readonly id: string
  /** The operator family that added the step. */
  readonly kind:
    | "input"
    | "transform"
    | "mapEffect"
    | "statefulMap"
    | "fold"
    | "stateful"
    | "window"
    | "merge"
    | "branch"
    | "redistribute"
    | "output"
  /** Whether the step keeps recoverable state: keyed and window steps, and resumable inputs' positions. */
  readonly stateful: boolean
}

/**
 * The steps of a dataflow and the edges between them, in the order the steps
 * were added (a topological order).
 *
 * @since 0.2.0
 * @category introspection
 */
export interface DataflowGraph {
  readonly id: string
  readonly steps: ReadonlyArray<StepDescription>
  /** `port` is present on the edges that leave a `branch`: `"true"` or `"false"`. */
  readonly edges: ReadonlyArray<{ readonly from: string; readonly to: string; readonly port?: "true" | "false" }>
}

/**
 * Describes a dataflow's steps and edges, e.g. to draw the graph or to check
 * which steps keep state.
 *
 * @example
 * ```ts
 * import { Dataflow, Input, Output } from "@sluice/core"
 * import { Schema } from "effect"
 * const flow = Dataflow.make("x").pipe(
 *   Dataflow.input("in", Input.fromIterable(["a", "b", "a"])),
 *   Dataflow.keyBy("key", (word) => word),
 *   Dataflow.map("one", ([word]) => [word, 1] as const),
 *   Dataflow.reduce("count", { state: Schema.Number, reduce: (a, b) => a + b }),
 *   Dataflow.output("out", Output.console())
 * )
 * Dataflow.describe(flow).steps.map((step) => step.kind) // ["input", "transform", "transform", "fold", "output"]
 * ```
 * @since 0.2.0
 * @category introspection
 */
export const describe: (dataflow: Dataflow) => DataflowGraph = describeGraph

/**
 * Decodes a snapshot of one of the dataflow's steps as the step does on
 * resume, e.g. to show what a store holds (`sluice store dump --module`):
 * keyed and window steps with their state schema (a `fold` that emits at end
 * as `{ state, pending }`), input positions as their JSON. A snapshot that
 * does not decode gives the reason, as a resume would fail with it. `value`
 * is the snapshot's text as the store returns it.
 *
 * @example
 * ```ts
 * import { Dataflow, Input, Output } from "@sluice/core"
 * import { Schema } from "effect"
 * const flow = Dataflow.make("x").pipe(
 *   Dataflow.input("in", Input.fromIterable(["a", "b", "a"])),
 *   Dataflow.keyBy("key", (word) => word),
 *   Dataflow.statefulMap("count", { state: Schema.Number, init: () => 0, step: (n, _w) => [n + 1, n + 1] }),
 *   Dataflow.output("out", Output.console())
 * )
 * Dataflow.decodeSnapshot(flow, "count", "2") // Either.right(2)
 * ```
 * @since 0.2.0
 * @category introspection
 */
export const decodeSnapshot: (dataflow: Dataflow, stepId: string, value: string) => Either.Either<unknown, string> =
  decodeStepSnapshot
