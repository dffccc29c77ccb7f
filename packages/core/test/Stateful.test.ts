import { assert, describe, it } from "@effect/vitest"
import { Dataflow, DataflowError, Epoch, Input, Output, RecoveryStore } from "@sluice/core"
import { Cause, Effect, Exit, Fiber, Option, Order, Queue, Ref, Schema, TestClock } from "effect"
import { End, queueInput } from "./fixtures/queueInput.js"
import { recordingBackend } from "./fixtures/recordingBackend.js"

const PhaseState = Schema.Struct({
  phase: Schema.Literal("ITEM", "NOTIFY", "EOF"),
  notifyAt: Schema.NullOr(Schema.Number)
})
type Phase = "NEW" | typeof PhaseState.Type.phase

/** Each callback emits the state transition it makes, as bytewax's `BaseTestLogic`. */
const phases = (options: {
  readonly afterItem?: "retain" | "discard"
  readonly afterNotify?: "retain" | "discard"
  readonly afterEof?: "retain" | "discard"
  readonly itemTriggersNotify?: boolean
}): Dataflow.StatefulOptions<number, typeof PhaseState.Type, readonly [Phase, Phase]> => {
  const to = (
    from: Phase,
    phase: typeof PhaseState.Type.phase,
    keep: "retain" | "discard" | undefined,
    notifyAt: number | null
  ) => ({
    state: keep === "discard" ? undefined : { phase, notifyAt },
    emit: [[from, phase] as const]
  })
  return {
    state: PhaseState,
    onItem: (s, _v, now) =>
      to(s?.phase ?? "NEW", "ITEM", options.afterItem, options.itemTriggersNotify ? now : s?.notifyAt ?? null),
    onNotify: (s) => to(s.phase, "NOTIFY", options.afterNotify, null),
    onEof: (s) => to(s.phase, "EOF", options.afterEof, s.notifyAt),
    notifyAt: (s) => s.notifyAt ?? undefined
  }
}

/** An input that fails the run once at `abortAt` (an index), as bytewax's `TestingSource.ABORT()`. */
const abortingRun = <A>(
  items: ReadonlyArray<A>,
  build: (flow: Dataflow.Flow<A>) => Dataflow.Flow<unknown>,
  out: Ref.Ref<Array<unknown>>
) => {
  const aborts = new Set<number>()
  const flow = (abortAt: ReadonlyArray<number>) => {
    abortAt.forEach((i) => aborts.add(i))
    const df = Dataflow.make("test_df")
    build(
      df.pipe(
        Dataflow.input("inp", Input.fromIterable(items.map((item, index) => [index, item] as const))),
        Dataflow.map("abort", ([index, item]) => {
          if (aborts.delete(index)) throw new Error("ABORT")
          return item
        })
      )
    ).pipe(Dataflow.output("out", Output.collect(out)))
    return df
  }
  return flow
}

const runIn = (flow: Dataflow.Dataflow, handle: RecoveryStore.MemoryHandle) =>
  Dataflow.run(flow, { epoch: Epoch.everyItems(1) }).pipe(
    Effect.provide(RecoveryStore.layerMemory(handle)),
    Effect.exit
  )

/** Runs a queue-fed flow in the background with an epoch per second of `Clock` time, so timers fire while input idles. */
const forkTicking = (flow: Dataflow.Dataflow) =>
  Dataflow.run(flow, { epoch: Epoch.interval("1 second") }).pipe(
    Effect.provide(RecoveryStore.layerMemory()),
    Effect.fork
  )

const allKey = (flow: Dataflow.Flow<number>) => flow.pipe(Dataflow.keyBy("key", () => "ALL"))

describe("stateful (bytewax test_stateful)", () => {
  it.effect("a timer that fell due while the dataflow was down fires for its key after the resume, not at end of input", () =>
    Effect.gen(function*() {
      const handle = RecoveryStore.makeMemoryHandle()
      const out = yield* Ref.make<Array<unknown>>([])
      let abort = true
      const flow = () =>
        Dataflow.make("timers").pipe(
          Dataflow.input("inp", Input.fromIterable(["a", "b", "b"])),
          Dataflow.map("abort", (key: string) => {
            if (key === "b" && abort) {
              abort = false
              throw new Error("ABORT")
            }
            return key
          }),
          Dataflow.keyBy("key", (key) => key),
          Dataflow.stateful("timer", {
            state: Schema.Number,
            onItem: (deadline: number | undefined, _key: string, now) => ({ state: deadline ?? now + 1000, emit: [] }),
            onNotify: () => ({ state: undefined, emit: ["notified"] }),
            onEof: () => ({ state: undefined, emit: ["eof"] }),
            notifyAt: (deadline) => deadline
          }),
          Dataflow.output("out", Output.collect(out))
        )
      // epoch 1 commits key a with its deadline at 1000; epoch 2 fails
      assert.isTrue(Exit.isFailure(yield* runIn(flow(), handle)))
      yield* TestClock.adjust("2 seconds")
      assert.isTrue(Exit.isSuccess(yield* runIn(flow(), handle)))
      const forA = (yield* Ref.get(out)).filter((item) => (item as readonly [string, string])[0] === "a")
      assert.deepStrictEqual(forA, [["a", "notified"]])
    }))

  const runPhases = (options: Parameters<typeof phases>[0]) =>
    Effect.gen(function*() {
      const out = yield* Ref.make<Array<unknown>>([])
      const flow = abortingRun([1, 2], (f) => allKey(f).pipe(Dataflow.stateful("stateful", phases(options))), out)
      yield* runIn(flow([]), RecoveryStore.makeMemoryHandle())
      return yield* Ref.get(out)
    })

  it.effect("on item discard: every item sees a new key", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* runPhases({ afterItem: "discard" }), [
        ["ALL", ["NEW", "ITEM"]],
        ["ALL", ["NEW", "ITEM"]]
      ])
    }))

  it.effect("on item retain: the second item sees the first one's state", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* runPhases({}), [
        ["ALL", ["NEW", "ITEM"]],
        ["ALL", ["ITEM", "ITEM"]],
        ["ALL", ["ITEM", "EOF"]]
      ])
    }))

  it.effect("on notify discard: a notification due now fires before the next item", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* runPhases({ itemTriggersNotify: true, afterNotify: "discard" }), [
        ["ALL", ["NEW", "ITEM"]],
        ["ALL", ["ITEM", "NOTIFY"]],
        ["ALL", ["NEW", "ITEM"]],
        ["ALL", ["ITEM", "NOTIFY"]]
      ])
    }))

  it.effect("on notify retain", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* runPhases({ itemTriggersNotify: true }), [
        ["ALL", ["NEW", "ITEM"]],
        ["ALL", ["ITEM", "NOTIFY"]],
        ["ALL", ["NOTIFY", "ITEM"]],
        ["ALL", ["ITEM", "NOTIFY"]],
        ["ALL", ["NOTIFY", "EOF"]]
      ])
    }))

  const eofRuns = (afterEof: "retain" | "discard") =>
    Effect.gen(function*() {
      const out = yield* Ref.make<Array<unknown>>([])
      const handle = RecoveryStore.makeMemoryHandle()
      const build = (items: ReadonlyArray<number>) =>
        abortingRun(items, (f) => allKey(f).pipe(Dataflow.stateful("stateful", phases({ afterEof }))), out)([])
      yield* runIn(build([1]), handle)
      const first = yield* Ref.getAndSet(out, [])
      // the continuation: the input grew by one item
      yield* runIn(build([1, 2]), handle)
      return [first, yield* Ref.get(out)]
    })

  it.effect("on eof discard: the continuation starts the key anew", () =>
    Effect.gen(function*() {
      const [first, second] = yield* eofRuns("discard")
      assert.deepStrictEqual(first, [["ALL", ["NEW", "ITEM"]], ["ALL", ["ITEM", "EOF"]]])
      assert.deepStrictEqual(second, [["ALL", ["NEW", "ITEM"]], ["ALL", ["ITEM", "EOF"]]])
    }))

  it.effect("on eof retain: the continuation sees the EOF state, and onEof runs again at its end", () =>
    Effect.gen(function*() {
      const [first, second] = yield* eofRuns("retain")
      assert.deepStrictEqual(first, [["ALL", ["NEW", "ITEM"]], ["ALL", ["ITEM", "EOF"]]])
      assert.deepStrictEqual(second, [["ALL", ["EOF", "ITEM"]], ["ALL", ["ITEM", "EOF"]]])
    }))

  /** bytewax's `KeepLastLogic`: the state is the last value; the value "DISCARD" discards the key. */
  const keepLast = Dataflow.stateful("stateful", {
    state: Schema.String,
    onItem: (last: string | undefined, value: string) => ({
      state: value === "DISCARD" ? undefined : value,
      emit: [[last ?? null, value] as const]
    })
  })

  it.effect("snapshots per key and discards per key survive an abort", () =>
    Effect.gen(function*() {
      const out = yield* Ref.make<Array<unknown>>([])
      const handle = RecoveryStore.makeMemoryHandle()
      const items = [["a", "a1"], ["b", "b1"], ["a", "DISCARD"], ["b", "b2"], ["a", "a3"], ["b", "b3"]] as const
      const flow = abortingRun(items, (f) => f.pipe(keepLast), out)
      assert.isTrue(Exit.isFailure(yield* runIn(flow([4]), handle)))
      assert.deepStrictEqual(yield* Ref.getAndSet(out, []), [
        ["a", [null, "a1"]],
        ["b", [null, "b1"]],
        ["a", ["a1", "DISCARD"]],
        ["b", ["b1", "b2"]]
      ])
      assert.isTrue(Exit.isSuccess(yield* runIn(flow([]), handle)))
      assert.deepStrictEqual(yield* Ref.get(out), [["a", [null, "a3"]], ["b", ["b2", "b3"]]])
    }))

  it.effect("recovers older snapshots: each run resumes from the last completed epoch", () =>
    Effect.gen(function*() {
      const out = yield* Ref.make<Array<unknown>>([])
      const handle = RecoveryStore.makeMemoryHandle()
      const items = [["a", "a1"], ["b", "b1"], ["c", "c1"], ["b", "DISCARD"], ["a", "a2"], ["b", "b2"], [
        "c",
        "c2"
      ]] as const
      const flow = abortingRun(items, (f) => f.pipe(keepLast), out)
      const runs: Array<unknown> = []
      for (const abortAt of [[1], [2], [4], []]) {
        yield* runIn(flow(abortAt), handle)
        runs.push(yield* Ref.getAndSet(out, []))
      }
      assert.deepStrictEqual(runs, [
        [["a", [null, "a1"]]],
        [["b", [null, "b1"]]],
        [["c", [null, "c1"]], ["b", ["b1", "DISCARD"]]],
        [["a", ["a1", "a2"]], ["b", [null, "b2"]], ["c", ["c1", "c2"]]]
      ])
    }))

  it.effect("writes one snapshot per key changed in the epoch, and a tombstone for a discarded key (R1)", () =>
    Effect.gen(function*() {
      const { backend: recording, writes } = recordingBackend("stateful")
      const out = yield* Ref.make<Array<unknown>>([])
      const items = [["a", "1"], ["b", "1"], ["a", "2"], ["a", "3"], ["b", "DISCARD"]] as const
      const flow = abortingRun(items, (f) => f.pipe(keepLast), out)([])
      yield* Dataflow.run(flow, { epoch: Epoch.everyItems(2) }).pipe(Effect.provide(RecoveryStore.layer(recording)))
      assert.deepStrictEqual(writes.filter((w) => w.length > 0), [["a=v", "b=v"], ["a=v"], ["b=x"]])
    }))

  it.effect("timers follow Clock time: a key's notification fires once its time has come, input idle or not", () =>
    Effect.gen(function*() {
      const queue = yield* Queue.unbounded<readonly [string, number] | typeof End>()
      const out = yield* Ref.make<Array<unknown>>([])
      const flow = Dataflow.make("timers").pipe(
        Dataflow.input("in", queueInput(queue)),
        Dataflow.stateful("sum", {
          state: Schema.Struct({ sum: Schema.Number, since: Schema.Number }),
          onItem: (s, n: number, now) => ({ state: { sum: (s?.sum ?? 0) + n, since: s?.since ?? now }, emit: [] }),
          notifyAt: (s) => s.since + 10_000,
          onNotify: (s, now) => ({ state: undefined, emit: [`${s.sum} at ${now}`] }),
          onEof: (s) => ({ state: undefined, emit: [`${s.sum} at end`] })
        }),
        Dataflow.output("out", Output.collect(out))
      )
      const fiber = yield* forkTicking(flow)
      yield* Queue.offerAll(queue, [["a", 1], ["b", 5]])
      yield* TestClock.adjust("4 seconds")
      yield* Queue.offer(queue, ["a", 2])
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(yield* Ref.get(out), [])
      yield* TestClock.adjust("1 second") // 10 s after a and b began: the epoch tick fires both, input idle
      assert.deepStrictEqual(yield* Ref.get(out), [["a", "3 at 10000"], ["b", "5 at 10000"]])
      yield* Queue.offerAll(queue, [["a", 7], End])
      yield* Fiber.join(fiber)
      assert.deepStrictEqual((yield* Ref.get(out)).slice(2), [["a", "7 at end"]])
    }))

  it.effect("ttl discards a key not seen for that long; statefulMap with ttl restarts it from init", () =>
    Effect.gen(function*() {
      const queue = yield* Queue.unbounded<readonly [string, number] | typeof End>()
      const out = yield* Ref.make<Array<unknown>>([])
      const flow = Dataflow.make("ttl").pipe(
        Dataflow.input("in", queueInput(queue)),
        Dataflow.statefulMap("count", {
          state: Schema.Number,
          init: () => 0,
          step: (count, _n: number) => [count + 1, count + 1],
          ttl: "5 seconds"
        }),
        Dataflow.output("out", Output.collect(out))
      )
      const fiber = yield* forkTicking(flow)
      yield* Queue.offerAll(queue, [["a", 1], ["b", 1]])
      yield* TestClock.adjust("4 seconds")
      yield* Queue.offer(queue, ["a", 1])
      yield* TestClock.adjust("3 seconds") // b was last seen 7 s ago, a 3 s ago
      yield* Queue.offerAll(queue, [["a", 1], ["b", 1], End])
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(yield* Ref.get(out), [["a", 1], ["b", 1], ["a", 2], ["a", 3], ["b", 1]])
    }))
})

describe("statefulFlatMap", () => {
  it.effect("emits any number of items per value and discards a key on undefined", () =>
    Effect.gen(function*() {
      const out = yield* Ref.make<Array<readonly [string, number]>>([])
      const flow = Dataflow.make("sfm").pipe(
        Dataflow.input("in", Input.fromIterable([["a", 1], ["a", 2], ["a", 3], ["b", 4], ["a", 5]] as const)),
        Dataflow.statefulFlatMap("pairs", {
          state: Schema.Array(Schema.Number),
          init: () => [] as ReadonlyArray<number>,
          // a key emits its two values and starts over once it has two
          step: (held, n: number) => held.length === 1 ? [undefined, [held[0], n]] : [[...held, n], []]
        }),
        Dataflow.output("out", Output.collect(out))
      )
      yield* Dataflow.run(flow).pipe(Effect.provide(RecoveryStore.layerMemory()))
      // "b" holds its one value: nothing to emit yet
      assert.deepStrictEqual(yield* Ref.get(out), [["a", 1], ["a", 2], ["a", 3], ["a", 5]])
    }))
})

describe("collect (bytewax test_collect)", () => {
  it.effect("emits batches of maxSize, and the rest at end of input", () =>
    Effect.gen(function*() {
      const out = yield* Ref.make<Array<unknown>>([])
      const flow = Dataflow.make("test_df").pipe(
        Dataflow.input("inp", Input.fromIterable(Array.from({ length: 10 }, (_, i) => i))),
        Dataflow.keyBy("key", () => "ALL"),
        Dataflow.collect("collect", { item: Schema.Number, maxSize: 3, timeout: "10 seconds" }),
        Dataflow.output("out", Output.collect(out))
      )
      yield* Dataflow.run(flow).pipe(Effect.provide(RecoveryStore.layerMemory()))
      assert.deepStrictEqual(yield* Ref.get(out), [["ALL", [0, 1, 2]], ["ALL", [3, 4, 5]], ["ALL", [6, 7, 8]], [
        "ALL",
        [9]
      ]])
    }))

  it.effect("emits a batch once timeout has passed since its first item (Clock time)", () =>
    Effect.gen(function*() {
      const queue = yield* Queue.unbounded<number | typeof End>()
      const out = yield* Ref.make<Array<unknown>>([])
      const flow = Dataflow.make("timeout").pipe(
        Dataflow.input("in", queueInput(queue)),
        Dataflow.keyBy("key", (n) => (n % 2 === 0 ? "even" : "odd")),
        Dataflow.collect("collect", { item: Schema.Number, maxSize: 100, timeout: "10 seconds" }),
        Dataflow.output("out", Output.collect(out))
      )
      const fiber = yield* forkTicking(flow)
      yield* Queue.offerAll(queue, [1, 2])
      yield* TestClock.adjust("6 seconds")
      yield* Queue.offerAll(queue, [3, 5])
      yield* TestClock.adjust("4 seconds")
      assert.deepStrictEqual(yield* Ref.get(out), [["even", [2]], ["odd", [1, 3, 5]]])
      yield* Queue.offerAll(queue, [7, End])
      yield* Fiber.join(fiber)
      assert.deepStrictEqual((yield* Ref.get(out)).slice(2), [["odd", [7]]])
    }))
})

describe("countFinal, maxFinal, minFinal (bytewax test_count_final, test_max_min_final)", () => {
  it.effect("countFinal counts per key at end of input", () =>
    Effect.gen(function*() {
      const out = yield* Ref.make<Array<unknown>>([])
      const flow = Dataflow.make("test_df").pipe(
        Dataflow.input("inp", Input.fromIterable(["a", "a", "b", "c", "b", "a"])),
        Dataflow.countFinal("count", (s: string) => s),
        Dataflow.output("out", Output.collect(out))
      )
      yield* Dataflow.run(flow, { epoch: Epoch.everyItems(2) }).pipe(Effect.provide(RecoveryStore.layerMemory()))
      assert.deepStrictEqual(yield* Ref.get(out), [["a", 3], ["b", 2], ["c", 1]])
    }))

  const events = [{ user: "a", val: 1 }, { user: "a", val: 9 }, { user: "a", val: 3 }]
  const Event = Schema.Struct({ user: Schema.String, val: Schema.Number })
  const byVal = Order.mapInput(Order.number, (e: typeof Event.Type) => e.val)
  const extreme = (op: typeof Dataflow.maxFinal) =>
    Effect.gen(function*() {
      const out = yield* Ref.make<Array<unknown>>([])
      const flow = Dataflow.make("test_df").pipe(
        Dataflow.input("inp", Input.fromIterable(events)),
        Dataflow.keyBy("key_on_user", (e) => e.user),
        op("extreme", { value: Event, order: byVal }),
        Dataflow.output("out", Output.collect(out))
      )
      yield* Dataflow.run(flow).pipe(Effect.provide(RecoveryStore.layerMemory()))
      return yield* Ref.get(out)
    })

  it.effect("maxFinal keeps the largest by the order", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* extreme(Dataflow.maxFinal), [["a", { user: "a", val: 9 }]])
    }))

  it.effect("minFinal keeps the smallest by the order", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* extreme(Dataflow.minFinal), [["a", { user: "a", val: 1 }]])
    }))

  it.effect("without an order, values compare with <; a finished run emits nothing again", () =>
    Effect.gen(function*() {
      const out = yield* Ref.make<Array<unknown>>([])
      const handle = RecoveryStore.makeMemoryHandle()
      const flow = Dataflow.make("plain").pipe(
        Dataflow.input("inp", Input.fromIterable([["a", 3], ["b", 2], ["a", 8], ["b", 1]] as const)),
        Dataflow.minFinal("min", { value: Schema.Number }),
        Dataflow.output("out", Output.collect(out))
      )
      yield* runIn(flow, handle)
      assert.deepStrictEqual(yield* Ref.getAndSet(out, []), [["a", 3], ["b", 1]])
      yield* runIn(flow, handle)
      assert.deepStrictEqual(yield* Ref.get(out), [])
    }))
})

describe("stateful failures and ttl on end-emitting steps", () => {
  it.effect("a key with a lone surrogate fails its epoch before the commit, naming step, key and epoch", () =>
    Effect.gen(function*() {
      const handle = RecoveryStore.makeMemoryHandle()
      const out = yield* Ref.make<Array<readonly [string, number]>>([])
      const flow = (second: string) =>
        Dataflow.make("surrogates").pipe(
          Dataflow.input("in", Input.fromIterable([["ok\ud83d\ude00", 1], [second, 2]] as const)),
          Dataflow.reduce("sum", { state: Schema.Number, reduce: (a: number, b: number) => a + b }),
          Dataflow.output("out", Output.collect(out))
        )
      const run = (second: string) =>
        Dataflow.run(flow(second), { epoch: Epoch.everyItems(1) }).pipe(
          Effect.provide(RecoveryStore.layerMemory(handle))
        )
      // "a\ud83d" is what slicing "a😀" by code units leaves; "\ud83d\ude00" is a whole pair and stores
      const exit = yield* Effect.exit(run("a\ud83d"))
      const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      assert.isTrue(Option.isSome(failure) && failure.value instanceof DataflowError.StepFailed)
      const error = Option.getOrThrow(failure) as DataflowError.StepFailed
      assert.strictEqual(error.stepId, "sum")
      assert.strictEqual(error.key, "a\ud83d")
      assert.strictEqual(error.epoch, 2)
      assert.include(error.message, "lone surrogate")
      // epoch 1 committed, epoch 2 did not: the fixed flow resumes at 2 and replays only its item
      yield* Ref.set(out, [])
      const summary = yield* run("a")
      assert.strictEqual(summary.resumeEpoch, 2)
      assert.deepStrictEqual(yield* Ref.get(out), [["a", 2]])
    }))

  it.effect("a throwing callback fails the step, naming the step and the key", () =>
    Effect.gen(function*() {
      const flow = Dataflow.make("failing").pipe(
        Dataflow.input("in", Input.fromIterable([["a", 1], ["bad", 2]] as const)),
        Dataflow.stateful("check", {
          state: Schema.Number,
          onItem: (_s, n: number) => {
            if (n === 2) throw new Error("no twos")
            return { state: n, emit: [] }
          }
        }),
        Dataflow.output("out", Output.sink(() => Effect.void))
      )
      const exit = yield* Dataflow.run(flow).pipe(Effect.provide(RecoveryStore.layerMemory()), Effect.exit)
      assert.isTrue(Exit.isFailure(exit))
      const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      assert.isTrue(Option.isSome(failure) && failure.value instanceof DataflowError.StepFailed)
      const error = Option.getOrThrow(failure) as DataflowError.StepFailed
      assert.strictEqual(error.stepId, "check")
      assert.strictEqual(error.key, "bad")
    }))

  it.effect("reduce with emit: end and a ttl emits at end only the keys still live", () =>
    Effect.gen(function*() {
      const queue = yield* Queue.unbounded<readonly [string, number] | typeof End>()
      const out = yield* Ref.make<Array<unknown>>([])
      const flow = Dataflow.make("ttl-end").pipe(
        Dataflow.input("in", queueInput(queue)),
        Dataflow.reduce("sum", { state: Schema.Number, reduce: (a, b) => a + b, emit: "end", ttl: "5 seconds" }),
        Dataflow.output("out", Output.collect(out))
      )
      const fiber = yield* forkTicking(flow)
      yield* Queue.offerAll(queue, [["a", 1], ["b", 2]])
      yield* TestClock.adjust("3 seconds")
      yield* Queue.offer(queue, ["a", 10])
      yield* TestClock.adjust("3 seconds") // b expired at 5 s; a was seen at 3 s
      yield* Queue.offerAll(queue, [["c", 4], End])
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(yield* Ref.get(out), [["a", 11], ["c", 4]])
    }))
})
