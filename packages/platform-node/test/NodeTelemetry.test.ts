import { assert, describe, it } from "@effect/vitest"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Dataflow, Epoch, Input, RecoveryStore } from "@sluice/core"
import { SqliteRecovery } from "@sluice/recovery-sqlite"
import { expectedWords } from "@sluice/store-testkit"
import type * as Flows from "@sluice/store-testkit/WorkerFlows"
import { ConfigProvider, Effect, Fiber, Layer, Schedule } from "effect"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { NodeTelemetry, NodeWorkers } from "../src/index.js"
import { countingFlow, freePort, samples, scrape, slowWords, total } from "./telemetryFixtures.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "sluice-telemetry-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

describe("NodeTelemetry.layerMetrics", () => {
  it.live(
    "serves /metrics during a SQLite run: counters move, and match the run's items at the end",
    () =>
      Effect.gen(function*() {
        const port = yield* freePort
        yield* Layer.build(NodeTelemetry.layerMetrics({ port }))
        const directory = yield* tempDir
        const written: Array<readonly [string, number]> = []
        const flow = countingFlow("metered", Input.fromStream(slowWords(600, "3 millis")), written)
        const run = yield* Dataflow.run(flow, { epoch: Epoch.everyItems(50) }).pipe(
          Effect.provide(SqliteRecovery.layer({ directory })),
          Effect.fork
        )
        // scrape twice while the run goes on: the input's counter must move between them
        const inputItems = (text: string) =>
          total(text, "sluice_step_items_in_total", { dataflow: "metered", step: "words", worker: "0" })
        const during = yield* scrape(port).pipe(
          Effect.filterOrFail((text) => inputItems(text) > 0),
          Effect.retry(Schedule.spaced("50 millis"))
        )
        const later = yield* scrape(port).pipe(
          Effect.filterOrFail((text) => inputItems(text) > inputItems(during)),
          Effect.retry(Schedule.spaced("50 millis"))
        )
        assert.isTrue(total(later, "sluice_epoch_committed", { dataflow: "metered" }) >= 1)
        const summary = yield* Fiber.join(run)
        const after = yield* scrape(port)
        assert.strictEqual(summary.items, 600)
        assert.strictEqual(inputItems(after), summary.items)
        assert.strictEqual(total(after, "sluice_step_items_in_total", { step: "nonEmpty" }), 600)
        assert.strictEqual(total(after, "sluice_step_items_out_total", { step: "out" }), written.length)
        assert.strictEqual(total(after, "sluice_epochs_committed_total", { dataflow: "metered" }), summary.lastEpoch)
        assert.strictEqual(total(after, "sluice_epoch_committed", { dataflow: "metered" }), summary.lastEpoch)
        assert.strictEqual(total(after, "sluice_resume_epoch", { dataflow: "metered" }), 1)
        // one snapshot per word that changed per epoch, plus the input's position
        assert.isTrue(total(after, "sluice_snapshot_writes_total", { dataflow: "metered" }) >= 16 + summary.lastEpoch)
        assert.isTrue(total(after, "sluice_snapshot_bytes_total", { dataflow: "metered" }) > 0)
        assert.strictEqual(
          total(after, "sluice_commit_latency_seconds_count", { dataflow: "metered" }),
          summary.lastEpoch
        )
      }).pipe(Effect.scoped),
    30_000
  )
})

// the threads import the fixture module by URL, as a user's flow module
const flows = pathToFileURL(createRequire(import.meta.url).resolve("@sluice/store-testkit/WorkerFlows"))

describe("NodeTelemetry.layerMetrics with worker threads", () => {
  it.live(
    "the workers' counts reach the calling thread's /metrics with their worker label",
    () =>
      Effect.gen(function*() {
        const port = yield* freePort
        yield* Layer.build(NodeTelemetry.layerMetrics({ port }))
        const out = yield* tempDir
        process.env.SLUICE_TEST_OUT = out
        const summary = yield* Dataflow.run(Dataflow.fromModule<typeof Flows>(flows, "partitionedWordcount"), {
          workers: 2,
          epoch: Epoch.everyItems(200)
        }).pipe(Effect.provide(Layer.merge(NodeWorkers.layer, RecoveryStore.layerMemory())))
        const text = yield* scrape(port)
        const id = { dataflow: "parallel-wordcount" }
        const words = { length: 6 * 500 }
        assert.strictEqual([...expectedWords(6, 500).values()].reduce((a, b) => a + b, 0), words.length)
        assert.strictEqual(summary.items, words.length)
        const read = [0, 1].map((w) =>
          total(text, "sluice_step_items_in_total", { ...id, step: "lines", worker: `${w}` })
        )
        // each worker read its own partitions (three each), and together they read all
        assert.deepStrictEqual(read, [words.length / 2, words.length / 2])
        // every word reached the keyed count on the worker that owns it, across the exchange
        const counted = [0, 1].map((w) =>
          total(text, "sluice_step_items_in_total", { ...id, step: "count", worker: `${w}` })
        )
        assert.isTrue(counted.every((n) => n > 0))
        assert.strictEqual(counted[0] + counted[1], words.length)
        assert.strictEqual(total(text, "sluice_step_items_out_total", { ...id, step: "out" }), words.length)
        assert.strictEqual(total(text, "sluice_epoch_committed", id), summary.lastEpoch)
        assert.deepStrictEqual(
          [0, 1].map((w) => samples(text, "sluice_exchange_queue_depth").some((s) => s.labels.worker === `${w}`)),
          [true, true]
        )
        assert.strictEqual(total(text, "sluice_snapshot_writes_total", id) > 0, true)
      }).pipe(Effect.scoped),
    60_000
  )
})

describe("NodeTelemetry.layerTracingTo", () => {
  it.live(
    "a span per run, per resume and per epoch, with the epoch's items, writes and commit as children",
    () =>
      Effect.gen(function*() {
        const spans = new InMemorySpanExporter()
        // built in this test's scope: the provider's shutdown at the end of a layer clears the exporter
        const tracing = yield* Layer.build(NodeTelemetry.layerTracingTo(new SimpleSpanProcessor(spans)))
        const written: Array<readonly [string, number]> = []
        const words = Array.from({ length: 100 }, (_, i) => `w${i % 10}`)
        const summary = yield* Dataflow.run(countingFlow("traced", Input.fromIterable(words), written), {
          epoch: Epoch.everyItems(25)
        }).pipe(
          Effect.provide(RecoveryStore.layerMemory()),
          Effect.provide(tracing)
        )
        const finished = spans.getFinishedSpans()
        const named = (name: string) => finished.filter((span) => span.name === name)
        const [run] = named("sluice.run")
        assert.strictEqual(named("sluice.run").length, 1)
        assert.strictEqual(run.attributes["sluice.dataflow"], "traced")
        const parentOf = (span: (typeof finished)[number]) => span.parentSpanContext?.spanId
        assert.deepStrictEqual(named("sluice.resume").map(parentOf), [run.spanContext().spanId])
        const epochs = named("sluice.epoch")
        assert.strictEqual(epochs.length, summary.lastEpoch)
        assert.deepStrictEqual(epochs.map((span) => span.attributes["sluice.epoch"]), epochs.map((_, i) => i + 1))
        for (const epoch of epochs) {
          assert.strictEqual(parentOf(epoch), run.spanContext().spanId)
          const children = finished.filter((span) => parentOf(span) === epoch.spanContext().spanId).map((s) => s.name)
          assert.deepStrictEqual(children.sort(), ["sluice.epoch.commit", "sluice.epoch.items", "sluice.epoch.writes"])
        }
        const items = named("sluice.epoch.items").map((span) => Number(span.attributes["sluice.items"]))
        assert.strictEqual(items.reduce((a, b) => a + b, 0), words.length)
      }).pipe(Effect.scoped),
    30_000
  )

  it.effect("layerTracing adds nothing without OTEL_EXPORTER_OTLP_ENDPOINT", () =>
    Effect.gen(function*() {
      const before = yield* Effect.tracer
      const inside = yield* Effect.tracer.pipe(Effect.provide(NodeTelemetry.layerTracing))
      assert.strictEqual(inside, before)
    }).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))))
})
