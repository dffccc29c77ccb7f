import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"
import { type DataflowError, type RecoveryError, StateDecodeError, StepFailed } from "../DataflowError.js"
import type { OutputWriter } from "../Output.js"
import type { EpochTransaction, Snapshot } from "../RecoveryStore.js"
import type { FusedKeyBy, KeyedLogic } from "./graph.js"
import * as StateCodec from "./stateCodec.js"

/** What every step of a running worker shares. @internal */
export interface RunContext {
  readonly dataflowId: string
  readonly workerIndex: number
  epoch: number
  /** The transaction of the epoch in progress, for barriers that arrive from other workers. */
  transaction?: EpochTransaction | undefined
}

interface Target {
  readonly operator: Operator
  readonly slot: number
}

type Step = Effect.Effect<void, DataflowError>

const forEachTarget = (targets: ReadonlyArray<Target>, f: (target: Target) => Step): Step =>
  targets.length === 1 ? f(targets[0]) : Effect.forEach(targets, f, { discard: true })

/**
 * The most items a step hands the next one at once; a larger chunk is passed
 * on in pieces of this size. V8 decides per allocation site whether to
 * allocate its objects in the old generation, from the share of them a young
 * GC finds alive. A keyed step's `[key, value]` pairs live until the chunk
 * holding them has gone downstream: with chunks of tens of thousands of items,
 * a GC could find most of the pairs made since the one before still alive,
 * and the pairs were then allocated old for the rest of the process. The word
 * count at 100k-word epochs ran at 1.8–2.2 M or 2.6–3.0 M words/s by which way
 * that went (3 of 10 processes slow; all fast with
 * `--no-allocation-site-pretenuring`). With pieces of 1,024 it ran fast in 10
 * of 10, at 2.6–3.3 M (bench/PROFILE.md, "Chunks kept young").
 */
const MAX_CHUNK = 1024

const chunksOf = (items: ReadonlyArray<unknown>): Array<ReadonlyArray<unknown>> => {
  const chunks: Array<ReadonlyArray<unknown>> = []
  for (let start = 0; start < items.length; start += MAX_CHUNK) chunks.push(items.slice(start, start + MAX_CHUNK))
  return chunks
}

/**
 * A step at run time. Items arrive as arrays (a chunk each), barriers and end
 * of input arrive per upstream slot. Work is synchronous inside one chunk; an
 * Effect runs per chunk, never per item.
 *
 * @internal
 */
export abstract class Operator {
  /** Downstream targets per output port. */
  readonly targets: Array<Array<Target>> = [[], []]
  /** Items that reached this step since the run last reported them; counted per chunk. */
  itemsIn = 0
  /** Items this step emitted (an output: wrote) since the run last reported them. */
  itemsOut = 0
  constructor(readonly stepId: string, readonly context: RunContext) {}

  abstract push(slot: number, items: ReadonlyArray<unknown>): Step

  barrier(_slot: number, transaction: EpochTransaction): Step {
    return this.forwardBarrier(transaction)
  }

  end(_slot: number): Step {
    return this.forwardEnd()
  }

  protected emit(port: number, items: ReadonlyArray<unknown>): Step {
    const targets = this.targets[port]
    if (items.length === 0 || targets.length === 0) return Effect.void
    this.itemsOut += items.length
    for (let i = 0; i < targets.length; i++) targets[i].operator.itemsIn += items.length
    if (items.length <= MAX_CHUNK) return forEachTarget(targets, (t) => t.operator.push(t.slot, items))
    return Effect.forEach(
      chunksOf(items),
      (chunk) => forEachTarget(targets, (t) => t.operator.push(t.slot, chunk)),
      { discard: true }
    )
  }

  protected forwardBarrier(transaction: EpochTransaction): Step {
    return Effect.forEach(
      this.targets,
      (targets) => forEachTarget(targets, (t) => t.operator.barrier(t.slot, transaction)),
      {
        discard: true
      }
    )
  }

  protected forwardEnd(): Step {
    return Effect.forEach(this.targets, (targets) => forEachTarget(targets, (t) => t.operator.end(t.slot)), {
      discard: true
    })
  }

  protected failed(cause: unknown, key?: string): StepFailed {
    return new StepFailed({
      stepId: this.stepId,
      epoch: this.context.epoch,
      ...(key === undefined ? {} : { key }),
      cause
    })
  }

  /** Turns failures and defects of user Effects into `StepFailed`; interruption stays interruption. */
  protected guard<A>(effect: Effect.Effect<A, unknown>): Effect.Effect<A, StepFailed> {
    return Effect.catchAllCause(
      effect,
      (cause) =>
        Cause.isInterruptedOnly(cause)
          ? Effect.failCause(cause as Cause.Cause<never>)
          : Effect.fail(this.failed(Cause.squash(cause)))
    )
  }
}

/** An input step, and any step that passes items on as they come (`redistribute`). @internal */
export class InputOperator extends Operator {
  push(_slot: number, items: ReadonlyArray<unknown>): Step {
    this.itemsIn += items.length
    return this.emit(0, items)
  }
}

/** @internal */
export class TransformOperator extends Operator {
  constructor(
    stepId: string,
    context: RunContext,
    readonly transform: (items: ReadonlyArray<any>) => ReadonlyArray<unknown>
  ) {
    super(stepId, context)
  }
  push(_slot: number, items: ReadonlyArray<unknown>): Step {
    return Effect.suspend(() => {
      let out: ReadonlyArray<unknown>
      try {
        out = this.transform(items)
      } catch (error) {
        return Effect.fail(this.failed(error))
      }
      return this.emit(0, out)
    })
  }
}

/** @internal */
export class MapEffectOperator extends Operator {
  constructor(
    stepId: string,
    context: RunContext,
    readonly f: (item: any) => Effect.Effect<unknown, unknown>,
    readonly concurrency: number
  ) {
    super(stepId, context)
  }
  push(_slot: number, items: ReadonlyArray<unknown>): Step {
    return this.guard(
      Effect.forEach(items, (item) => Effect.suspend(() => this.f(item)), { concurrency: this.concurrency })
    )
      .pipe(Effect.flatMap((out) => this.emit(0, out)))
  }
}

/** @internal */
export class BranchOperator extends Operator {
  constructor(stepId: string, context: RunContext, readonly predicate: (item: any) => boolean) {
    super(stepId, context)
  }
  push(_slot: number, items: ReadonlyArray<unknown>): Step {
    return Effect.suspend(() => {
      const trues: Array<unknown> = []
      const falses: Array<unknown> = []
      try {
        for (let i = 0; i < items.length; i++) (this.predicate(items[i]) ? trues : falses).push(items[i])
      } catch (error) {
        return Effect.fail(this.failed(error))
      }
      return Effect.zipRight(this.emit(0, trues), this.emit(1, falses))
    })
  }
}

/**
 * R2 wherever several senders meet (a merge's upstreams, an exchange's
 * workers): after a sender delivers the barrier of epoch `e`, its items wait
 * until every sender has delivered it; then the barrier goes on, and the held
 * items after it. End of input is aligned too.
 *
 * @internal
 */
export class BarrierAlignment {
  private readonly barrierEpoch: Array<number>
  private readonly held: Array<Array<ReadonlyArray<unknown>>>
  private readonly ended: Array<boolean>
  forwardedEpoch = 0
  allEnded = false

  constructor(senders: number) {
    this.barrierEpoch = new Array(senders).fill(0)
    this.held = Array.from({ length: senders }, () => [])
    this.ended = new Array(senders).fill(false)
  }

  /** Passes items on, or holds them when their sender is past the aligned epoch. */
  items(sender: number, items: ReadonlyArray<unknown>, pass: (items: ReadonlyArray<unknown>) => Step): Step {
    if (items.length === 0) return Effect.void
    if (this.barrierEpoch[sender] > this.forwardedEpoch) {
      this.held[sender].push(items)
      return Effect.void
    }
    return pass(items)
  }

  /** Records a sender's barrier; once all have sent `epoch`, forwards it and releases what was held. */
  barrier(sender: number, epoch: number, forward: Step, pass: (items: ReadonlyArray<unknown>) => Step): Step {
    return Effect.suspend(() => {
      this.barrierEpoch[sender] = epoch
      if (this.forwardedEpoch >= epoch || this.barrierEpoch.some((e) => e < epoch)) return Effect.void
      this.forwardedEpoch = epoch
      const released = this.held.flatMap((chunks) => chunks.splice(0))
      return Effect.zipRight(forward, Effect.forEach(released, pass, { discard: true }))
    })
  }

  /** Records a sender's end of input; once all have ended, runs `forward` once. */
  end(sender: number, forward: Step): Step {
    this.ended[sender] = true
    if (this.allEnded || !this.ended.every(Boolean)) return Effect.void
    this.allEnded = true
    return forward
  }
}

/** @internal */
export class MergeOperator extends Operator {
  private readonly alignment: BarrierAlignment
  private readonly pass = (items: ReadonlyArray<unknown>) => this.emit(0, items)

  constructor(stepId: string, context: RunContext, readonly upstreamCount: number) {
    super(stepId, context)
    this.alignment = new BarrierAlignment(upstreamCount)
  }

  push(slot: number, items: ReadonlyArray<unknown>): Step {
    return this.alignment.items(slot, items, this.pass)
  }

  override barrier(slot: number, transaction: EpochTransaction): Step {
    return this.alignment.barrier(
      slot,
      transaction.epoch,
      Effect.suspend(() => this.forwardBarrier(transaction)),
      this.pass
    )
  }

  override end(slot: number): Step {
    return this.alignment.end(slot, Effect.suspend(() => this.forwardEnd()))
  }
}

/** @internal */
export class OutputOperator extends Operator {
  constructor(stepId: string, context: RunContext, readonly writer: OutputWriter<unknown>) {
    super(stepId, context)
  }
  private outputContext() {
    return { stepId: this.stepId, epoch: this.context.epoch, workerIndex: this.context.workerIndex }
  }
  push(_slot: number, items: ReadonlyArray<unknown>): Step {
    return this.guard(Effect.suspend(() => {
      this.itemsOut += items.length
      return this.writer.write(Chunk.unsafeFromArray(items), this.outputContext())
    }))
  }
  override barrier(_slot: number, transaction: EpochTransaction): Step {
    const beforeCommit = this.writer.beforeCommit
    return beforeCommit === undefined
      ? Effect.void
      : this.guard(Effect.suspend(() => beforeCommit({ ...this.outputContext(), transaction })))
  }
}

interface Entry {
  state: unknown
  /** Changed since the last snapshot. */
  dirty: boolean
  /** Changed since last emitted, for steps that emit at end of input. */
  pending: boolean
  /** Has a snapshot in the store: only then does discarding the key need a tombstone. */
  stored: boolean
}

/**
 * Where a lazily restored step reads its keys: the snapshots as of the resume
 * point of the keys asked for, and of all keys for a step that must visit
 * every key when its input ends.
 *
 * @internal
 */
export interface LazyRestore {
  readonly readKeys: (keys: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<Snapshot>, RecoveryError>
  readonly snapshots: Stream.Stream<Snapshot, RecoveryError>
}

/** Why a key with a lone surrogate cannot take state: see `KeyedStateOperator.snapshot`. */
const UNSTORABLE_KEY = "the key holds a lone surrogate (half of a UTF-16 pair), which no store can keep as " +
  "UTF-8 text: key the step by well-formed strings (String.prototype.toWellFormed replaces lone surrogates)"

/**
 * Keyed state with snapshots, shared by every keyed step. Only keys changed in
 * an epoch are written at its barrier; deleted keys write tombstones (R1).
 * Steps that emit at end of input snapshot `[state, pending]` so a resumed run
 * still emits what a clean run would, and a finished one emits nothing again
 * (R13).
 *
 * @internal
 */
export abstract class KeyedStateOperator extends Operator {
  protected readonly entries = new Map<string, Entry>()
  /**
   * The keys changed in the epoch, and beside each its entry: the snapshot
   * reads the entry from here, not from `entries` again (a lookup per changed
   * key: 0.35 s of a 2M-word run at 10k-word epochs, bench/PROFILE.md). A
   * deleted entry is marked clean, so a key deleted and set again in one
   * epoch is written once, from its new entry.
   */
  private dirtyKeys: Array<string> = []
  private dirtyEntries: Array<Entry> = []
  private deletedKeys = new Set<string>()
  /**
   * With `emit: "epoch"`: each key's last emission since the epoch began. It
   * is empty at every snapshot, so it needs no place in one: a resumed epoch
   * re-runs from its first item and fills it again.
   */
  protected readonly latest: Map<string, unknown> | undefined

  constructor(
    stepId: string,
    context: RunContext,
    readonly codec: StateCodec.StateCodec<unknown>,
    readonly emitsAtEnd: boolean,
    emitPerEpoch = false
  ) {
    super(stepId, context)
    this.latest = emitPerEpoch ? new Map() : undefined
  }

  /**
   * Emits the epoch's latest emissions in key order: the arrival order of
   * keys can differ between runs when several workers feed the step.
   */
  protected emitLatest(): Step {
    const latest = this.latest
    if (latest === undefined || latest.size === 0) return Effect.void
    const out: Array<readonly [string, unknown]> = Array.from(latest)
    latest.clear()
    out.sort(byKey)
    return this.emit(0, out)
  }

  /** Restores the snapshots of the resume point (R3), failing on state that no longer decodes (R8). */
  load(snapshots: Stream.Stream<Snapshot, RecoveryError>): Effect.Effect<number, RecoveryError | StateDecodeError> {
    let loaded = 0
    return Stream.runForEachChunk(snapshots, (chunk) =>
      Effect.suspend(() => {
        for (const { key, value } of chunk) {
          const failure = this.restore(key, value)
          if (failure !== undefined) return Effect.fail(failure)
          loaded++
        }
        return Effect.void
      })).pipe(Effect.as(loaded))
  }

  /**
   * Puts one snapshot of the resume point in memory, or says why it does not
   * decode. A million keys restore here before the first item after an eager
   * resume: no Either per row on the path where every row decodes.
   */
  private restore(key: string, value: Snapshot["value"]): StateDecodeError | undefined {
    let json: unknown
    try {
      json = StateCodec.parseJson(value)
    } catch (error) {
      return new StateDecodeError({
        stepId: this.stepId,
        key,
        issue: `snapshot is not JSON: ${(error as Error).message}`
      })
    }
    let encoded = json
    let pending = false
    if (this.emitsAtEnd) {
      const pair = StateCodec.readPendingPair(json)
      if (pair === undefined) {
        return new StateDecodeError({ stepId: this.stepId, key, issue: StateCodec.notAPendingPair })
      }
      ;[encoded, pending] = pair
    }
    const decoded = this.codec.fromEncoded(encoded)
    if (Either.isLeft(decoded)) return new StateDecodeError({ stepId: this.stepId, key, issue: decoded.left })
    this.entries.set(key, { state: decoded.right, dirty: false, pending, stored: true })
    return undefined
  }

  /**
   * Whether the step can restore a key on its first item. A step with timers
   * cannot: a key's timer must fire whether or not an item for the key comes,
   * so every key is loaded at resume.
   */
  get restoresLazily(): boolean {
    return true
  }

  /** Whether the step visits every key at end of input (`fold` with `emit: "end"`, `onEof`). */
  protected get visitsEveryKeyAtEnd(): boolean {
    return this.emitsAtEnd
  }

  /**
   * Keys a lazy restore looked up and found without state, and keys deleted
   * since the resume: the store's snapshot of these is stale or missing, so
   * they are never read again. `undefined` for an eager restore.
   */
  private absent: Set<string> | undefined = undefined

  /**
   * Restores keys on their first item instead of at resume: before a chunk
   * runs, the keys of the chunk neither in memory nor known absent are read
   * with one `readKeys` call. A step that visits every key at end of input
   * reads the keys it has not seen when its input ends. The per-item loops
   * (`push` of each step) stay as they are: the lookup wraps them per chunk.
   */
  restoreLazily(source: LazyRestore): void {
    const absent = this.absent = new Set()
    const pushRestored = this.push.bind(this)
    this.push = (slot, items) =>
      Effect.suspend(() => {
        const wanted = this.keysToRead(items, absent)
        if (wanted === undefined) return pushRestored(slot, items)
        return Effect.flatMap(source.readKeys(wanted), (snapshots) => {
          for (const { key, value } of snapshots) {
            const failure = this.restore(key, value)
            if (failure !== undefined) return Effect.fail(failure)
          }
          return Effect.tap(pushRestored(slot, items), () => {
            // after the chunk, so the keys it created are not remembered twice
            for (const key of wanted) if (!this.entries.has(key)) absent.add(key)
          })
        })
      })
    if (!this.visitsEveryKeyAtEnd) return
    const endRestored = this.end.bind(this)
    let restoredAll = false
    this.end = (slot) =>
      Effect.suspend(() => {
        if (restoredAll) return endRestored(slot)
        restoredAll = true
        return Effect.zipRight(this.restoreUnseen(source.snapshots, absent), endRestored(slot))
      })
  }

  /**
   * The key function of a `keyBy` fused into this step, whose items then
   * arrive raw instead of as `[key, value]` pairs.
   */
  protected get fusedKeyOf(): ((item: unknown) => string) | undefined {
    return undefined
  }

  private keysToRead(items: ReadonlyArray<unknown>, absent: ReadonlySet<string>): Array<string> | undefined {
    const entries = this.entries
    const keyOf = this.fusedKeyOf
    let wanted: Set<string> | undefined
    try {
      for (let i = 0; i < items.length; i++) {
        const key = keyOf === undefined ? (items[i] as readonly [string, unknown])[0] : keyOf(items[i])
        if (!entries.has(key) && !absent.has(key)) (wanted ??= new Set()).add(key)
      }
    } catch {
      // a key function that throws: the step's own loop fails on the same item, naming the step and key
    }
    return wanted === undefined ? undefined : Array.from(wanted)
  }

  /** Restores every key of the resume point the run has neither in memory nor known absent. */
  private restoreUnseen(
    snapshots: Stream.Stream<Snapshot, RecoveryError>,
    absent: ReadonlySet<string>
  ): Effect.Effect<void, RecoveryError | StateDecodeError> {
    return Stream.runForEachChunk(snapshots, (chunk) =>
      Effect.suspend(() => {
        for (const { key, value } of chunk) {
          if (this.entries.has(key) || absent.has(key)) continue
          const failure = this.restore(key, value)
          if (failure !== undefined) return Effect.fail(failure)
        }
        return Effect.void
      }))
  }

  /** Sets a key's state; `undefined` deletes the key. */
  protected set(key: string, entry: Entry | undefined, next: unknown): void {
    if (next === undefined) {
      if (entry !== undefined) {
        this.entries.delete(key)
        entry.dirty = false
        // a key born and discarded within the epoch never reached the store (a join's complete rows, mostly)
        if (entry.stored) this.deletedKeys.add(key)
        // its snapshot at the resume point is stale now
        this.absent?.add(key)
      }
      return
    }
    if (entry === undefined) {
      const created: Entry = { state: next, dirty: true, pending: this.emitsAtEnd, stored: false }
      this.entries.set(key, created)
      this.dirtyKeys.push(key)
      this.dirtyEntries.push(created)
      return
    }
    entry.state = next
    if (this.emitsAtEnd) entry.pending = true
    this.markDirty(key, entry)
  }

  protected markDirty(key: string, entry: Entry): void {
    if (!entry.dirty) {
      entry.dirty = true
      this.dirtyKeys.push(key)
      this.dirtyEntries.push(entry)
    }
  }

  /**
   * Writes the keys changed in the epoch into its transaction. A key must be
   * well-formed Unicode: every durable store keeps keys as UTF-8, where a lone
   * surrogate has no encoding and would come back as another key (U+FFFD),
   * which the snapshot's checksum then refuses at resume. The epoch fails
   * here instead, before anything of it is committed, on every store alike.
   */
  protected snapshot(transaction: EpochTransaction): Effect.Effect<void, StepFailed> {
    let key: string | undefined
    try {
      const dirtyKeys = this.dirtyKeys
      const dirtyEntries = this.dirtyEntries
      for (let i = 0; i < dirtyKeys.length; i++) {
        key = dirtyKeys[i]
        const entry = dirtyEntries[i]
        if (!entry.dirty) continue
        if (!key.isWellFormed()) throw new Error(UNSTORABLE_KEY)
        entry.dirty = false
        entry.stored = true
        const encoded = this.codec.toEncoded(entry.state)
        transaction.write(
          this.stepId,
          key,
          StateCodec.encodeJson(this.emitsAtEnd ? [encoded, entry.pending] : encoded)
        )
      }
      for (key of this.deletedKeys) {
        if (!this.entries.has(key)) transaction.write(this.stepId, key, null)
      }
    } catch (error) {
      return Effect.fail(this.failed(error, key))
    }
    this.dirtyKeys = []
    this.dirtyEntries = []
    this.deletedKeys = new Set()
    return Effect.void
  }

  /** An epoch's latest emissions go out inside it, before its snapshot, so they commit with it. */
  override barrier(_slot: number, transaction: EpochTransaction): Step {
    return Effect.zipRight(
      Effect.suspend(() => Effect.zipRight(this.emitLatest(), this.snapshot(transaction))),
      this.forwardBarrier(transaction)
    )
  }
}

/**
 * `statefulMap`, `reduce` and `fold`. With `keyBy` (a `keyBy` fused into this
 * step) items arrive raw and are keyed here, so no pair is made per item.
 *
 * @internal
 */
export class KeyedOperator extends KeyedStateOperator {
  constructor(
    stepId: string,
    context: RunContext,
    codec: StateCodec.StateCodec<unknown>,
    readonly logic: Exclude<KeyedLogic, { readonly _tag: "Stateful" }>,
    emitPerEpoch: boolean,
    readonly keyBy: FusedKeyBy | undefined
  ) {
    super(stepId, context, codec, logic._tag === "Fold" && logic.emit === "end", emitPerEpoch)
  }

  protected override get fusedKeyOf(): ((item: unknown) => string) | undefined {
    return this.keyBy?.keyOf
  }

  push(_slot: number, items: ReadonlyArray<unknown>): Step {
    return Effect.suspend(() => {
      // emit "each" fills `out`; "epoch" keeps `latest`; "end" neither
      const latest = this.latest
      const emitEach = !this.emitsAtEnd && latest === undefined
      const out: Array<readonly [string, unknown]> = emitEach ? new Array(items.length) : []
      const keyOf = this.keyBy?.keyOf
      const entries = this.entries
      let key: string | undefined
      const logic = this.logic
      // one loop for both logics: `step` is set for statefulMap, `fold` for reduce and fold
      const step = logic._tag === "StatefulMap" ? logic.step : undefined
      const fold = logic._tag === "Fold" ? logic.fold : undefined
      const init = logic.init
      const emitsAtEnd = this.emitsAtEnd
      try {
        for (let i = 0; i < items.length; i++) {
          let value: unknown
          if (keyOf === undefined) {
            const pair = items[i] as readonly [string, unknown]
            key = pair[0]
            value = pair[1]
          } else {
            value = items[i]
            try {
              key = keyOf(value)
            } catch (error) {
              // the key function is the keyBy's: its failure is the keyBy step's, as without fusion
              const stepId = this.keyBy!.stepId
              return Effect.fail(new StepFailed({ stepId, epoch: this.context.epoch, cause: error }))
            }
          }
          const entry = entries.get(key)
          let next: unknown
          let emitted: unknown
          if (step !== undefined) {
            // V8 inlines `step` here and does not allocate its `[next, emitted]` (bench/PROFILE.md)
            const result = step(entry === undefined ? init!(key) : entry.state, value)
            next = result[0]
            emitted = result[1]
          } else {
            next = emitted = entry === undefined
              ? (init === undefined ? value : fold!(init(key), value))
              : fold!(entry.state, value)
          }
          if (emitEach) out[i] = [key, emitted]
          else if (latest !== undefined) latest.set(key, emitted)
          if (entry !== undefined && next !== undefined && !emitsAtEnd) {
            // the common case of `set`, inlined: an existing key that stays
            entry.state = next
            if (!entry.dirty) this.markDirty(key, entry)
          } else this.set(key, entry, next)
        }
      } catch (error) {
        return Effect.fail(this.failed(error, key))
      }
      return this.emit(0, out)
    })
  }

  /** Pending `emit: "end"` values go out in key order; `"epoch"` ones before the last epoch closes. */
  override end(_slot: number): Step {
    if (!this.emitsAtEnd) return Effect.zipRight(Effect.suspend(() => this.emitLatest()), this.forwardEnd())
    return Effect.suspend(() => {
      const out: Array<readonly [string, unknown]> = []
      for (const [key, entry] of this.entries) {
        if (!entry.pending) continue
        out.push([key, entry.state])
        entry.pending = false
        this.markDirty(key, entry)
      }
      // key order, not the map's: after a resume the map is in the store's order
      out.sort(byKey)
      return Effect.zipRight(this.emit(0, out), this.forwardEnd())
    })
  }
}

/** Orders keyed items by key, for emissions that are not driven by input order. @internal */
export const byKey = (a: readonly [string, unknown], b: readonly [string, unknown]): number =>
  a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0
