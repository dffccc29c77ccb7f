/**
 * Runs word count over a text file on the in-memory store and prints the counts.
 *
 *   pnpm example            # counts examples/wordcount/input.txt
 *   pnpm example FILE       # counts FILE
 */
import { NodeRuntime } from "@effect/platform-node"
import { Dataflow, Epoch, RecoveryStore } from "@sluice/core"
import { Effect } from "effect"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { wordcount } from "./flow.js"

const file = process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), "input.txt")

const program = Dataflow.run(wordcount(file), { epoch: Epoch.everyItems(2) }).pipe(
  Effect.tap((summary) =>
    Effect.log(`read ${summary.items} lines in epochs ${summary.resumeEpoch}-${summary.lastEpoch}`)
  ),
  Effect.provide(RecoveryStore.layerMemory())
)

NodeRuntime.runMain(program)
