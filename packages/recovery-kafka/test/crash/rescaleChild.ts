// One rescale in a child process, for KafkaRescaleCrash.test.ts: rescales the
// store named by the JSON argument to its `workers`, between the lines `ready`
// and `finished` (`runRescaleChild`); the parent SIGKILLs it in between.
import { KafkaRecovery } from "@sluice/recovery-kafka"
import { rescaleInChild } from "@sluice/store-testkit/RescaleRuns"
import { Effect } from "effect"

const { brokers, topicPrefix, workers } = JSON.parse(process.argv[2]) as {
  readonly brokers: ReadonlyArray<string>
  readonly topicPrefix: string
  readonly workers: number
}

// the output topics of `freshStore` in the test fixture
const backend = KafkaRecovery.backend({ brokers, topicPrefix, outputTopic: (d) => `${topicPrefix}-out-${d}` })
void rescaleInChild(Effect.succeed(backend), workers)
