import { Dataflow, Epoch, RecoveryStore } from "@sluice/core"
import { KafkaInput, KafkaOutput } from "@sluice/kafka"
import { KafkaRecovery } from "@sluice/recovery-kafka"
import { Effect, Schema } from "effect"

/** A transfer into an account: the input of the exactly-once crash test. */
export const Transfer = Schema.Struct({ id: Schema.Number, account: Schema.String, amount: Schema.Number })

/** The running balance after a transfer: what the flow emits for each input record. */
export const Balance = Schema.Struct({ id: Schema.Number, account: Schema.String, balance: Schema.Number })

export interface CrashFlowOptions {
  readonly brokers: ReadonlyArray<string>
  readonly input: string
  readonly output: string
  readonly topicPrefix: string
  readonly epochItems: number
}

/**
 * Kafka in, a running balance per account, Kafka out exactly-once, Kafka
 * store: the state, the input offsets and the output records of an epoch
 * commit in one Kafka transaction.
 */
export const balances = (options: CrashFlowOptions) =>
  Dataflow.make("balances").pipe(
    Dataflow.input(
      "transfers",
      KafkaInput.make({
        brokers: options.brokers,
        topic: options.input,
        value: Schema.parseJson(Transfer),
        bounded: true
      })
    ),
    Dataflow.keyBy("account", (message) => message.value.account),
    Dataflow.statefulMap("balance", {
      state: Schema.Number,
      init: () => 0,
      step: (balance, message: KafkaInput.Message<typeof Transfer.Type>) => {
        const next = balance + message.value.amount
        return [next, { id: message.value.id, account: message.value.account, balance: next }]
      }
    }),
    Dataflow.output(
      "balances",
      KafkaOutput.make({
        brokers: options.brokers,
        topic: options.output,
        value: Schema.parseJson(Schema.Tuple(Schema.String, Balance)),
        key: ([account]) => account,
        delivery: "exactly-once"
      })
    )
  )

/**
 * The Kafka store, printing `commit-start <epoch>` as each commit begins, so
 * that the crash test can aim some kills inside commits. (Writes to a pipe are
 * synchronous on Linux: the line is out before the commit starts.)
 */
const announcingCommits = (options: CrashFlowOptions): RecoveryStore.Backend => {
  const backend = KafkaRecovery.backend({ brokers: options.brokers, topicPrefix: options.topicPrefix })
  return {
    ...backend,
    open: (worker) =>
      Effect.map(backend.open(worker), (opened) => ({
        ...opened,
        commit: (epoch, writes, outputs) =>
          Effect.zipRight(
            Effect.sync(() => process.stdout.write(`commit-start ${epoch}\n`)),
            opened.commit(epoch, writes, outputs)
          )
      }))
  }
}

/** One run until the input's end offsets; prints `committed <epoch>` after every commit. */
export const runBalances = (options: CrashFlowOptions) =>
  Dataflow.run(balances(options), {
    epoch: Epoch.everyItems(options.epochItems),
    onEpochCommitted: ({ epoch }) => Effect.sync(() => process.stdout.write(`committed ${epoch}\n`))
  }).pipe(Effect.provide(RecoveryStore.layer(announcingCommits(options))))
