/**
 * Exactly-once end to end, checked the way Kafka's own EOS system test checks
 * it: real processes killed with SIGKILL while they run epochs, restarted until
 * the input is done, then the output read with read_committed.
 */
import { assert, describe, it } from "@effect/vitest"
import { KafkaRecovery } from "@sluice/recovery-kafka"
import { readState, TestSeed } from "@sluice/store-testkit"
import { Effect, Schema } from "effect"
import Kafkajs from "kafkajs"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Balance, type CrashFlowOptions } from "./crash/flow.js"
import { brokers, freshStore, testClient, uniquePrefix } from "./fixtures/KafkaFixture.js"

const childScript = fileURLToPath(new URL("./crash/child.ts", import.meta.url))
const packageDir = fileURLToPath(new URL("..", import.meta.url))

interface ChildRun {
  readonly commits: number
  readonly killed: boolean
  /** The kill came after a commit started and before the run reported it committed. */
  readonly killedInCommit: boolean
  readonly code: number | null
  readonly output: string
}

/**
 * Runs the flow in a child process. With `kill`, SIGKILLs it `delayMs` after
 * the n-th commit begins (`inCommit`, commits take milliseconds) or after the
 * n-th commit completed (mid-epoch).
 */
const runChild = (
  options: CrashFlowOptions,
  kill?: { readonly at: number; readonly inCommit: boolean; readonly delayMs: number }
) =>
  Effect.async<ChildRun>((resume) => {
    const child = spawn(process.execPath, ["--import", "tsx", childScript, JSON.stringify(options)], {
      cwd: packageDir,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let commits = 0
    let starts = 0
    let inCommit = false
    let killed = false
    let killedInCommit = false
    let output = ""
    const killNow = () => {
      killedInCommit = inCommit
      child.kill("SIGKILL")
    }
    child.stdout.setEncoding("utf8").on("data", (text: string) => {
      output += text
      for (const line of text.split("\n")) {
        if (line.startsWith("commit-start ")) {
          starts++
          inCommit = true
          if (kill?.inCommit === true && starts === kill.at && !killed) {
            killed = true
            setTimeout(killNow, kill.delayMs)
          }
        } else if (line.startsWith("committed ")) {
          commits++
          inCommit = false
          if (kill?.inCommit === false && commits === kill.at && !killed) {
            killed = true
            setTimeout(killNow, kill.delayMs)
          }
        }
      }
    })
    child.stderr.setEncoding("utf8").on("data", (text: string) => {
      output += text
    })
    child.on("exit", (code, signal) =>
      resume(Effect.succeed({ commits, killed: signal === "SIGKILL", killedInCommit, code, output })))
    return Effect.sync(() =>
      child.kill("SIGKILL")
    )
  })

/** Every record of a topic as an independent read_committed consumer (kafkajs, a consumer group) sees it. */
const consumeAll = (topic: string, expected: number) =>
  Effect.promise(async () => {
    const kafka = new Kafkajs.Kafka({ brokers: [...brokers()], logLevel: Kafkajs.logLevel.NOTHING })
    const consumer = kafka.consumer({ groupId: `${topic}-check`, readUncommitted: false, maxWaitTimeInMs: 100 })
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    const seen: Array<{ partition: number; offset: number; key: string; value: string }> = []
    await consumer.run({
      eachMessage: async ({ message, partition }) => {
        seen.push({
          partition,
          offset: Number(message.offset),
          key: message.key!.toString(),
          value: message.value!.toString()
        })
      }
    })
    const deadline = Date.now() + 30_000
    while (seen.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    // anything beyond the expected count (a duplicate) gets a moment to show up
    await new Promise((r) => setTimeout(r, 1_000))
    await consumer.disconnect()
    return seen
  })

describe("exactly-once with the Kafka store, across SIGKILLs", () => {
  const seed = TestSeed.fromEnvironment()
  it.scopedLive(
    "EOS: killed at random during epochs and resumed, read_committed output holds every input record once, balances equal a recomputation, no transaction is left open",
    () =>
      Effect.gen(function*() {
        let random = seed
        const next = (n: number) => {
          random = (random * 1103515245 + 12345) % 2147483648
          return random % n
        }
        const store = yield* freshStore("eos")
        const client = yield* testClient
        const prefix = uniquePrefix("eos-io")
        const input = `${prefix}-transfers`
        const output = `${prefix}-balances`
        yield* Effect.addFinalizer(() => Effect.ignore(client.deleteTopics([input, output])))
        yield* client.createTopic({ topic: input, partitions: 3 })

        // 3,000 transfers over 12 accounts, keyed by account: an account's transfers are in one partition, in id order
        const transfers = Array.from({ length: 3_000 }, (_, id) => ({
          id,
          account: `acct-${next(12)}`,
          amount: next(100) - 30
        }))
        yield* Effect.scoped(Effect.flatMap(client.producer(), (producer) =>
          producer.send([{
            topic: input,
            records: transfers.map((t) => ({ key: t.account, value: JSON.stringify(t) }))
          }])))

        const options: CrashFlowOptions = {
          brokers: store.brokers,
          input,
          output,
          topicPrefix: store.topicPrefix,
          epochItems: 40
        }
        const runs: Array<ChildRun> = []
        for (let kill = 0; kill < 6; kill++) {
          // every other kill aims inside a commit, the others between commits
          const inCommit = kill % 2 === 0
          const run = yield* runChild(options, { at: 1 + next(5), inCommit, delayMs: inCommit ? next(4) : next(2) })
          runs.push(run)
          if (!run.killed) break // finished before the kill came
        }
        if (runs[runs.length - 1].killed) runs.push(yield* runChild(options))
        const last = runs[runs.length - 1]
        assert.strictEqual(last.code, 0, `the last run failed:\n${last.output}`)
        const killed = runs.filter((r) => r.killed)
        assert.isAtLeast(killed.length, 4, `seed ${seed}: too few runs were killed before the input ended`)
        assert.isAtLeast(
          killed.filter((r) => r.killedInCommit).length,
          1,
          `seed ${seed}: no kill landed inside a commit`
        )

        // read_committed: every input record's result exactly once, in order per account
        const seen = yield* consumeAll(output, transfers.length)
        const decode = Schema.decodeUnknownSync(Schema.parseJson(Schema.Tuple(Schema.String, Balance)))
        const results = seen
          .sort((a, b) => a.partition - b.partition || a.offset - b.offset)
          .map((record) => decode(record.value)[1])
        const ids = results.map((r) => r.id)
        assert.strictEqual(new Set(ids).size, ids.length, `seed ${seed}: duplicate output records`)
        assert.deepStrictEqual([...ids].sort((a, b) => a - b), transfers.map((t) => t.id), `seed ${seed}: lost records`)

        // running aggregates equal a recomputation from the input
        const expected = new Map<number, number>()
        const totals = new Map<string, number>()
        for (const t of transfers) {
          const balance = (totals.get(t.account) ?? 0) + t.amount
          totals.set(t.account, balance)
          expected.set(t.id, balance)
        }
        const byAccount = new Map<string, Array<number>>()
        for (const r of results) {
          assert.strictEqual(r.balance, expected.get(r.id), `seed ${seed}: balance after transfer ${r.id}`)
          byAccount.set(r.account, [...(byAccount.get(r.account) ?? []), r.id])
        }
        for (const [account, accountIds] of byAccount) {
          assert.deepStrictEqual(
            accountIds,
            [...accountIds].sort((a, b) => a - b),
            `seed ${seed}: ${account} out of order`
          )
        }
        const state = yield* readState(KafkaRecovery.layer(store), "balances", "balance", Schema.Number)
        assert.deepStrictEqual(state, totals)

        // no transaction left open: on every partition the stable end is the high watermark
        const { progress, state: stateTopic } = KafkaRecovery.topics(store.topicPrefix)
        for (const topic of [input, output, progress, stateTopic]) {
          for (const partition of yield* client.offsets(topic)) {
            assert.strictEqual(partition.end, partition.high, `${topic}/${partition.partition} has an open transaction`)
          }
        }
        console.log(
          `exactly-once crash test (seed ${seed}): ${runs.length} runs, ${killed.length} killed ` +
            `(${killed.filter((r) => r.killedInCommit).length} inside a commit), ${transfers.length} records`
        )
      }).pipe(TestSeed.replayableEffect(seed, "recovery-kafka", "test/ExactlyOnce.test.ts")),
    120_000
  )
})
