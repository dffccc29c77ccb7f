/**
 * What the per-epoch telemetry costs by itself: the report of one epoch
 * (metric updates for each step, the `RunEvents` lookup) and its four spans
 * under Effect's default tracer, timed over many epochs. Compared with an
 * epoch's own time it bounds the overhead without depending on the machine's
 * load the way an A/B of whole runs does.
 *
 *   pnpm exec tsx bench/telemetryCost.ts [epochs] [steps]
 */
import { WorkerRuntime } from "@sluice/core"
import { Effect } from "effect"

const epochs = Number(process.argv[2] ?? 20_000)
const stepCount = Number(process.argv[3] ?? 6)
const steps = Array.from({ length: stepCount }, (_, i) => ({ stepId: `step${i}`, itemsIn: 10_000, itemsOut: 10_000 }))

const oneEpoch = (epoch: number) =>
  WorkerRuntime.tracedEpoch(epoch, (inTransaction) => inTransaction(Effect.succeed(10_000))).pipe(
    Effect.flatMap(({ commitMillis }) =>
      WorkerRuntime.epochCommitted({
        dataflowId: "cost",
        epoch,
        totalItems: epoch * 10_000,
        epochMillis: 30,
        commitMillis,
        workers: [{
          workerIndex: 0,
          items: 10_000,
          metrics: { steps, snapshotWrites: 100, snapshotBytes: 1_000, exchangeQueueDepth: 0, gauges: [] }
        }]
      })
    )
  )

const program = Effect.gen(function*() {
  for (let e = 1; e <= 1_000; e++) yield* oneEpoch(e) // warm-up
  const start = performance.now()
  for (let e = 1; e <= epochs; e++) yield* oneEpoch(e)
  const micros = ((performance.now() - start) * 1000) / epochs
  console.log(`telemetry per epoch (${stepCount} steps): ${micros.toFixed(1)} µs over ${epochs} epochs`)
}).pipe(Effect.withSpan("sluice.run"))

Effect.runPromise(program)
