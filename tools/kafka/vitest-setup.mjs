// Vitest global setup for the packages whose tests need a Kafka broker:
//
//   // packages/<name>/vitest.config.ts
//   test: { globalSetup: ["../../tools/kafka/vitest-setup.mjs"] }
//
// and in a test: `inject("kafkaBrokers")`.
//
// Vitest runs the global setups of every project in its main process before any
// test, and their teardowns after all tests. Several projects use this file, so
// the broker is reference-counted on globalThis (each project may load its own
// copy of this module): the first setup starts the broker (or reuses one that this
// harness started from the same cache, checked by its cluster id; a stranger on the
// port makes it start its own on the next free ports), the last teardown stops it. Whatever happens, the
// broker never outlives the vitest process (see broker.mjs).
//
// SLUICE_KAFKA_BROKERS=host:port[,host:port] runs the tests against that cluster
// instead and starts nothing.
import { startBroker } from "./broker.mjs"

const key = Symbol.for("sluice.kafka.vitest-broker")

export default async function setup(project) {
  const external = process.env.SLUICE_KAFKA_BROKERS?.trim()
  if (external) {
    project.provide("kafkaBrokers", external.split(",").map((broker) => broker.trim()).filter(Boolean))
    return () => {}
  }
  const shared = (globalThis[key] ??= { users: 0, broker: undefined })
  shared.users++
  try {
    shared.broker ??= startBroker({ quiet: process.env.SLUICE_KAFKA_QUIET === "1" })
    const { brokers } = await shared.broker
    project.provide("kafkaBrokers", brokers)
  } catch (error) {
    shared.users--
    shared.broker = undefined
    // One clear line instead of a stack: the usual cause is a missing java or maven.
    const failure = new Error(`kafka broker for the tests: ${error.message}`)
    failure.stack = failure.message
    throw failure
  }
  return async () => {
    if (--shared.users > 0) return
    const starting = shared.broker
    shared.broker = undefined
    await (await starting)?.stop()
  }
}
