/**
 * The word count of the benchmark as a module export, for runs on several
 * worker threads (functions do not cross threads). Sized by environment: the
 * lines are made from the benchmark's seed in every thread, and partition `p`
 * reads every eighth line from `p`. Each worker writes the number of items its
 * output counted into `SLUICE_BENCH_COUNTS/worker-<n>` at every commit.
 */
import { Dataflow, Input, Output } from "@sluice/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Data from "./data.js"
import { countWords } from "./workloads.js"

export const PARTITIONS = 8

export const wordcount = () => {
  const lines = Data.wordLines(Number(process.env.SLUICE_BENCH_WORDS))
  const countsDirectory = process.env.SLUICE_BENCH_COUNTS!
  return Dataflow.make("wordcount-workers").pipe(
    Dataflow.input(
      "lines",
      Input.partitioned({
        partitions: Array.from({ length: PARTITIONS }, (_, p) => String(p)),
        open: (partition, resumeFrom: Option.Option<number>) => {
          const p = Number(partition)
          const start = Option.match(resumeFrom, { onNone: () => p, onSome: (i) => i + PARTITIONS })
          return Stream.iterate(start, (i) => i + PARTITIONS).pipe(
            Stream.takeWhile((i) => i < lines.length),
            Stream.map((i) => [lines[i], i] as const),
            Stream.rechunk(4096)
          )
        }
      })
    ),
    countWords,
    Dataflow.output(
      "out",
      Output.make((context) =>
        Effect.sync(() => {
          let counted = 0
          return {
            write: (items) => Effect.sync(() => void (counted += items.length)),
            beforeCommit: () =>
              Effect.sync(() =>
                fs.writeFileSync(path.join(countsDirectory, `worker-${context.workerIndex}`), String(counted))
              )
          }
        })
      )
    )
  )
}
