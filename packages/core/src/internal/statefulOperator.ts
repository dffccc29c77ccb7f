import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import type { DataflowError, RecoveryError, StateDecodeError, StepFailed } from "../DataflowError.js"
import type { EpochTransaction, Snapshot } from "../RecoveryStore.js"
import type { StatefulLogic, Transition } from "./graph.js"
import { KeyedStateOperator, type RunContext } from "./operators.js"
import type * as StateCodec from "./stateCodec.js"

type Out = Array<readonly [string, unknown]>

/**
 * The keys whose timers are set, ordered by due time then key so that
 * notifications fire in the same order in every run. A min-heap with lazy
 * deletion: a key's entry is live only while `due` still holds its time.
 */
class Timers {
  readonly due = new Map<string, number>()
  private readonly heap: Array<readonly [number, string]> = []

  set(key: string, at: number | undefined): void {
    if (at === undefined) {
      this.due.delete(key)
      return
    }
    if (this.due.get(key) === at) return
    this.due.set(key, at)
    this.heap.push([at, key])
    this.up(this.heap.length - 1)
  }

  /** Removes and returns the keys due at or before `now`, in (time, key) order. */
  takeDue(now: number): Array<string> {
    const taken: Array<string> = []
    const heap = this.heap
    while (heap.length > 0 && heap[0][0] <= now) {
      const [at, key] = heap[0]
      const last = heap.pop()!
      if (heap.length > 0) {
        heap[0] = last
        this.down(0)
      }
      if (this.due.get(key) === at) {
        this.due.delete(key)
        taken.push(key)
      }
    }
    return taken
  }

  private less(a: readonly [number, string], b: readonly [number, string]): boolean {
    return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1])
  }

  private up(i: number): void {
    const heap = this.heap
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.less(heap[i], heap[parent])) return
      ;[heap[i], heap[parent]] = [heap[parent], heap[i]]
      i = parent
    }
  }

  private down(i: number): void {
    const heap = this.heap
    for (;;) {
      const left = 2 * i + 1
      const right = left + 1
      let smallest = i
      if (left < heap.length && this.less(heap[left], heap[smallest])) smallest = left
      if (right < heap.length && this.less(heap[right], heap[smallest])) smallest = right
      if (smallest === i) return
      ;[heap[i], heap[smallest]] = [heap[smallest], heap[i]]
      i = smallest
    }
  }
}

/**
 * `stateful` and the operators built on it: per-key logic with timers. Timers
 * are not stored: they are `notifyAt` of the state, so they come back with the
 * snapshots after a resume. Due timers fire before each chunk and at each
 * barrier before the snapshot, on `Clock` time read once per chunk.
 *
 * @internal
 */
export class StatefulOperator extends KeyedStateOperator {
  private readonly timers = new Timers()

  constructor(
    stepId: string,
    context: RunContext,
    codec: StateCodec.StateCodec<unknown>,
    readonly logic: StatefulLogic,
    emitPerEpoch: boolean
  ) {
    super(stepId, context, codec, false, emitPerEpoch)
  }

  /** Timers fire whether or not a key's items come: a step with `notifyAt` restores every key at resume. */
  override get restoresLazily(): boolean {
    return this.logic.notifyAt === undefined
  }

  protected override get visitsEveryKeyAtEnd(): boolean {
    return this.logic.onEof !== undefined
  }

  /** Set after a resume: the timers of the loaded keys are rebuilt on first use, where a throwing `notifyAt` fails the step. */
  private timersToRebuild = false

  override load(
    snapshots: Stream.Stream<Snapshot, RecoveryError>
  ): Effect.Effect<number, RecoveryError | StateDecodeError> {
    return Effect.tap(super.load(snapshots), () => {
      this.timersToRebuild = true
    })
  }

  private notifyAt(state: unknown): number | undefined {
    return this.logic.notifyAt === undefined ? undefined : this.logic.notifyAt(state)
  }

  /** Applies a transition to a key: its new state, its timer, its emissions (with `emit: "epoch"` only the last, kept). */
  private apply(key: string, transition: Transition, out: Out): void {
    const next = transition.state
    this.set(key, this.entries.get(key), next)
    this.timers.set(key, next === undefined ? undefined : this.notifyAt(next))
    const emit = transition.emit
    if (this.latest !== undefined) {
      if (emit.length > 0) this.latest.set(key, emit[emit.length - 1])
      return
    }
    for (let i = 0; i < emit.length; i++) out.push([key, emit[i]])
  }

  private fireDue(now: number, out: Out, at: { key?: string }): void {
    const onNotify = this.logic.onNotify
    if (this.timers.due.size === 0) return
    for (const key of this.timers.takeDue(now)) {
      at.key = key
      const entry = this.entries.get(key)
      if (entry === undefined) continue
      if (onNotify === undefined) {
        this.timers.set(key, undefined)
        continue
      }
      this.apply(key, onNotify(entry.state, now), out)
    }
  }

  /** Runs `f` on the Clock's time, turning a throw into `StepFailed` for the key in hand. */
  private run(f: (now: number, out: Out, at: { key?: string }) => void): Effect.Effect<Out, StepFailed> {
    return Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const out: Out = []
      const at: { key?: string } = {}
      try {
        if (this.timersToRebuild) {
          this.timersToRebuild = false
          for (const [key, entry] of this.entries) {
            at.key = key
            this.timers.set(key, this.notifyAt(entry.state))
          }
        }
        f(now, out, at)
      } catch (error) {
        return Effect.fail(this.failed(error, at.key))
      }
      return Effect.succeed(out)
    })
  }

  push(_slot: number, items: ReadonlyArray<unknown>): Effect.Effect<void, DataflowError> {
    return Effect.flatMap(
      this.run((now, out, at) => {
        this.fireDue(now, out, at)
        const onItem = this.logic.onItem
        const pairs = items as ReadonlyArray<readonly [string, unknown]>
        for (let i = 0; i < pairs.length; i++) {
          const key = at.key = pairs[i][0]
          const entry = this.entries.get(key)
          this.apply(key, onItem(entry?.state, pairs[i][1], now, key), out)
        }
      }),
      (out) => this.emit(0, out)
    )
  }

  /** Timers due by now fire inside the epoch that is closing, before its snapshot. */
  override barrier(slot: number, transaction: EpochTransaction): Effect.Effect<void, DataflowError> {
    return Effect.flatMap(
      this.run((now, out, at) => this.fireDue(now, out, at)),
      (out) => Effect.zipRight(this.emit(0, out), super.barrier(slot, transaction))
    )
  }

  /** Every live key gets `onEof`, in key order, after the timers due by now. */
  override end(_slot: number): Effect.Effect<void, DataflowError> {
    return Effect.flatMap(
      this.run((now, out, at) => {
        this.fireDue(now, out, at)
        const onEof = this.logic.onEof
        if (onEof === undefined) return
        const keys = Array.from(this.entries.keys()).sort()
        for (const key of keys) {
          at.key = key
          this.apply(key, onEof(this.entries.get(key)!.state, now), out)
        }
      }),
      (out) => Effect.zipRight(this.emit(0, out), Effect.zipRight(this.emitLatest(), this.forwardEnd()))
    )
  }
}
