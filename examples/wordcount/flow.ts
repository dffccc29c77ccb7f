/**
 * Word count: the dataflow shared by the example programs.
 */
import { Dataflow, Input, Output } from "@sluice/core"
import { Schema } from "effect"

export const wordcount = (path: string) =>
  Dataflow.make("wordcount").pipe(
    Dataflow.input("lines", Input.fromFile(path)),
    Dataflow.flatMap("split", (line: string) => line.toLowerCase().split(/[^a-z]+/).filter((w) => w.length > 0)),
    Dataflow.keyBy("key", (word) => word),
    // count every word; emit each word's total once, when the input ends
    Dataflow.fold("count", {
      state: Schema.Number,
      init: () => 0,
      fold: (count, _word: string) => count + 1,
      emit: "end"
    }),
    Dataflow.output("print", Output.console(([word, count]: readonly [string, number]) => `${word}: ${count}`))
  )
