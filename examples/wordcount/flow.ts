/**
 * Word count: lines → words → a count per word, emitted once per word when the
 * input ends.
 */
import { Dataflow, Input, type Output } from "@sluice/core"
import { Schema } from "effect"

export const wordcount = (path: string, output: Output.Output<readonly [string, number]>) =>
  Dataflow.make("wordcount").pipe(
    Dataflow.input("lines", Input.fromFile(path)),
    Dataflow.flatMap("split", (line: string) => line.toLowerCase().split(/[^a-z]+/).filter((w) => w.length > 0)),
    Dataflow.keyBy("key", (word) => word),
    Dataflow.fold("count", {
      state: Schema.Number,
      init: () => 0,
      fold: (count, _word: string) => count + 1,
      emit: "end"
    }),
    Dataflow.output("top", output)
  )
