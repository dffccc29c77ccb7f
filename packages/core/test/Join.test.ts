import { assert, describe, it } from "@effect/vitest"
import { Dataflow, Epoch, Input, Output, RecoveryStore, Window } from "@sluice/core"
import { Duration, Effect, Exit, Fiber, Queue, Ref, Schema, TestClock } from "effect"
import { End, queueInput } from "./fixtures/queueInput.js"
import { recordingBackend } from "./fixtures/recordingBackend.js"

type Side = "l" | "r"

/**
 * bytewax's `_build_join_dataflow`: lefts and rights keyed on "ALL". One input
 * branched in two, so that every left item arrives before the rights, as
 * bytewax's first input runs before its second.
 */
const twoSides = <A>(lefts: ReadonlyArray<A>, rights: ReadonlyArray<A>) => {
  const df = Dataflow.make("test_df")
  const { falses, trues } = df.pipe(
    Dataflow.input(
      "inp",
      Input.fromIterable([
        ...lefts.map((value) => ({ side: "l" as Side, value })),
        ...rights.map((value) => ({ side: "r" as Side, value }))
      ])
    ),
    Dataflow.branch("sides", (item) => item.side === "l")
  )
  const key = (flow: Dataflow.Flow<{ readonly side: Side; readonly value: A }>, stepId: string) =>
    flow.pipe(Dataflow.map(`${stepId}-value`, (item) => item.value), Dataflow.keyBy(stepId, () => "ALL"))
  return { df, left: key(trues, "key_l"), right: key(falses, "key_r") }
}

/** Splits `[side, key, value]` items into the keyed flows of a left and a right side. */
const splitSides = <V>(items: Dataflow.Flow<readonly [Side, string, V]>) => {
  const { falses, trues } = items.pipe(Dataflow.branch("sides", ([side]) => side === "l"))
  const keyed = (flow: Dataflow.Flow<readonly [Side, string, V]>, stepId: string) =>
    flow.pipe(Dataflow.map(stepId, ([, key, value]) => [key, value] as const))
  return [keyed(trues, "left"), keyed(falses, "right")] as const
}

const unkeyed = <A>(out: Ref.Ref<Array<A>>) =>
  Output.sink((items: Iterable<readonly [string, A]>) =>
    Ref.update(out, (all) => [...all, ...Array.from(items, ([, value]) => value)])
  )

const runJoin = (
  lefts: ReadonlyArray<number>,
  rights: ReadonlyArray<number>,
  modes: { readonly insert?: Dataflow.JoinInsert; readonly emit?: Dataflow.JoinEmit }
) =>
  Effect.gen(function*() {
    const out = yield* Ref.make<Array<readonly [number | undefined, number | undefined]>>([])
    const { left, right } = twoSides(lefts, rights)
    Dataflow.join("join", [left, right], { schemas: [Schema.Number, Schema.Number], ...modes }).pipe(
      Dataflow.output("out", unkeyed(out))
    )
    yield* Dataflow.run(left.dataflow).pipe(Effect.provide(RecoveryStore.layerMemory()))
    return yield* Ref.get(out)
  })

describe("join (bytewax test_join)", () => {
  it.effect("astuples: the rows are the product of the sides, undefined for a side without values", () =>
    Effect.gen(function*() {
      const out = yield* Ref.make<Array<unknown>>([])
      const df = Dataflow.make("test_df")
      const side = (stepId: string, values: ReadonlyArray<number>) =>
        df.pipe(Dataflow.input(stepId, Input.fromIterable(values)), Dataflow.keyBy(`key_${stepId}`, () => "ALL"))
      Dataflow.join("join", [side("s0", [1, 2]), side("s1", []), side("s2", [3, 4])], {
        schemas: [Schema.Number, Schema.Number, Schema.Number],
        insert: "product",
        emit: "final"
      }).pipe(Dataflow.output("out", unkeyed(out)))
      yield* Dataflow.run(df).pipe(Effect.provide(RecoveryStore.layerMemory()))
      // the values of a side in arrival order; s0 and s2 are separate inputs, so compare as a set of rows
      const rows = (yield* Ref.get(out)).map((row) => JSON.stringify(row)).sort()
      assert.deepStrictEqual(
        rows,
        [[1, null, 3], [1, null, 4], [2, null, 3], [2, null, 4]].map((r) => JSON.stringify(r))
      )
    }))

  it.effect("last complete", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* runJoin([1], [2], { insert: "last", emit: "complete" }), [[1, 2]])
    }))

  it.effect("default is last complete", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* runJoin([1], [2], {}), [[1, 2]])
      // complete forgets the key: the next pair starts afresh, and a lone value is never emitted
      assert.deepStrictEqual(yield* runJoin([1, 5], [2, 3], {}), [[5, 2]])
    }))

  it.effect("first final", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* runJoin([1], [2, 3], { insert: "first", emit: "final" }), [[1, 2]])
    }))

  it.effect("last final", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* runJoin([1], [2, 3], { insert: "last", emit: "final" }), [[1, 3]])
    }))

  it.effect("last running", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* runJoin([1], [2, 3], { insert: "last", emit: "running" }), [
        [1, undefined],
        [1, 2],
        [1, 3]
      ])
    }))

  it.effect("product final", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* runJoin([1, 2], [3, 4], { insert: "product", emit: "final" }), [
        [1, 3],
        [1, 4],
        [2, 3],
        [2, 4]
      ])
    }))

  it("needs one schema per side", () => {
    const { left, right } = twoSides([1], [2])
    assert.throws(() => Dataflow.join("join", [left, right], { schemas: [Schema.Number] } as never), /2 sides but 1/)
  })

  it.effect("sides of different types join by key into typed rows", () =>
    Effect.gen(function*() {
      const out = yield* Ref.make<Array<readonly [string, readonly [number | undefined, string | undefined]]>>([])
      const df = Dataflow.make("typed")
      const orders = df.pipe(
        Dataflow.input("orders", Input.fromIterable([{ id: "o1", total: 30 }, { id: "o2", total: 5 }])),
        Dataflow.keyBy("order-id", (o) => o.id),
        Dataflow.map("total", ([id, o]) => [id, o.total] as const)
      )
      const payments = df.pipe(
        Dataflow.input("payments", Input.fromIterable([{ order: "o2", by: "card" }, { order: "o3", by: "cash" }])),
        Dataflow.keyBy("payment-order", (p) => p.order),
        Dataflow.map("by", ([id, p]) => [id, p.by] as const)
      )
      Dataflow.join("paid", [orders, payments], { schemas: [Schema.Number, Schema.String] }).pipe(
        Dataflow.output("out", Output.collect(out))
      )
      yield* Dataflow.run(df).pipe(Effect.provide(RecoveryStore.layerMemory()))
      assert.deepStrictEqual(yield* Ref.get(out), [["o2", [5, "card"]]])
    }))

  it.effect("writes one snapshot per key changed in the epoch, whichever sides it came from (R1)", () =>
    Effect.gen(function*() {
      const { backend: recording, writes } = recordingBackend("join")
      const out = yield* Ref.make<Array<unknown>>([])
      const df = Dataflow.make("r1")
      const items = [["l", "a"], ["r", "a"], ["l", "b"], ["l", "c"], ["r", "c"], ["l", "a"]] as const
      const sides = df.pipe(
        Dataflow.input("in", Input.fromIterable(items.map(([side, key]) => [side, key, side] as const)))
      )
      Dataflow.join("join", splitSides(sides), {
        schemas: [Schema.String, Schema.String],
        emit: "running"
      }).pipe(Dataflow.output("out", Output.collect(out)))
      yield* Dataflow.run(df, { epoch: Epoch.everyItems(3) }).pipe(Effect.provide(RecoveryStore.layer(recording)))
      // epoch 1: a (both sides) and b; epoch 2: c (both sides) and a again
      assert.deepStrictEqual(writes.filter((w) => w.length > 0).map((w) => w.sort()), [["a=v", "b=v"], ["a=v", "c=v"]])
    }))

  it.effect("complete: a key joined within its epoch writes nothing; one stored before it is joined, a tombstone", () =>
    Effect.gen(function*() {
      const { backend: recording, writes } = recordingBackend("join")
      const out = yield* Ref.make<Array<unknown>>([])
      const df = Dataflow.make("complete")
      const items = [["l", "a"], ["r", "a"], ["l", "b"], ["r", "b"]] as const
      const sides = df.pipe(
        Dataflow.input("in", Input.fromIterable(items.map(([side, key]) => [side, key, side] as const)))
      )
      Dataflow.join("join", splitSides(sides), {
        schemas: [Schema.String, Schema.String]
      }).pipe(Dataflow.output("out", Output.collect(out)))
      yield* Dataflow.run(df, { epoch: Epoch.everyItems(3) }).pipe(Effect.provide(RecoveryStore.layer(recording)))
      assert.deepStrictEqual(yield* Ref.get(out), [["a", ["l", "r"]], ["b", ["l", "r"]]])
      // epoch 1: a is born and joined (nothing to write), b waits; epoch 2: b is joined
      assert.deepStrictEqual(writes.filter((w) => w.length > 0), [["b=v"], ["b=x"]])
    }))

  it.effect("resumes a key's sides from its snapshot after a failure", () =>
    Effect.gen(function*() {
      const handle = RecoveryStore.makeMemoryHandle()
      const out = yield* Ref.make<Array<unknown>>([])
      let abort = true
      const flow = () => {
        const { left, right } = twoSides([1, 2], [3, 4])
        Dataflow.join("join", [left, right], {
          schemas: [Schema.Number, Schema.Number],
          insert: "product",
          emit: "final"
        })
          .pipe(
            Dataflow.map("abort", (row) => {
              if (abort) {
                abort = false
                throw new Error("ABORT")
              }
              return row
            }),
            Dataflow.output("out", unkeyed(out))
          )
        return left.dataflow
      }
      const runOnce = Dataflow.run(flow(), { epoch: Epoch.everyItems(1) }).pipe(
        Effect.provide(RecoveryStore.layerMemory(handle)),
        Effect.exit
      )
      // every item commits its epoch; the rows fail at end of input, after the sides are snapshotted
      assert.isTrue(Exit.isFailure(yield* runOnce))
      assert.deepStrictEqual(yield* Ref.get(out), [])
      assert.isTrue(Exit.isSuccess(yield* runOnce))
      assert.deepStrictEqual(yield* Ref.get(out), [[1, 3], [1, 4], [2, 3], [2, 4]])
    }))

  it.effect("ttl discards a key whose sides were not seen for that long", () =>
    Effect.gen(function*() {
      const queue = yield* Queue.unbounded<readonly [Side, string, number] | typeof End>()
      const out = yield* Ref.make<Array<unknown>>([])
      const df = Dataflow.make("ttl")
      Dataflow.join("join", splitSides(df.pipe(Dataflow.input("in", queueInput(queue)))), {
        schemas: [Schema.Number, Schema.Number],
        ttl: "5 seconds"
      }).pipe(Dataflow.output("out", Output.collect(out)))
      const fiber = yield* Dataflow.run(df, { epoch: Epoch.interval("1 second") }).pipe(
        Effect.provide(RecoveryStore.layerMemory()),
        Effect.fork
      )
      yield* Queue.offerAll(queue, [["l", "a", 1], ["l", "b", 2]])
      yield* TestClock.adjust("3 seconds")
      yield* Queue.offer(queue, ["l", "b", 3]) // b seen again: its ttl starts over
      yield* TestClock.adjust("3 seconds") // a last seen 6 s ago: gone; b 3 s ago
      yield* Queue.offerAll(queue, [["r", "a", 10], ["r", "b", 20]])
      yield* TestClock.adjust("1 second")
      yield* Queue.offerAll(queue, [["l", "a", 4], End])
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(yield* Ref.get(out), [["b", [3, 20]], ["a", [4, 10]]])
    }))
})

interface Event {
  readonly at: number
  readonly value: number
}

const EventSchema = Schema.Struct({ at: Schema.Number, value: Schema.Number })
const alignTo = Date.UTC(2024, 0, 1)
const ev = (seconds: number, value: number): Event => ({ at: alignTo + seconds * 1000, value })

/** bytewax's `_build_join_window_dataflow`: session windows of 10 s gap, event time that never closes early. */
const runJoinWindow = (
  lefts: ReadonlyArray<Event>,
  rights: ReadonlyArray<Event>,
  modes: { readonly insert?: Dataflow.JoinInsert; readonly emit?: Dataflow.JoinEmit }
) =>
  Effect.gen(function*() {
    const out = yield* Ref.make<Array<readonly [number | undefined, number | undefined]>>([])
    const { left, right } = twoSides(lefts, rights)
    Dataflow.joinWindow("join", [left, right], {
      clock: Window.eventClock({ timestamp: (e: Event) => new Date(e.at), lateness: Duration.infinity }),
      windower: Window.session({ gap: "10 seconds" }),
      schemas: [EventSchema, EventSchema],
      ...modes
    }).pipe(
      Dataflow.map("clean", ([key, { value: [l, r] }]) => [key, [l?.value, r?.value] as const] as const),
      Dataflow.output("out", unkeyed(out))
    )
    yield* Dataflow.run(left.dataflow).pipe(Effect.provide(RecoveryStore.layerMemory()))
    return yield* Ref.get(out)
  })

describe("joinWindow (bytewax test_join_window)", () => {
  it.effect("first complete: values apply in timestamp order, and complete starts afresh", () =>
    Effect.gen(function*() {
      const out = yield* runJoinWindow([ev(0, 1)], [ev(2, 3), ev(1, 2)], { insert: "first", emit: "complete" })
      assert.deepStrictEqual(out, [[1, 2]])
    }))

  it.effect("last complete", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* runJoinWindow([ev(0, 1)], [ev(1, 2)], { insert: "last", emit: "complete" }), [
        [1, 2]
      ])
    }))

  it.effect("last final", () =>
    Effect.gen(function*() {
      const out = yield* runJoinWindow([ev(0, 1)], [ev(1, 2), ev(2, 3)], { insert: "last", emit: "final" })
      assert.deepStrictEqual(out, [[1, 3]])
    }))

  it.effect("default mode is last final", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* runJoinWindow([ev(0, 1)], [ev(1, 2), ev(2, 3)], {}), [[1, 3]])
    }))

  it.effect("last running", () =>
    Effect.gen(function*() {
      const out = yield* runJoinWindow([ev(0, 1)], [ev(1, 2), ev(2, 3)], { insert: "last", emit: "running" })
      assert.deepStrictEqual(out, [[1, undefined], [1, 2], [1, 3]])
    }))

  it.effect("product final", () =>
    Effect.gen(function*() {
      const out = yield* runJoinWindow([ev(0, 1), ev(1, 2)], [ev(1, 3), ev(2, 4)], {
        insert: "product",
        emit: "final"
      })
      assert.deepStrictEqual(out, [[1, 3], [1, 4], [2, 3], [2, 4]])
    }))

  it.effect("joins per window, and sends items older than the watermark to late with their side", () =>
    Effect.gen(function*() {
      const out = yield* Ref.make<Array<readonly [number, number | undefined, number | undefined]>>([])
      const late = yield* Ref.make<Array<unknown>>([])
      const { left, right } = twoSides([ev(1, 1), ev(12, 2), ev(3, 9)], [ev(4, 10), ev(15, 20)])
      const joined = Dataflow.joinWindow("join", [left, right], {
        clock: Window.eventClock({ timestamp: (e: Event) => new Date(e.at), lateness: "0 seconds" }),
        windower: Window.tumbling({ length: "10 seconds", alignTo: new Date(alignTo) }),
        schemas: [EventSchema, EventSchema]
      })
      joined.pipe(
        Dataflow.map(
          "clean",
          ([, { value: [l, r], window }]) => [(window.start.getTime() - alignTo) / 1000, l?.value, r?.value] as const
        ),
        Dataflow.output("out", Output.collect(out))
      )
      joined.late.pipe(Dataflow.output("late", Output.collect(late)))
      yield* Dataflow.run(left.dataflow).pipe(Effect.provide(RecoveryStore.layerMemory()))
      // lefts arrive first: the left at 3 s is late after the one at 12 s; so is the right at 4 s
      assert.deepStrictEqual(yield* Ref.get(late), [["ALL", [0, ev(3, 9)]], ["ALL", [1, ev(4, 10)]]])
      assert.deepStrictEqual(yield* Ref.get(out), [[0, 1, undefined], [10, 2, 20]])
    }))
})

describe("redistribute", () => {
  it.effect("on one worker passes every item on in order", () =>
    Effect.gen(function*() {
      const out = yield* Ref.make<Array<number>>([])
      const flow = Dataflow.make("spread").pipe(
        Dataflow.input("in", Input.fromIterable([1, 2, 3, 4])),
        Dataflow.redistribute("spread"),
        Dataflow.map("square", (n) => n * n),
        Dataflow.output("out", Output.collect(out))
      )
      yield* Dataflow.run(flow).pipe(Effect.provide(RecoveryStore.layerMemory()))
      assert.deepStrictEqual(yield* Ref.get(out), [1, 4, 9, 16])
    }))
})

describe("statefulFlatMap and fold (bytewax test_stateful_flat_map, test_fold_final)", () => {
  it.effect("test_stateful_flat_map: emits a value only when it is larger than the key's last", () =>
    Effect.gen(function*() {
      const out = yield* Ref.make<Array<readonly [string, number]>>([])
      const flow = Dataflow.make("test_df").pipe(
        Dataflow.input("inp", Input.fromIterable([2, 5, 8, 1, 3])),
        Dataflow.keyBy("key", () => "ALL"),
        Dataflow.statefulFlatMap("filter_smaller", {
          state: Schema.NullOr(Schema.Number),
          init: () => null,
          step: (last: number | null, n: number) => [n, last === null || n > last ? [n] : []]
        }),
        Dataflow.output("out", Output.collect(out))
      )
      yield* Dataflow.run(flow).pipe(Effect.provide(RecoveryStore.layerMemory()))
      assert.deepStrictEqual(yield* Ref.get(out), [["ALL", 2], ["ALL", 5], ["ALL", 8], ["ALL", 3]])
    }))

  it.effect("test_fold_final: folds each key and emits at end of input", () =>
    Effect.gen(function*() {
      const out = yield* Ref.make<Array<readonly [string, number]>>([])
      const flow = Dataflow.make("test_df").pipe(
        Dataflow.input("inp", Input.fromIterable([1, 4, 2, 9, 4, 3])),
        Dataflow.keyBy("key", () => "ALL"),
        Dataflow.fold("keep_max", { state: Schema.Number, init: () => 0, fold: Math.max, emit: "end" }),
        Dataflow.output("out", Output.collect(out))
      )
      yield* Dataflow.run(flow).pipe(Effect.provide(RecoveryStore.layerMemory()))
      assert.deepStrictEqual(yield* Ref.get(out), [["ALL", 9]])
    }))
})
