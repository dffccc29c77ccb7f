import { assert } from "@effect/vitest"
import { Dataflow, Epoch, RecoveryStore, type WorkerRuntime } from "@sluice/core"
import { Effect, Layer, Schema, Stream } from "effect"
import type * as Flows from "./WorkerFlows.js"

const flows = new URL(`./WorkerFlows.${import.meta.url.endsWith(".ts") ? "ts" : "js"}`, import.meta.url)

/** `partitionedWordcount` as a module export, for runs on several threads. */
export const partitionedWordcount = Dataflow.fromModule<typeof Flows>(flows, "partitionedWordcount")

/** `mergedParityCount` as a module export: a merge of a local and an exchanged path, on several threads. */
export const mergedParityCount = Dataflow.fromModule<typeof Flows>(flows, "mergedParityCount")

/** Runs `partitionedWordcount` over 6 partitions of `perPartition` words each, 150-item epochs. */
export const runPartitionedWordcount = (
  layer: Layer.Layer<RecoveryStore.RecoveryStore, unknown>,
  options: {
    readonly workers: number
    readonly perPartition: number
    readonly rescale: boolean
    /** The thread runtime, e.g. `NodeWorkers.layer` from `@sluice/platform-node`. */
    readonly threads: Layer.Layer<WorkerRuntime.WorkerRuntime>
  }
) =>
  Effect.suspend(() => {
    process.env.SLUICE_TEST_ITEMS = String(options.perPartition)
    return Dataflow.run(partitionedWordcount, {
      workers: options.workers,
      rescale: options.rescale,
      epoch: Epoch.everyItems(150)
    }).pipe(Effect.provide(Layer.merge(layer, options.threads)))
  })

/** The committed counts of the step `count` of a worker flow, read from every worker's share of the store. */
export const countsOf = (
  layer: Layer.Layer<RecoveryStore.RecoveryStore, unknown>,
  workerCount: number,
  dataflowId = "parallel-wordcount"
) =>
  Effect.gen(function*() {
    const store = yield* RecoveryStore.RecoveryStore
    const counts = new Map<string, number>()
    const decode = Schema.decodeUnknownSync(Schema.parseJson(Schema.Number))
    for (let w = 0; w < workerCount; w++) {
      yield* Effect.scoped(Effect.gen(function*() {
        const worker = yield* store.open({ dataflowId, workerIndex: w, workerCount })
        yield* Stream.runForEach(worker.snapshots("count"), ({ key, value }) =>
          Effect.sync(() => {
            assert.isFalse(counts.has(key), `key ${key} is stored by two workers`)
            counts.set(key, decode(value))
          }))
      }))
    }
    return counts
  }).pipe(Effect.provide(layer))

/** What `partitionedWordcount` counts over its generated partitions. */
export const expectedWords = (partitions: number, perPartition: number) => {
  const counts = new Map<string, number>()
  for (let p = 0; p < partitions; p++) {
    for (let i = 0; i < perPartition; i++) {
      const w = `w${(p * 7919 + i * 104729) % 97}`
      counts.set(w, (counts.get(w) ?? 0) + 1)
    }
  }
  return counts
}
