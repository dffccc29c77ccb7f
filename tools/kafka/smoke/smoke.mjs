// Scratch check of kafkajs 2.2.4 against the broker from ../broker.mjs.
// kafkajs lives outside the repo: KAFKAJS_DIR (default /tmp/kjs) with `npm i kafkajs@2.2.4`.
//   node tools/kafka/smoke/smoke.mjs
import { createRequire } from "node:module"
import { startBroker } from "../broker.mjs"

process.env.KAFKAJS_NO_PARTITIONER_WARNING = "1"
const require = createRequire(`${process.env.KAFKAJS_DIR ?? "/tmp/kjs"}/`)
const { Kafka, logLevel } = require("kafkajs")

const logs = []
const logCreator = () => ({ namespace, level, label, log }) => {
  if (level <= logLevel.WARN) logs.push(`${label} [${namespace}] ${log.message}${log.error ? ` (${log.error})` : ""}`)
}
const t0 = Date.now()
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(2)}s`
const report = (line) => console.log(`${elapsed()} ${line}`)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const check = (ok, what) => {
  report(`${ok ? "OK  " : "FAIL"} ${what}`)
  if (!ok) process.exitCode = 1
}

const broker = await startBroker()
report(`broker ${broker.brokers} reused=${broker.reused}`)
const kafka = new Kafka({ clientId: "smoke", brokers: broker.brokers, logLevel: logLevel.WARN, logCreator })
const run = Date.now().toString(36)
const topic = `smoke-${run}`

async function readAll(groupId, { readUncommitted = false, expect, topicName = topic, ms = 8000 } = {}) {
  const consumer = kafka.consumer({ groupId, readUncommitted, maxWaitTimeInMs: 500 })
  await consumer.connect()
  await consumer.subscribe({ topic: topicName, fromBeginning: true })
  const seen = []
  const t0 = Date.now()
  await consumer.run({ eachMessage: async ({ partition, message }) => {
    if (seen.length === 0) report(`  ${groupId}: first message after ${Date.now() - t0} ms`)
    seen.push({ partition, offset: message.offset, key: message.key?.toString(), value: message.value?.toString() })
  } })
  const deadline = Date.now() + ms
  while (Date.now() < deadline && !(expect && expect(seen))) await sleep(100)
  await sleep(500) // anything that should not be there gets a moment to show up
  await consumer.disconnect()
  return seen
}

try {
  const admin = kafka.admin()
  await admin.connect()
  let t = Date.now()
  const created = await admin.createTopics({
    waitForLeaders: true,
    topics: [{
      topic, numPartitions: 2, replicationFactor: 1,
      configEntries: [
        // no small segment.ms here: once a segment rolls, the cleaner also drops aborted
        // records, and the read_uncommitted check below would not find them
        { name: "cleanup.policy", value: "compact" }
      ]
    }]
  })
  const meta = await admin.fetchTopicMetadata({ topics: [topic] })
  check(created && meta.topics[0].partitions.length === 2, `createTopics compacted, 2 partitions, waitForLeaders (${Date.now() - t} ms)`)
  const configs = await admin.describeConfigs({ resources: [{ type: 2, name: topic, configNames: ["cleanup.policy"] }], includeSynonyms: false })
  check(configs.resources[0].configEntries[0].configValue === "compact", "cleanup.policy=compact")

  // transactions: commit one, abort one, commit another
  const producer = kafka.producer({ transactionalId: `smoke-tx-${run}`, idempotent: true, maxInFlightRequests: 1 })
  t = Date.now()
  await producer.connect()
  report(`transactional producer connected (${Date.now() - t} ms)`)
  t = Date.now()
  let tx = await producer.transaction()
  report(`first producer.transaction() (${Date.now() - t} ms; kafkajs sends InitProducerId with the transactionalId here, not on connect)`)
  await tx.send({ topic, messages: [{ key: "a", value: "committed-1", partition: 0 }, { key: "b", value: "committed-1", partition: 1 }] })
  t = Date.now()
  await tx.commit()
  report(`first commit (${Date.now() - t} ms)`)
  tx = await producer.transaction()
  await tx.send({ topic, messages: [{ key: "a", value: "aborted", partition: 0 }, { key: "c", value: "aborted", partition: 1 }] })
  await tx.abort()
  tx = await producer.transaction()
  await tx.send({ topic, messages: [{ key: "d", value: "committed-2", partition: 0 }, { key: "e", value: "committed-2", partition: 1 }] })
  await tx.commit()

  const committed = await readAll(`smoke-committed-${run}`, { expect: (s) => s.length >= 4 })
  const values = committed.map((m) => m.value)
  check(committed.length === 4 && values.every((v) => v.startsWith("committed")), `read_committed sees only committed records: ${JSON.stringify(committed.map((m) => `${m.partition}:${m.offset}:${m.key}=${m.value}`))}`)
  const uncommitted = await readAll(`smoke-uncommitted-${run}`, { readUncommitted: true, expect: (s) => s.length >= 6 })
  check(uncommitted.some((m) => m.value === "aborted"), `read_uncommitted also sees the aborted records (${uncommitted.length} records)`)

  // sendOffsets inside transactions, back to back (kafkajs #430: CONCURRENT_TRANSACTIONS is not retried)
  let sendOffsetsErrors = 0
  for (let i = 0; i < 5; i++) {
    for (let attempt = 1; ; attempt++) {
      tx = await producer.transaction()
      try {
        await tx.send({ topic, messages: [{ key: `o${i}`, value: "committed-offsets", partition: 0 }] })
        await tx.sendOffsets({ consumerGroupId: `smoke-eos-${run}`, topics: [{ topic, partitions: [{ partition: 0, offset: String(i + 1) }] }] })
        await tx.commit()
        break
      } catch (error) {
        sendOffsetsErrors++
        report(`sendOffsets round ${i} attempt ${attempt}: ${error.name} ${error.type ?? ""} ${error.message}`)
        if (tx.isActive()) await tx.abort()
        if (attempt >= 5) throw error
        await sleep(100 * attempt)
      }
    }
  }
  // sendOffsets as the first call of back-to-back transactions
  let firstCallErrors = 0
  for (let i = 0; i < 10; i++) {
    for (let attempt = 1; ; attempt++) {
      tx = await producer.transaction()
      try {
        await tx.sendOffsets({ consumerGroupId: `smoke-eos2-${run}`, topics: [{ topic, partitions: [{ partition: 1, offset: String(i + 1) }] }] })
        await tx.send({ topic, messages: [{ key: `p${i}`, value: "committed-offsets", partition: 1 }] })
        await tx.commit()
        break
      } catch (error) {
        firstCallErrors++
        report(`sendOffsets-first round ${i} attempt ${attempt}: ${error.name} ${error.type ?? ""} ${error.message}`)
        if (tx.isActive()) await tx.abort().catch((e) => report(`abort failed: ${e.message}`))
        if (attempt >= 5) throw error
        await sleep(100 * attempt)
      }
    }
  }
  report(`sendOffsets first in 10 back-to-back transactions: ${firstCallErrors} errors surfaced to the caller`)
  const offsets = await admin.fetchOffsets({ groupId: `smoke-eos-${run}`, topics: [topic] })
  check(offsets[0].partitions.find((p) => p.partition === 0).offset === "5", `sendOffsets committed group offset 5 (errors needing a retry: ${sendOffsetsErrors})`)

  // fencing: a second producer with the same transactionalId
  tx = await producer.transaction()
  await tx.send({ topic, messages: [{ key: "f", value: "zombie", partition: 0 }] })
  const second = kafka.producer({ transactionalId: `smoke-tx-${run}`, idempotent: true, maxInFlightRequests: 1 })
  await second.connect()
  t = Date.now()
  const tx2 = await second.transaction()
  report(`second producer with the same transactionalId: first transaction() took ${Date.now() - t} ms (broker aborts the first producer's open transaction)`)
  let fenced
  try {
    await tx.send({ topic, messages: [{ key: "g", value: "zombie", partition: 1 }] })
    await tx.commit()
  } catch (error) {
    fenced = error
  }
  check(fenced !== undefined, `first producer fenced: ${fenced?.name} type=${fenced?.type} retriable=${fenced?.retriable} "${fenced?.message}"`)
  try {
    const tx1 = await producer.transaction()
    await tx1.send({ topic, messages: [{ key: "h", value: "zombie", partition: 0 }] })
    await tx1.commit()
    check(false, "fenced producer can no longer commit")
  } catch (error) {
    check(true, `fenced producer stays fenced on the next transaction: ${error.name} type=${error.type} "${error.message}"`)
  }
  await tx2.send({ topic, messages: [{ key: "i", value: "committed-3", partition: 0 }] })
  await tx2.commit()
  const after = await readAll(`smoke-after-${run}`, { expect: (s) => s.some((m) => m.value === "committed-3") })
  check(!after.some((m) => m.value === "zombie") && after.some((m) => m.value === "committed-3"), `no zombie records visible, second producer's commit visible (${after.length} records)`)
  await producer.disconnect().catch(() => {})
  await second.disconnect()

  // compaction: many versions of one key, plain producer
  const plain = kafka.producer()
  await plain.connect()
  const compactTopic = `smoke-compact-${run}`
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: compactTopic, numPartitions: 1, configEntries: [
    { name: "cleanup.policy", value: "compact" }, { name: "segment.ms", value: "200" },
    { name: "min.cleanable.dirty.ratio", value: "0.01" }, { name: "min.compaction.lag.ms", value: "0" },
    { name: "delete.retention.ms", value: "100" }] }] })
  for (let i = 0; i < 50; i++) {
    await plain.send({ topic: compactTopic, messages: [{ key: "x", value: `v${i}` }, { key: "y", value: `v${i}` }] })
    if (i % 10 === 9) await sleep(250) // roll segments
  }
  await sleep(300)
  await plain.send({ topic: compactTopic, messages: [{ key: "z", value: "roll" }] })
  t = Date.now()
  let remaining
  for (;;) {
    await sleep(1000)
    remaining = await readAll(`smoke-compact-${run}-${Date.now()}`, { topicName: compactTopic, expect: (s) => s.some((m) => m.key === "z"), ms: 5000 })
    if (remaining.length < 20 || Date.now() - t > 30_000) break
  }
  check(remaining.length < 101, `compaction ran: ${remaining.length} of 101 records remain after ${Date.now() - t} ms`)
  await plain.disconnect()
  await admin.disconnect()
} catch (error) {
  report(`ERROR ${error.stack}`)
  process.exitCode = 1
} finally {
  await broker.stop()
  report(`kafkajs warnings/errors logged (${logs.length}):`)
  for (const line of logs) console.log(`  ${line}`)
}
