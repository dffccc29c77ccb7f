import type { RecoveryStore } from "@sluice/core"
import { KafkaRecovery } from "@sluice/recovery-kafka"
import { backendSuite } from "@sluice/store-testkit"
import { Effect } from "effect"
import { countVersions, freshStore } from "./fixtures/KafkaFixture.js"

const prefixes = new WeakMap<RecoveryStore.Backend, string>()

// No `readOutputs`: the suite expects records of an epoch that a lagging worker
// has not completed to be visible at once and to vanish when the epoch is
// discarded; a Kafka topic cannot take a record back, so the Kafka store holds
// such records until every worker has completed the epoch instead
// (KafkaStore.test.ts checks that).
backendSuite(
  "kafka",
  () =>
    Effect.map(freshStore("backend"), (options) => {
      const backend = KafkaRecovery.backend(options)
      prefixes.set(backend, options.topicPrefix)
      return backend
    }),
  { countVersions: (backend) => countVersions(prefixes.get(backend)!) }
)
