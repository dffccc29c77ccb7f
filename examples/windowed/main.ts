/**
 * Per-user event-time tumbling sums over a file of JSON lines, with late events
 * reported apart rather than dropped.
 *
 *   pnpm example:windowed            # examples/windowed/events.jsonl
 *   pnpm example:windowed FILE       # FILE relative to where you run pnpm
 */
import { Dataflow, Epoch, Input, Output, RecoveryStore, Window } from "@sluice/core"
import { NodeDataflow } from "@sluice/platform-node"
import { Effect, Schema } from "effect"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { inputFile } from "../commandLine.js"

const Event = Schema.Struct({ user: Schema.String, at: Schema.Date, value: Schema.Number })
type Event = typeof Event.Type
const parseEvent = Schema.decodeUnknownSync(Schema.parseJson(Event))

const file = inputFile(() => path.join(path.dirname(fileURLToPath(import.meta.url)), "events.jsonl"))

const sums = Dataflow.make("windowed-sums").pipe(
  Dataflow.input("events", Input.fromFile(file)),
  Dataflow.filter("non-empty", (line: string) => line.trim().length > 0),
  Dataflow.map("parse", parseEvent),
  Dataflow.keyBy("user", (e) => e.user),
  Dataflow.foldWindow("per_user", {
    clock: Window.eventClock({ timestamp: (e: Event) => e.at, lateness: "5 seconds" }),
    window: Window.tumbling({ length: "10 seconds", alignTo: new Date(0) }),
    state: Schema.Number,
    init: () => 0,
    fold: (sum, e) => sum + e.value
  })
)

sums.late.pipe(
  Dataflow.output("late", Output.console(([user, e]: readonly [string, Event]) => `late ${user} ${e.at.toISOString()}`))
)

const flow = sums.pipe(
  Dataflow.output(
    "print",
    Output.console(([user, { value, window }]: readonly [string, Window.Windowed<number>]) =>
      `${window.start.toISOString().slice(11, 19)}-${window.end.toISOString().slice(11, 19)} ${user}: ${value}`
    )
  )
)

let lastCommittedEpoch = 0
NodeDataflow.runMain(
  Dataflow.run(flow, {
    epoch: Epoch.everyItems(100),
    onEpochCommitted: ({ epoch }) => Effect.sync(() => (lastCommittedEpoch = epoch))
  }).pipe(Effect.provide(RecoveryStore.layerMemory())),
  { lastCommittedEpoch: () => lastCommittedEpoch, exitWithParent: true }
)
