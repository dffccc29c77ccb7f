import { assert, describe, it } from "@effect/vitest"
import { Dataflow, Epoch, Input, Output, RecoveryStore, Window } from "@sluice/core"
import { Effect, Fiber, Queue, Ref, Schema, TestClock } from "effect"
import { End, queueInput } from "./fixtures/queueInput.js"

interface Event {
  readonly user: string
  readonly at: number
  readonly value: number
}

const ev = (user: string, seconds: number, value = 1): Event => ({ user, at: seconds * 1000, value })

type Out = readonly [string, number, number, unknown] // user, start s, end s, value

const plain = <S>([user, w]: readonly [string, Window.Windowed<S>]): Out => [
  user,
  w.window.start.getTime() / 1000,
  w.window.end.getTime() / 1000,
  w.value
]

const eventTime = (lateness: `${number} seconds`) =>
  Window.eventClock({ timestamp: (e: Event) => new Date(e.at), lateness })

const run = (flow: Dataflow.Dataflow, epoch = Epoch.everyItems(100)) =>
  Dataflow.run(flow, { epoch }).pipe(Effect.provide(RecoveryStore.layerMemory()))

describe("windows", () => {
  it.effect("tumbling event-time windows close when the watermark passes their end; older items go to late", () =>
    Effect.gen(function*() {
      const closed = yield* Ref.make<Array<Out>>([])
      const late = yield* Ref.make<Array<readonly [string, Event]>>([])
      const sums = Dataflow.make("tumbling").pipe(
        Dataflow.input(
          "events",
          Input.fromIterable([
            ev("a", 1, 1),
            ev("a", 4, 2),
            ev("b", 3, 5),
            ev("a", 12, 4),
            ev("a", 5, 8),
            ev("a", 19, 16)
          ])
        ),
        Dataflow.keyBy("user", (e) => e.user),
        Dataflow.foldWindow("sums", {
          clock: eventTime("0 seconds"),
          window: Window.tumbling({ length: "10 seconds", alignTo: new Date(0) }),
          state: Schema.Number,
          init: () => 0,
          fold: (sum, e) => sum + e.value
        })
      )
      sums.late.pipe(Dataflow.output("late", Output.collect(late)))
      yield* run(sums.pipe(Dataflow.map("plain", plain), Dataflow.output("out", Output.collect(closed))))
      // a@12 moves a's watermark to 12 s and closes [0, 10); a@5 is then late; end of input closes the rest
      assert.deepStrictEqual(yield* Ref.get(closed), [["a", 0, 10, 3], ["a", 10, 20, 20], ["b", 0, 10, 5]])
      assert.deepStrictEqual(yield* Ref.get(late), [["a", ev("a", 5, 8)]])
    }))

  it.effect("lateness keeps windows open and accepts items up to the watermark", () =>
    Effect.gen(function*() {
      const closed = yield* Ref.make<Array<Out>>([])
      const late = yield* Ref.make<Array<unknown>>([])
      const sums = Dataflow.make("lateness").pipe(
        Dataflow.input("events", Input.fromIterable([ev("a", 1), ev("a", 12), ev("a", 8), ev("a", 16), ev("a", 2)])),
        Dataflow.keyBy("user", (e) => e.user),
        Dataflow.reduceWindow("count", {
          clock: eventTime("5 seconds"),
          window: Window.tumbling({ length: "10 seconds" }),
          state: EventSchema,
          reduce: (a, b) => ({ ...a, value: a.value + b.value })
        })
      )
      sums.late.pipe(Dataflow.output("late", Output.collect(late)))
      yield* run(
        sums.pipe(
          Dataflow.map("plain", ([u, w]) => plain([u, { ...w, value: w.value.value }])),
          Dataflow.output("out", Output.collect(closed))
        )
      )
      // watermark after a@12 is 7 s: a@8 still counts; a@16 moves it to 11 s, closing [0, 10); a@2 is late
      assert.deepStrictEqual(yield* Ref.get(closed), [["a", 0, 10, 2], ["a", 10, 20, 2]])
      assert.deepStrictEqual(yield* Ref.get(late), [["a", ev("a", 2)]])
    }))

  it.effect("sliding windows put an item in every window that covers it", () =>
    Effect.gen(function*() {
      const closed = yield* Ref.make<Array<Out>>([])
      const flow = Dataflow.make("sliding").pipe(
        Dataflow.input("events", Input.fromIterable([ev("a", 7), ev("a", 12)])),
        Dataflow.keyBy("user", (e) => e.user),
        Dataflow.collectWindow("items", {
          clock: eventTime("0 seconds"),
          window: Window.sliding({ length: "10 seconds", offset: "5 seconds", alignTo: new Date(0) }),
          item: EventSchema
        }),
        Dataflow.map("plain", ([u, w]) => plain([u, { ...w, value: w.value.map((e) => e.at / 1000) }])),
        Dataflow.output("out", Output.collect(closed))
      )
      yield* run(flow)
      assert.deepStrictEqual(yield* Ref.get(closed), [["a", 0, 10, [7]], ["a", 5, 15, [7, 12]], ["a", 10, 20, [12]]])
    }))

  it.effect("session windows merge when a later-arriving item bridges two sessions", () =>
    Effect.gen(function*() {
      const closed = yield* Ref.make<Array<Out>>([])
      const flow = Dataflow.make("sessions").pipe(
        Dataflow.input("events", Input.fromIterable([ev("a", 1), ev("a", 9), ev("b", 2), ev("a", 5), ev("a", 30)])),
        Dataflow.keyBy("user", (e) => e.user),
        Dataflow.collectWindow("sessions", {
          clock: eventTime("100 seconds"),
          window: Window.session({ gap: "5 seconds" }),
          item: EventSchema
        }),
        Dataflow.map("plain", ([u, w]) => plain([u, { ...w, value: w.value.map((e) => e.at / 1000) }])),
        Dataflow.output("out", Output.collect(closed))
      )
      yield* run(flow)
      assert.deepStrictEqual(yield* Ref.get(closed), [
        ["a", 1, 14, [1, 9, 5]],
        ["a", 30, 35, [30]],
        ["b", 2, 7, [2]]
      ])
    }))

  it("session windows of foldWindow need a merge function", () => {
    const keyed = Dataflow.make("no-merge").pipe(
      Dataflow.input("events", Input.fromIterable([ev("a", 1)])),
      Dataflow.keyBy("user", (e) => e.user)
    )
    assert.throws(
      () =>
        keyed.pipe(Dataflow.foldWindow("sums", {
          clock: eventTime("0 seconds"),
          window: Window.session({ gap: "5 seconds" }),
          state: Schema.Number,
          init: () => 0,
          fold: (s, e) => s + e.value
        })),
      "window step sums uses session windows, which merge: pass a merge function"
    )
  })

  it.effect("the system clock stamps items with Clock time; windows close as TestClock advances, input idle or not", () =>
    Effect.gen(function*() {
      const queue = yield* Queue.unbounded<string | typeof End>()
      const input = queueInput(queue)
      const closed = yield* Ref.make<Array<Out>>([])
      const flow = Dataflow.make("system").pipe(
        Dataflow.input("in", input),
        Dataflow.keyBy("key", (s) => s),
        Dataflow.reduceWindow("count", {
          clock: Window.systemClock(),
          window: Window.tumbling({ length: "1 minute" }),
          state: Schema.String,
          reduce: (a, b) => a + b
        }),
        Dataflow.map("plain", plain),
        Dataflow.output("out", Output.collect(closed))
      )
      const fiber = yield* Dataflow.run(flow, { epoch: Epoch.interval("10 seconds") }).pipe(
        Effect.provide(RecoveryStore.layerMemory()),
        Effect.fork
      )
      yield* Queue.offerAll(queue, ["x", "x"])
      yield* TestClock.adjust("30 seconds")
      yield* Queue.offer(queue, "x")
      yield* TestClock.adjust("30 seconds") // the input is idle; the epoch tick at 60 s closes [0, 60)
      assert.deepStrictEqual(yield* Ref.get(closed), [["x", 0, 60, "xxx"]])
      yield* Queue.offer(queue, "x")
      yield* TestClock.adjust("10 seconds")
      yield* Queue.offer(queue, "end")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(yield* Ref.get(closed), [["x", 0, 60, "xxx"], ["x", 60, 120, "x"]])
    }))

  it.effect("an event clock's watermark advances with Clock time while the key is idle", () =>
    Effect.gen(function*() {
      const queue = yield* Queue.unbounded<Event | typeof End>()
      const input = queueInput(queue)
      const closed = yield* Ref.make<Array<Out>>([])
      const flow = Dataflow.make("idle").pipe(
        Dataflow.input("in", input),
        Dataflow.keyBy("user", (e) => e.user),
        Dataflow.foldWindow("sums", {
          clock: eventTime("2 seconds"),
          window: Window.tumbling({ length: "10 seconds" }),
          state: Schema.Number,
          init: () => 0,
          fold: (s, e) => s + e.value
        }),
        Dataflow.map("plain", plain),
        Dataflow.output("out", Output.collect(closed))
      )
      const fiber = yield* Dataflow.run(flow, { epoch: Epoch.interval("5 seconds") }).pipe(
        Effect.provide(RecoveryStore.layerMemory()),
        Effect.fork
      )
      yield* Queue.offer(queue, ev("a", 6, 7))
      yield* TestClock.adjust("5 seconds") // watermark 6 - 2 + 5 = 9 s: still open
      assert.deepStrictEqual(yield* Ref.get(closed), [])
      yield* TestClock.adjust("5 seconds") // 14 s: closed without any new item
      assert.deepStrictEqual(yield* Ref.get(closed), [["a", 0, 10, 7]])
      yield* Queue.offer(queue, "end")
      yield* Fiber.join(fiber)
    }))
})

const EventSchema = Schema.Struct({ user: Schema.String, at: Schema.Number, value: Schema.Number })
