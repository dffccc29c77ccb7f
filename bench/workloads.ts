/**
 * The workloads of BENCHMARKS.md: each as a Sluice dataflow and as the
 * hand-written loop that is its ceiling.
 */
import * as Core from "@sluice/core"
import { Dataflow, Epoch, Input, Output } from "@sluice/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Data from "./data.js"

/** What a run's last step saw: items written and when the first arrived (ms since process start). */
export interface Counter {
  items: number
  firstAt: number | undefined
  /**
   * The process's CPU time (user + system, ms) when the first item arrived: on a shared machine
   * the CPU a resume took to its first item varies less than its wall time.
   */
  firstCpuAt?: number
}

/** The output of every workload: counts items, as BENCHMARKS.md asks. */
export const countingOutput = (counter: Counter): Output.Output<unknown> =>
  Output.make(() =>
    Effect.succeed({
      write: (items) =>
        Effect.sync(() => {
          if (counter.firstAt === undefined) {
            counter.firstAt = performance.now()
            const cpu = process.cpuUsage()
            counter.firstCpuAt = (cpu.user + cpu.system) / 1000
          }
          counter.items += Chunk.size(items)
        })
    })
  )

// wordcount ---------------------------------------------------------------

/**
 * The steps of the word count between its input and its output, shared by every configuration;
 * `emit: "epoch"` for the cells that emit each word's latest count once per epoch.
 */
export const countWordsEmitting = (emit: Dataflow.KeyedEmit) => (lines: Dataflow.Flow<string>) =>
  lines.pipe(
    Dataflow.flatMap("split", (line: string) => line.split(" ")),
    Dataflow.keyBy("key", (word) => word),
    Dataflow.statefulMap("count", {
      state: Schema.Number,
      init: () => 0,
      step: (count: number, _word: string) => [count + 1, count + 1] as const,
      emit
    })
  )

export const countWords = countWordsEmitting("each")

export const wordcountFlow = (input: Input.Input<string>, counter: Counter): Dataflow.Dataflow =>
  Dataflow.make("wordcount").pipe(
    Dataflow.input("lines", input),
    countWords,
    Dataflow.output("out", countingOutput(counter))
  )

/** Epochs are sized in words; the input's items are lines of ten. */
export const wordEpoch = (epochWords: number): Epoch.EpochPolicy =>
  Epoch.everyItems(Math.max(1, Math.round(epochWords / Data.WORDS_PER_LINE)))

export const wordcountLoop = (lines: ReadonlyArray<string>): number => {
  const counts = new Map<string, number>()
  let emitted = 0
  for (let i = 0; i < lines.length; i++) {
    const words = lines[i].split(" ")
    for (let j = 0; j < words.length; j++) {
      const word = words[j]
      counts.set(word, (counts.get(word) ?? 0) + 1)
      emitted++
    }
  }
  return emitted
}

/**
 * The resume workload's input: ten distinct keys per line, made on demand
 * from the resume position like a log a consumer reads from an offset, so a
 * resumed process does not build the lines it skips.
 */
export const distinctLines = (lineCount: number): Input.Input<string> =>
  Input.partitioned({
    partitions: ["0"],
    open: (_partition, resumeFrom: Option.Option<number>) =>
      Stream.suspend(() => {
        const start = Option.match(resumeFrom, { onNone: () => 0, onSome: (position) => position + 1 })
        return Stream.fromIterable((function*() {
          for (let line = start; line < lineCount; line++) yield [Data.distinctLine(line), line] as const
        })())
      })
  })

/**
 * State larger than the epoch: `items` words over `keys` distinct keys, ten
 * distinct keys per line, the keys in the same order on each pass, made on
 * demand from the resume position. With `killAt`, the process SIGKILLs
 * itself on reaching that item: a kill -9 in the middle of an epoch.
 */
export const largeStateLines = (items: number, keys: number, killAt: number | undefined): Input.Input<string> => {
  const keyLines = Math.max(1, Math.floor(keys / Data.WORDS_PER_LINE))
  const lineCount = Math.ceil(items / Data.WORDS_PER_LINE)
  const killLine = killAt === undefined ? Infinity : Math.floor(killAt / Data.WORDS_PER_LINE)
  return Input.partitioned({
    partitions: ["0"],
    open: (_partition, resumeFrom: Option.Option<number>) =>
      Stream.suspend(() => {
        const start = Option.match(resumeFrom, { onNone: () => 0, onSome: (position) => position + 1 })
        return Stream.fromIterable((function*() {
          for (let line = start; line < lineCount; line++) {
            if (line === killLine) process.kill(process.pid, "SIGKILL")
            yield [Data.distinctLine(line % keyLines), line] as const
          }
        })())
      })
  })
}

// windowed ----------------------------------------------------------------

export interface TimedEvent {
  readonly user: string
  readonly at: Date
  readonly value: number
}

export const WINDOW_MS = 10_000
export const LATENESS_MS = 2_000

/** Whether this checkout's core has windows yet (`Window.ts`, `Dataflow.foldWindow`). */
export const windowsAvailable = (): boolean =>
  "Window" in Core && typeof (Dataflow as Record<string, unknown>).foldWindow === "function"

export const windowedFlow = (events: ReadonlyArray<TimedEvent>, counter: Counter): Dataflow.Dataflow => {
  // Reached through `any` so the bench type-checks against a core without windows.
  const Window = (Core as any).Window
  const foldWindow = (Dataflow as any).foldWindow
  const keyed = Dataflow.make("windowed").pipe(
    Dataflow.input("events", Input.fromIterable(events)),
    Dataflow.keyBy("user", (event: TimedEvent) => event.user)
  )
  const sums: Dataflow.Flow<unknown> = foldWindow(keyed, "sum", {
    clock: Window.eventClock({ timestamp: (event: TimedEvent) => event.at, lateness: `${LATENESS_MS} millis` }),
    window: Window.tumbling({ length: `${WINDOW_MS} millis`, alignTo: new Date(0) }),
    state: Schema.Number,
    init: () => 0,
    fold: (sum: number, event: TimedEvent) => sum + event.value
  })
  return sums.pipe(Dataflow.output("out", countingOutput(counter)))
}

/**
 * The same windows by hand: per user, the open windows' sums and the
 * watermark (largest timestamp seen minus the lateness); a window closes when
 * the watermark reaches its end, and every open window closes at the end.
 */
export const windowedLoop = (events: ReadonlyArray<Data.Event>): number => {
  const users = new Map<string, { maxTs: number; windows: Map<number, number> }>()
  let emitted = 0
  for (let i = 0; i < events.length; i++) {
    const event = events[i]
    let user = users.get(event.user)
    if (user === undefined) {
      user = { maxTs: -Infinity, windows: new Map() }
      users.set(event.user, user)
    }
    const start = event.ts - (event.ts % WINDOW_MS)
    user.windows.set(start, (user.windows.get(start) ?? 0) + event.value)
    if (event.ts > user.maxTs) {
      user.maxTs = event.ts
      const watermark = user.maxTs - LATENESS_MS
      for (const open of user.windows.keys()) {
        if (open + WINDOW_MS <= watermark) {
          user.windows.delete(open)
          emitted++
        }
      }
    }
  }
  for (const user of users.values()) emitted += user.windows.size
  return emitted
}

export const timedEvents = (events: ReadonlyArray<Data.Event>): Array<TimedEvent> =>
  events.map((event) => ({ user: event.user, at: new Date(event.ts), value: event.value }))

// stateless ---------------------------------------------------------------

export const statelessFlow = (numbers: ReadonlyArray<number>, counter: Counter): Dataflow.Dataflow =>
  Dataflow.make("stateless").pipe(
    Dataflow.input("numbers", Input.fromIterable(numbers)),
    Dataflow.map("scale", (n: number) => n * 2 + 1),
    Dataflow.filter("thirds", (n: number) => n % 3 === 0),
    Dataflow.output("out", countingOutput(counter))
  )

export const statelessLoop = (numbers: ReadonlyArray<number>): number => {
  let emitted = 0
  for (let i = 0; i < numbers.length; i++) {
    const scaled = numbers[i] * 2 + 1
    if (scaled % 3 === 0) emitted++
  }
  return emitted
}

// join --------------------------------------------------------------------

const OrderSchema = Schema.Struct({ id: Schema.String, total: Schema.Number })
const PaymentSchema = Schema.Struct({ order: Schema.String, amount: Schema.Number })

/** Whether this checkout's core has `Dataflow.join`. */
export const joinAvailable = (): boolean => typeof (Dataflow as Record<string, unknown>).join === "function"

/** Orders ⋈ payments by order id: a row once both sides are there (`emit: "complete"`), then the key is gone. */
export const joinFlow = (
  input: { readonly orders: ReadonlyArray<Data.Order>; readonly payments: ReadonlyArray<Data.Payment> },
  counter: Counter
): Dataflow.Dataflow => {
  const df = Dataflow.make("join")
  const orders = df.pipe(
    Dataflow.input("orders", Input.fromIterable(input.orders)),
    Dataflow.keyBy("order-id", (order: Data.Order) => order.id)
  )
  const payments = df.pipe(
    Dataflow.input("payments", Input.fromIterable(input.payments)),
    Dataflow.keyBy("payment-order", (payment: Data.Payment) => payment.order)
  )
  return Dataflow.join("paid", [orders, payments], { schemas: [OrderSchema, PaymentSchema] }).pipe(
    Dataflow.output("out", countingOutput(counter))
  )
}

/** The same join by hand: a map of the keys with one side so far; a row when the other side comes. */
export const joinLoop = (
  input: { readonly orders: ReadonlyArray<Data.Order>; readonly payments: ReadonlyArray<Data.Payment> }
): number => {
  const waiting = new Map<string, { order: Data.Order | undefined; payment: Data.Payment | undefined }>()
  let emitted = 0
  const add = (key: string, order: Data.Order | undefined, payment: Data.Payment | undefined) => {
    const held = waiting.get(key)
    if (held === undefined) {
      waiting.set(key, { order, payment })
      return
    }
    if (order !== undefined) held.order = order
    if (payment !== undefined) held.payment = payment
    if (held.order !== undefined && held.payment !== undefined) {
      waiting.delete(key)
      emitted++
    }
  }
  for (let i = 0; i < input.orders.length; i++) {
    add(input.orders[i].id, input.orders[i], undefined)
    add(input.payments[i].order, undefined, input.payments[i])
  }
  return emitted
}
