import { assert, describe, it } from "@effect/vitest"
import { KafkaClient, KafkaError } from "@sluice/kafka"
import { Cause, Chunk, Effect, Exit, Option, Stream } from "effect"
import net from "node:net"
import { ownBroker } from "./fixtures/ownBroker.js"

const failureOf = (exit: Exit.Exit<unknown, unknown>): KafkaError.KafkaUnavailable => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const error = Option.getOrThrow(Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none())
  assert.instanceOf(error, KafkaError.KafkaUnavailable)
  return error as KafkaError.KafkaUnavailable
}

/** The seconds a message says the operation waited, checked against the time measured around it. */
const assertWaited = (message: string, measuredMillis: number) => {
  const said = /failed after (\d+\.\d)s: /.exec(message)
  assert.isNotNull(said, message)
  const seconds = Number(said![1])
  assert.isAtMost(seconds * 1000, measuredMillis + 100, message)
  assert.isAtLeast(seconds * 1000, measuredMillis - 1_500, message)
}

/** Runs `effect` and measures it, its scope's close included. */
const timed = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const startedAt = Date.now()
    const exit = yield* Effect.exit(effect)
    return { exit, millis: Date.now() - startedAt }
  })

describe("Kafka timeouts", () => {
  it.live("a broker that accepts connections but never answers fails within connectTimeout, and says how long it waited", () =>
    Effect.gen(function*() {
      const sockets: Array<net.Socket> = []
      const server = yield* Effect.acquireRelease(
        Effect.promise(() =>
          new Promise<net.Server>((resolve) => {
            const listening = net.createServer((socket) => sockets.push(socket))
            listening.listen(0, "127.0.0.1", () => resolve(listening))
          })
        ),
        (server) =>
          Effect.promise(() => {
            for (const socket of sockets) socket.destroy()
            return new Promise<void>((resolve) => server.close(() => resolve()))
          })
      )
      const broker = `127.0.0.1:${(server.address() as net.AddressInfo).port}`
      const { exit, millis } = yield* timed(
        Effect.scoped(KafkaClient.make({ brokers: [broker], connectTimeout: "2 seconds" }))
      )
      const error = failureOf(exit)
      assert.isAbove(sockets.length, 0, "the client connected")
      // the limit, plus at most one cleanupWait for kafkajs to let go of the connection
      assert.isBelow(millis, 5_000)
      assert.include(error.message, `kafka at ${broker}: connect (admin) failed after`)
      assert.include(error.message, "no answer within 2s (connectTimeout)")
      assertWaited(error.message, millis)
    }).pipe(Effect.scoped))

  it.live(
    "a stopped broker (SIGSTOP): a transaction and a fetch fail within requestTimeout, and say how long they waited",
    () =>
      Effect.gen(function*() {
        const { brokers, pid } = yield* ownBroker()
        const client = yield* KafkaClient.make({ brokers, requestTimeout: "3 seconds" })
        const topic = "stopped"
        yield* client.createTopic({ topic, partitions: 1 })
        const producer = yield* client.producer({ transactionalId: "stopped-tx" })
        yield* producer.transaction((tx) => tx.send([{ topic, records: [{ key: "a", value: "1" }] }]))
        process.kill(pid, "SIGSTOP")

        const committed = yield* timed(
          producer.transaction((tx) => tx.send([{ topic, records: [{ key: "b", value: "2" }] }]))
        )
        const commitError = failureOf(committed.exit)
        assert.isBelow(committed.millis, 3_000 + 2_000 + 1_000)
        assert.include(commitError.message, "no answer within 3s (requestTimeout)")
        assertWaited(commitError.message, committed.millis)

        const fetched = yield* timed(
          Stream.runCollect(client.read({ topic, partition: 0, from: 0, until: "follow", maxWait: "100 millis" }))
        )
        const fetchError = failureOf(fetched.exit as Exit.Exit<Chunk.Chunk<unknown>, unknown>)
        assert.isBelow(fetched.millis, 3_000 + 100 + 1_000)
        assert.include(fetchError.message, `fetch ${topic}/0@0 failed after`)
        assert.include(fetchError.message, "no answer within 3.1s (requestTimeout)")
        assertWaited(fetchError.message, fetched.millis)
      }).pipe(Effect.scoped),
    120_000
  )
})
