// One run of the crash test: runs the crash flow on the SQLite store in
// argv[2] over the generated input, appending each output chunk to argv[3]
// as `epoch<TAB>word<TAB>count` lines. The parent SIGKILLs it at random.
//
// SLUICE_KILL_IN_COMMIT=<commit>:<statement> makes it SIGKILL itself inside
// its <commit>-th epoch commit, before statement <statement> of the
// transaction (it prints `killing <epoch> <statement>` first).
//
// SLUICE_CRASH_INPUT_FILE=<file> reads the input from that file instead
// (`Input.fromFile`, which checks that it is the file it was reading).
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Dataflow, Epoch, Output, RecoveryStore } from "@sluice/core"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as Backend from "../../src/internal/backend.js"
import { crashFlow, crashLines } from "./flow.js"

const [directory, outputFile, lineCount, epochItems, seed] = process.argv.slice(2)
const say = (line: string) => fs.writeSync(1, `${line}\n`)

const killAt = process.env.SLUICE_KILL_IN_COMMIT?.split(":").map(Number)
let commits = 0
const hooks: Backend.Hooks = killAt === undefined ? {} : {
  beforeCommitStatement: (statement, epoch) => {
    if (statement === 0) commits++
    if (commits === killAt[0] && statement === killAt[1]) {
      say(`killing ${epoch} ${statement}`)
      process.kill(process.pid, "SIGKILL")
    }
  }
}

const out = fs.openSync(outputFile, "a")
const output = Output.sink((items: Iterable<readonly [string, number]>, { epoch }) =>
  Effect.sync(() => {
    let text = ""
    for (const [word, count] of items) text += `${epoch}\t${word}\t${count}\n`
    // one write per chunk, straight to the file: nothing buffered in this process is lost on SIGKILL
    fs.writeSync(out, text)
  })
)

const store = Layer.effect(
  RecoveryStore.RecoveryStore,
  // folds every 16 epochs, as the default did before folds went by size: with this child's short epochs the
  // default (4 MiB of changelog) would fold about once a run, and the kills must keep landing inside folds
  Effect.map(Backend.make({ directory, materializeEvery: 16 }, hooks), RecoveryStore.make)
)
const inputFile = process.env.SLUICE_CRASH_INPUT_FILE
const source = inputFile === undefined ? crashLines(Number(lineCount), Number(seed)) : { file: inputFile }

say("ready")
Effect.runPromise(
  Dataflow.run(crashFlow(source, output), { epoch: Epoch.everyItems(Number(epochItems)) }).pipe(
    Effect.provide(store),
    Effect.provide(NodeContext.layer)
  )
).then(
  (summary) => {
    say(`done ${summary.resumeEpoch} ${summary.lastEpoch}`)
    process.exit(0)
  },
  (error) => {
    process.stderr.write(`${error}\n`)
    process.exit(1)
  }
)
