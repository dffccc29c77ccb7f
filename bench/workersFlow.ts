/**
 * The word count of the benchmark as a module export, for runs on several
 * worker threads (functions do not cross threads). Sized by environment;
 * each line is made from its index when a partition reads it, so no thread
 * holds the corpus, and partition `p` reads every eighth line from `p`. Each worker writes the number of items its
 * output counted into `SLUICE_BENCH_COUNTS/worker-<n>` at every commit.
 */
import { Dataflow, Input, Output } from "@sluice/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Data from "./data.js"
import { countWords } from "./workloads.js"

export const PARTITIONS = 8

/** Items per chunk of a partition's stream. */
const CHUNK = 1024

export const wordcount = () => {
  const words = Number(process.env.SLUICE_BENCH_WORDS)
  const lineCount = Math.ceil(words / Data.WORDS_PER_LINE)
  const countsDirectory = process.env.SLUICE_BENCH_COUNTS!
  return Dataflow.make("wordcount-workers").pipe(
    Dataflow.input(
      "lines",
      Input.partitioned({
        partitions: Array.from({ length: PARTITIONS }, (_, p) => String(p)),
        // partition p reads lines p, p + 8, p + 16, ...; the position is the last line's index
        open: (partition, resumeFrom: Option.Option<number>) =>
          Stream.unfoldChunk(
            Option.match(resumeFrom, { onNone: () => Number(partition), onSome: (i) => i + PARTITIONS }),
            (first) => {
              if (first >= lineCount) return Option.none()
              const chunk: Array<readonly [string, number]> = []
              let i = first
              for (; i < lineCount && chunk.length < CHUNK; i += PARTITIONS) {
                chunk.push([Data.wordLineAt(i, Math.min(Data.WORDS_PER_LINE, words - i * Data.WORDS_PER_LINE)), i])
              }
              return Option.some([Chunk.unsafeFromArray(chunk), i] as const)
            }
          )
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
