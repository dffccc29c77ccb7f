import { Dataflow, type Input, Output } from "@sluice/core"
import { type Duration, Effect, Schedule, Schema, Stream } from "effect"
import * as net from "node:net"

/** A port nothing listens on right now, for a server under test. */
export const freePort = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** The words of a slow input: `count` words from 16 distinct ones, one every `every`. */
export const slowWords = (count: number, every: Duration.DurationInput) =>
  Stream.range(0, count - 1).pipe(
    Stream.map((n) => `w${n % 16}`),
    Stream.schedule(Schedule.spaced(every))
  )

/** A keyed word count, with one step of each common kind, reading `words`. */
export const countingFlow = (id: string, words: Input.Input<string>, written: Array<readonly [string, number]>) =>
  Dataflow.make(id).pipe(
    Dataflow.input("words", words),
    Dataflow.filter("nonEmpty", (word: string) => word.length > 0),
    Dataflow.keyBy("key", (word) => word),
    Dataflow.map("one", ([word]) => [word, 1] as const),
    Dataflow.reduce("count", { state: Schema.Number, reduce: (a, b) => a + b }),
    Dataflow.output(
      "out",
      Output.sink((items: Iterable<readonly [string, number]>) => Effect.sync(() => written.push(...items)))
    )
  )

/** The samples of one metric in Prometheus text: labels and value per line. */
export const samples = (text: string, name: string) =>
  text.split("\n").flatMap((line) => {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ([^ ]+)/.exec(line)
    if (match === null || match[1] !== name) return []
    const labels = Object.fromEntries(
      [...(match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]])
    )
    return [{ labels, value: Number(match[3]) }]
  })

/** The sum of a metric's samples whose labels include `where`. */
export const total = (text: string, name: string, where: Record<string, string> = {}) =>
  samples(text, name)
    .filter((s) => Object.entries(where).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0)

export const scrape = (port: number) =>
  Effect.promise(() => fetch(`http://127.0.0.1:${port}/metrics`).then((response) => response.text()))
