import { Dataflow, Input, type Output } from "@sluice/core"
import { makeLines } from "@sluice/store-testkit/TestFlows"
import { Schema } from "effect"

/** The dataflow id of the crash tests' store. */
export const DATAFLOW_ID = "crash-wordcount"

/** Deterministic input: lines of words over a vocabulary, some `del:<word>` deleting a count. */
export const crashLines = (count: number, seed: number): Array<string> => makeLines(count, seed, 400)

/** The input lines, or a file holding them (one per line): a file input checks it is the file it was reading. */
export type CrashSource = ReadonlyArray<string> | { readonly file: string }

/**
 * Wordcount: each word emits its running count, `del:<word>` deletes the
 * count and emits 0. The same flow runs in the child and in the clean run.
 */
export const crashFlow = (source: CrashSource, output: Output.Output<readonly [string, number]>) =>
  Dataflow.make(DATAFLOW_ID).pipe(
    Dataflow.input("lines", "file" in source ? Input.fromFile(source.file) : Input.fromIterable(source)),
    Dataflow.flatMap("split", (line: string) => line.split(" ").filter((word) => word.length > 0)),
    Dataflow.keyBy("key", (word) => word.startsWith("del:") ? word.slice(4) : word),
    Dataflow.statefulMap("count", {
      state: Schema.Number,
      init: () => 0,
      step: (count, word: string) => word.startsWith("del:") ? [undefined, 0] as const : [count + 1, count + 1] as const
    }),
    Dataflow.output("out", output)
  )
