import { RecoveryStore } from "@sluice/core"
import { backendSuite } from "@sluice/store-testkit"
import { Effect } from "effect"
import { SqliteRecovery } from "../src/index.js"
import { countVersions, readOutputs, tempDirectory } from "./fixtures/SqliteFixture.js"

const directories = new WeakMap<RecoveryStore.Backend, string>()
const directoryOf = (backend: RecoveryStore.Backend) => directories.get(backend)!

const contract = (name: string, options: Omit<SqliteRecovery.Options, "directory">, countingVersions: boolean) =>
  backendSuite(
    name,
    () =>
      Effect.gen(function*() {
        const directory = yield* tempDirectory
        const backend = yield* Effect.orDie(SqliteRecovery.backend({ directory, ...options }))
        directories.set(backend, directory)
        return backend
      }),
    {
      // R6 per epoch counts versions: with the default materialization the changelog tail adds up to 15 epochs of
      // writes, which SqliteCommit's R6 test bounds; here every agreed epoch is materialized at once
      ...(countingVersions ? { countVersions: (backend) => countVersions(directoryOf(backend)) } : {}),
      readOutputs: (backend, destination) =>
        Effect.map(
          readOutputs(directoryOf(backend), destination),
          (records) => records.map(({ epoch, value }) => ({ epoch, value: new TextDecoder().decode(value) }))
        )
    }
  )

// the default layout: reads overlay the changelog on the materialized rows
contract("sqlite", {}, false)
// every commit materializes what every worker agreed: the table alone, and version counts exact
contract("sqlite, materialized every epoch", { materializeEvery: 1 }, true)
