/**
 * Word count with durable recovery on the embedded SQLite store.
 *
 *   pnpm example            # counts a generated corpus (examples/wordcount/corpus.txt)
 *   pnpm example FILE       # counts FILE
 *
 * Interrupt it (Ctrl-C, or kill -9) and run it again: it resumes from the last
 * completed epoch, kept in examples/state/wordcount (set SLUICE_STATE to move it).
 * Delete that directory to start over.
 */
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Dataflow, Epoch, Output } from "@sluice/core"
import { SqliteRecovery } from "@sluice/recovery-sqlite"
import { Console, Effect } from "effect"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { ensureCorpus } from "./corpus.js"
import { wordcount } from "./flow.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const file = process.argv[2] ?? ensureCorpus(path.join(here, "corpus.txt"))
const directory = process.env.SLUICE_STATE ?? path.join(here, "..", "state", "wordcount")

const counts = new Map<string, number>()
const collect = Output.sink((items: Iterable<readonly [string, number]>) =>
  Effect.sync(() => {
    for (const [word, count] of items) counts.set(word, count)
  })
)

const started = Date.now()
const program = Effect.gen(function*() {
  yield* Console.log(`counting ${file}, state in ${directory}`)
  const summary = yield* Dataflow.run(wordcount(file, collect), {
    epoch: Epoch.everyItems(25_000),
    onEpochCommitted: ({ epoch, totalItems }) => {
      const seconds = (Date.now() - started) / 1000
      return Console.log(
        `epoch ${epoch} committed · ${totalItems.toLocaleString("en")} lines · ` +
          `${Math.round(totalItems / seconds).toLocaleString("en")} lines/s`
      )
    }
  })
  yield* Console.log(
    summary.resumeEpoch > 1
      ? `resumed from epoch ${summary.resumeEpoch}: read ${summary.items.toLocaleString("en")} more lines`
      : `read ${summary.items.toLocaleString("en")} lines in epochs 1-${summary.lastEpoch}`
  )
  if (counts.size === 0) {
    return yield* Console.log("no new counts: the input was already counted (delete the state directory to start over)")
  }
  const top = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 10)
  yield* Console.log(`top words of ${counts.size.toLocaleString("en")} counted:`)
  for (const [word, count] of top) yield* Console.log(`  ${word.padEnd(12)} ${count.toLocaleString("en")}`)
}).pipe(Effect.provide(SqliteRecovery.layer({ directory })), Effect.provide(NodeContext.layer))

NodeRuntime.runMain(program)
