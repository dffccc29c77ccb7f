import { RecoveryStore } from "@sluice/core"
import { backendSuite } from "@sluice/store-testkit"
import { Effect } from "effect"
import { SqliteRecovery } from "../src/index.js"
import { countVersions, readOutputs, tempDirectory } from "./fixtures/SqliteFixture.js"

const directories = new WeakMap<RecoveryStore.Backend, string>()
const directoryOf = (backend: RecoveryStore.Backend) => directories.get(backend)!

backendSuite(
  "sqlite",
  () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const backend = yield* Effect.orDie(SqliteRecovery.backend({ directory }))
      directories.set(backend, directory)
      return backend
    }),
  {
    countVersions: (backend) => countVersions(directoryOf(backend)),
    readOutputs: (backend, destination) =>
      Effect.map(
        readOutputs(directoryOf(backend), destination),
        (records) => records.map(({ epoch, value }) => ({ epoch, value: new TextDecoder().decode(value) }))
      )
  }
)
