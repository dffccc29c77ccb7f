/**
 * Word count with durable recovery on the embedded SQLite store.
 *
 *   pnpm example            # counts a generated corpus (examples/wordcount/corpus.txt)
 *   pnpm example FILE       # counts FILE (relative to where you run pnpm)
 *
 * Interrupt it (Ctrl-C, or kill -9 of the pid it prints) and run it again: it
 * resumes from the last completed epoch, kept in
 * examples/state/wordcount-<hash of the input's path>, one directory per input
 * file (set SLUICE_STATE to choose one). Delete it to start over.
 */
import { Dataflow, Epoch, Output } from "@sluice/core"
import { NodeDataflow } from "@sluice/platform-node"
import { SqliteRecovery } from "@sluice/recovery-sqlite"
import { Console, Effect } from "effect"
import { createHash } from "node:crypto"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { inputFile } from "../commandLine.js"
import { ensureCorpus } from "./corpus.js"
import { wordcount } from "./flow.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const file = inputFile(() => ensureCorpus(path.join(here, "corpus.txt")))
// The state belongs to one input: positions in another file mean nothing, and its counts would be added in.
const directory = process.env.SLUICE_STATE ??
  path.join(here, "..", "state", `wordcount-${createHash("sha256").update(file).digest("hex").slice(0, 8)}`)

const counts = new Map<string, number>()
const collect = Output.sink((items: Iterable<readonly [string, number]>) =>
  Effect.sync(() => {
    for (const [word, count] of items) counts.set(word, count)
  })
)

const started = Date.now()
let lastCommittedEpoch = 0
const program = Effect.gen(function*() {
  yield* Console.log(`wordcount (pid ${process.pid}) counting ${file}`)
  yield* Console.log(`state in ${directory}`)
  const summary = yield* Dataflow.run(wordcount(file, collect), {
    epoch: Epoch.everyItems(25_000),
    onEpochCommitted: ({ epoch, totalItems }) => {
      lastCommittedEpoch = epoch
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
}).pipe(Effect.provide(SqliteRecovery.layer({ directory })))

// exitWithParent: run under pnpm, a kill -9 of pnpm must not leave this process counting on, holding the store.
NodeDataflow.runMain(program, { lastCommittedEpoch: () => lastCommittedEpoch, exitWithParent: true })
