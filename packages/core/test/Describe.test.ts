import { Dataflow, Input, Output } from "@sluice/core"
import { Either, Schema, Stream } from "effect"
import { describe, expect, it } from "vitest"

describe("Dataflow.describe", () => {
  it("lists every step in order with its kind and whether it keeps state, and every edge", () => {
    const df = Dataflow.make("graph")
    const { falses, trues } = df.pipe(
      Dataflow.input("lines", Input.fromIterable(["a b", "c"])),
      Dataflow.flatMap("words", (line: string) => line.split(" ")),
      Dataflow.branch("short", (word) => word.length < 2)
    )
    const counts = trues.pipe(
      Dataflow.keyBy("key", (word) => word),
      Dataflow.statefulMap("count", { state: Schema.Number, init: () => 0, step: (n, _w) => [n + 1, n + 1] })
    )
    Dataflow.merge("all", [counts.pipe(Dataflow.map("k", ([k]) => k)), falses]).pipe(
      Dataflow.output("out", Output.console())
    )
    const graph = Dataflow.describe(df)
    expect(graph.id).toBe("graph")
    expect(graph.steps).toEqual([
      { id: "lines", kind: "input", stateful: true },
      { id: "words", kind: "transform", stateful: false },
      { id: "short", kind: "branch", stateful: false },
      { id: "key", kind: "transform", stateful: false },
      { id: "count", kind: "statefulMap", stateful: true },
      { id: "k", kind: "transform", stateful: false },
      { id: "all", kind: "merge", stateful: false },
      { id: "out", kind: "output", stateful: false }
    ])
    expect(graph.edges).toEqual([
      { from: "lines", to: "words" },
      { from: "words", to: "short" },
      { from: "short", to: "key", port: "true" },
      { from: "key", to: "count" },
      { from: "count", to: "k" },
      { from: "k", to: "all" },
      { from: "short", to: "all", port: "false" },
      { from: "all", to: "out" }
    ])
  })

  it("marks only a resumable input as stateful: its position is what is recovered", () => {
    const df = Dataflow.make("inputs")
    Dataflow.merge("both", [
      df.pipe(Dataflow.input("file", Input.fromFile("/nonexistent.txt"))),
      df.pipe(Dataflow.input("stream", Input.fromStream(Stream.make("x"))))
    ]).pipe(Dataflow.output("out", Output.console()))
    expect(Dataflow.describe(df).steps.slice(0, 2)).toEqual([
      { id: "file", kind: "input", stateful: true },
      { id: "stream", kind: "input", stateful: false }
    ])
  })
})

describe("Dataflow.decodeSnapshot", () => {
  const df = Dataflow.make("decode")
  df.pipe(
    Dataflow.input("in", Input.fromIterable<Dataflow.Keyed<number>>([["a", 1]])),
    Dataflow.fold("sum", { state: Schema.NumberFromString, init: () => 0, fold: (s, n) => s + n, emit: "end" }),
    Dataflow.output("out", Output.console())
  )

  it("reads a snapshot of a step that emits at end as its state and whether it is pending, as a resume does", () => {
    expect(Either.getOrThrow(Dataflow.decodeSnapshot(df, "sum", JSON.stringify(["42", true])))).toEqual({
      state: 42,
      pending: true
    })
  })

  it("names what is wrong with a snapshot that is not a [state, pending] pair, or not JSON, or of no step", () => {
    expect(Dataflow.decodeSnapshot(df, "sum", JSON.stringify("42"))).toEqual(
      Either.left("snapshot is not a [state, pending] pair of a step that emits at end")
    )
    expect(Either.isLeft(Dataflow.decodeSnapshot(df, "sum", "{"))).toBe(true)
    expect(Dataflow.decodeSnapshot(df, "nope", "1")).toEqual(Either.left("dataflow decode has no step nope"))
  })
})
