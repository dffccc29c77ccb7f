// One rescale in a child process, for SqliteRescaleCrash.test.ts: rescales the
// store in argv[2] to argv[3] workers, between the lines `ready` and
// `finished` (`runRescaleChild`); the parent SIGKILLs it in between.
//
// SLUICE_KILL_IN_COMMIT=<commit>:<statement> makes it SIGKILL itself inside
// its <commit>-th commit, before statement <statement> of the transaction.
import { rescaleInChild } from "@sluice/store-testkit/RescaleRuns"
import * as Backend from "../../src/internal/backend.js"

const [directory, workers] = process.argv.slice(2)

const killAt = process.env.SLUICE_KILL_IN_COMMIT?.split(":").map(Number)
let commits = 0
const hooks: Backend.Hooks = killAt === undefined ? {} : {
  beforeCommitStatement: (statement) => {
    if (statement === 0) commits++
    if (commits === killAt[0] && statement === killAt[1]) process.kill(process.pid, "SIGKILL")
  }
}

void rescaleInChild(Backend.make({ directory }, hooks), Number(workers))
