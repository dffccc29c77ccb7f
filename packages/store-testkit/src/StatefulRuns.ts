import { Dataflow, DataflowError, Epoch, Input, Output } from "@sluice/core"
import type { RecoveryStore } from "@sluice/core"
import { Cause, Clock, Effect, Exit, Option, Schema, Stream } from "effect"
import type { Duration, Layer } from "effect"
import * as fs from "node:fs"
import { readResumeEpoch, readState } from "./StoreFixture.js"
import { Crash, crashAfter, type Emitted, recordingOutput } from "./TestFlows.js"
import type { Event } from "./WindowRuns.js"

/**
 * A `Clock` that reads the time the flow last set: the `tick` step moves it to
 * each event's time, so `stateful` timers and `collect` timeouts fire at the
 * same items in every run, crashed or clean, on real input.
 */
class ItemClock implements Clock.Clock {
  readonly [Clock.ClockTypeId]: Clock.ClockTypeId = Clock.ClockTypeId
  now = 0
  private readonly live = Clock.make()
  unsafeCurrentTimeMillis(): number {
    return this.now
  }
  readonly currentTimeMillis = Effect.sync(() => this.now)
  unsafeCurrentTimeNanos(): bigint {
    return BigInt(this.now) * 1_000_000n
  }
  readonly currentTimeNanos = Effect.sync(() => this.unsafeCurrentTimeNanos())
  sleep(duration: Duration.Duration): Effect.Effect<void> {
    return this.live.sleep(duration)
  }
}

/** A user's session: the sum of its values and when it last had one. */
export const SessionSchema = Schema.Struct({ sum: Schema.Number, last: Schema.Number, count: Schema.Number })

export type BatchOut = readonly [string, ReadonlyArray<number>]
export type SessionOut = readonly [string, string]
export type PairOut = readonly [string, readonly [number | undefined, number | undefined]]

/** The snapshot of a key of the `pairs` join (with its ttl): each side's values and when the key was last seen. */
export const PairsSchema = Schema.Struct({
  value: Schema.Tuple(Schema.Array(Schema.Number), Schema.Array(Schema.Number)),
  seenAt: Schema.Number
})

/**
 * Per user, batches of up to 3 values or 5 s (`collect`), sessions
 * (`stateful`) that emit their sum after 4 s without a value and at end of
 * input, where they stay as state, and a `join` of the user's odd values with
 * their even ones: the product once both sides have one, with a ttl of 6 s.
 */
export const timedFlow = (options: {
  readonly events: ReadonlyArray<Event>
  readonly clock: { now: number }
  readonly batches: Array<Emitted<BatchOut>>
  readonly sessions: Array<Emitted<SessionOut>>
  readonly pairs: Array<Emitted<PairOut>>
  readonly crashAfterItems?: number | undefined
}) => {
  const keyed = Dataflow.make("timed").pipe(
    Dataflow.input("events", Input.fromIterable(options.events)),
    Dataflow.map("crash", crashAfter(options.crashAfterItems)),
    Dataflow.map("tick", (e) => {
      options.clock.now = e.at
      return e
    }),
    Dataflow.keyBy("user", (e) => e.user),
    Dataflow.map("value", ([user, e]) => [user, e.value] as const)
  )
  keyed.pipe(
    Dataflow.collect("batches", { item: Schema.Number, maxSize: 3, timeout: "5 seconds" }),
    Dataflow.output("batches-out", recordingOutput(options.batches))
  )
  keyed.pipe(
    Dataflow.stateful("sessions", {
      state: SessionSchema,
      onItem: (s, value: number, now) => ({
        state: { sum: (s?.sum ?? 0) + value, last: now, count: (s?.count ?? 0) + 1 },
        emit: []
      }),
      notifyAt: (s) => s.count === 0 ? undefined : s.last + 4000,
      onNotify: (s, now) => ({ state: { ...s, count: 0 }, emit: [`${s.sum}/${s.count} idle at ${now}`] }),
      onEof: (s) => ({ state: s, emit: [`${s.sum}/${s.count} at end`] })
    }),
    Dataflow.output("sessions-out", recordingOutput(options.sessions))
  )
  const { falses: evens, trues: odds } = keyed.pipe(Dataflow.branch("odd", ([, value]) => value % 2 === 1))
  Dataflow.join("pairs", [odds, evens], {
    schemas: [Schema.Number, Schema.Number],
    insert: "product",
    ttl: "6 seconds"
  }).pipe(Dataflow.output("pairs-out", recordingOutput(options.pairs)))
  return keyed.dataflow
}

export interface TimedRun {
  readonly resumeEpoch: number
  readonly batches: Array<Emitted<BatchOut>>
  readonly sessions: Array<Emitted<SessionOut>>
  readonly pairs: Array<Emitted<PairOut>>
}

/** Runs `timedFlow` on the item clock through the given crashes until it finishes; returns the runs and final state. */
export const runTimedWithCrashes = (
  layer: () => Layer.Layer<RecoveryStore.RecoveryStore, unknown>,
  events: ReadonlyArray<Event>,
  epochSize: number,
  crashes: ReadonlyArray<number>,
  options: Pick<Dataflow.RunOptions, "restore"> = {}
): Effect.Effect<
  {
    readonly runs: Array<TimedRun>
    readonly sessions: Map<string, typeof SessionSchema.Type>
    readonly pairs: Map<string, typeof PairsSchema.Type>
  },
  unknown
> =>
  Effect.gen(function*() {
    const runs: Array<TimedRun> = []
    for (let attempt = 0;; attempt++) {
      const resumeEpoch = yield* readResumeEpoch(layer(), "timed")
      const run: TimedRun = { resumeEpoch, batches: [], sessions: [], pairs: [] }
      runs.push(run)
      const clock = new ItemClock()
      const flow = timedFlow({ events, clock, ...run, crashAfterItems: crashes[attempt] })
      const exit = yield* Dataflow.run(flow, { ...options, epoch: Epoch.everyItems(epochSize) }).pipe(
        Effect.provide(layer()),
        Effect.withClock(clock),
        Effect.exit
      )
      if (Exit.isSuccess(exit)) break
      const failure = Cause.failureOption(exit.cause)
      if (
        Option.isNone(failure) || !(failure.value instanceof DataflowError.StepFailed) ||
        !(failure.value.cause instanceof Crash)
      ) {
        return yield* Effect.die(new Error(`unexpected failure: ${Cause.pretty(exit.cause)}`))
      }
    }
    const sessions = yield* readState(layer(), "timed", "sessions", SessionSchema)
    const pairs = yield* readState(layer(), "timed", "pairs", PairsSchema)
    return { runs, sessions, pairs }
  })

/** Appends `[workerIndex, step, key, value]` lines to a file per worker under `SLUICE_TEST_OUT`. */
const recordPerWorker = (step: string) => {
  const outDir = process.env.SLUICE_TEST_OUT ?? "/tmp"
  return Output.sink((items: Iterable<readonly [string, unknown]>, { workerIndex }) =>
    Effect.sync(() => {
      const lines = [...items].map(([key, value]) => JSON.stringify([workerIndex, step, key, value]))
      if (lines.length > 0) fs.appendFileSync(`${outDir}/worker-${workerIndex}.jsonl`, lines.join("\n") + "\n")
    })
  )
}

/** An input of `partitions` partitions of `perPartition` items each, `item(p, i)`, resumable by index. */
const numberedInput = <A>(partitions: number, perPartition: number, item: (p: number, i: number) => A) =>
  Input.partitioned({
    partitions: Array.from({ length: partitions }, (_, p) => `p${p}`),
    open: (partition, resumeFrom: Option.Option<number>) => {
      const p = Number(partition.slice(1))
      const start = Option.getOrElse(resumeFrom, () => -1) + 1
      return Stream.range(start, perPartition - 1).pipe(Stream.map((i) => [item(p, i), i] as const))
    }
  })

/**
 * `countFinal` and `collect` over 4 partitions of numbered words, for runs on
 * several threads: each worker appends `[workerIndex, step, key, value]` lines
 * to a file per worker under `SLUICE_TEST_OUT`.
 */
export const partitionedCountFinal = () => {
  const perPartition = 300
  const record = recordPerWorker
  const words = Dataflow.make("parallel-final").pipe(
    Dataflow.input("words", numberedInput(4, perPartition, (p, i) => `w${(p * 31 + i * 7) % 23}`))
  )
  words.pipe(Dataflow.countFinal("count", (w: string) => w), Dataflow.output("counts", record("count")))
  words.pipe(
    Dataflow.keyBy("key", (w: string) => w),
    Dataflow.collect("batches", { item: Schema.String, maxSize: 4, timeout: "1 hour" }),
    Dataflow.map("sizes", ([key, batch]) => [key, batch.length] as const),
    Dataflow.output("batches-out", record("batch"))
  )
  return words.dataflow
}

/**
 * The words of `partitionedCountFinal` counted with `emit: "epoch"`, for runs on
 * several threads: each worker records `[workerIndex, "latest", word, count]`
 * lines as `partitionedCountFinal`.
 */
export const partitionedLatestCount = () => {
  const df = Dataflow.make("parallel-latest")
  df.pipe(
    Dataflow.input("words", numberedInput(4, 300, (p, i) => `w${(p * 31 + i * 7) % 23}`)),
    Dataflow.keyBy("key", (w: string) => w),
    Dataflow.fold("count", { state: Schema.Number, init: () => 0, fold: (n, _w: string) => n + 1, emit: "epoch" }),
    Dataflow.output("latest-out", recordPerWorker("latest"))
  )
  return df
}

/** The orders of `partitionedJoin`: order `o<n>` totals `n`. */
export const JOIN_ORDERS = 400

/** The payments of `partitionedJoin`: payment `k` pays order `k mod JOIN_ORDERS`, so the first half are paid twice. */
export const JOIN_PAYMENTS = 600

/**
 * `join` of orders (4 partitions) and payments (3 partitions) by order id on
 * several threads, and `redistribute` of one partition's numbers: each worker
 * records `[workerIndex, step, key, value]` lines as `partitionedCountFinal`.
 */
export const partitionedJoin = () => {
  const df = Dataflow.make("parallel-join")
  const orders = df.pipe(
    Dataflow.input("orders", numberedInput(4, JOIN_ORDERS / 4, (p, i) => ({ id: `o${i * 4 + p}`, total: i * 4 + p }))),
    Dataflow.keyBy("order-id", (o) => o.id)
  )
  const payments = df.pipe(
    Dataflow.input(
      "payments",
      numberedInput(3, JOIN_PAYMENTS / 3, (p, i) => ({ order: `o${(i * 3 + p) % JOIN_ORDERS}`, amount: i * 3 + p }))
    ),
    Dataflow.keyBy("payment-order", (payment) => payment.order)
  )
  Dataflow.join("paid", [orders, payments], {
    schemas: [
      Schema.Struct({ id: Schema.String, total: Schema.Number }),
      Schema.Struct({ order: Schema.String, amount: Schema.Number })
    ],
    insert: "product",
    emit: "final"
  }).pipe(
    Dataflow.map("totals", ([id, [order, payment]]) => [id, [order?.total, payment?.amount]] as const),
    Dataflow.output("paid-out", recordPerWorker("join"))
  )
  df.pipe(
    Dataflow.input("numbers", numberedInput(1, 400, (_, i) => i)),
    Dataflow.redistribute("spread"),
    Dataflow.map("keyed", (n) => [String(n), n] as const),
    Dataflow.output("spread-out", recordPerWorker("spread"))
  )
  return df
}
