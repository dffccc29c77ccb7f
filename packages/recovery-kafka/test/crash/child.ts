// A dataflow process for the crash test: killed with SIGKILL at random moments
// and started again. Options come as one JSON argument.
import { Effect } from "effect"
import { type CrashFlowOptions, runBalances } from "./flow.js"

const options = JSON.parse(process.argv[2]) as CrashFlowOptions

Effect.runPromise(runBalances(options)).then(
  (summary) => {
    process.stdout.write(`finished ${JSON.stringify(summary)}\n`)
    process.exit(0)
  },
  (error) => {
    process.stderr.write(`failed: ${error}\n`)
    process.exit(1)
  }
)
