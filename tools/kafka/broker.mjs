#!/usr/bin/env node
// A real Apache Kafka broker for tests: one KRaft node (broker and controller in one JVM)
// on 127.0.0.1, from jars that Maven fetches once from Maven Central. See README.md.
//
//   import { startBroker } from "./tools/kafka/broker.mjs"
//   const { brokers, stop, reused } = await startBroker()
//
//   node tools/kafka/broker.mjs start|stop|status
//
// Node builtins only: this runs before any workspace package is installed.
import { spawn, spawnSync } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import fs from "node:fs"
import net from "node:net"
import path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const scriptFile = fileURLToPath(import.meta.url)
const toolDir = path.dirname(scriptFile)
const repoRoot = path.resolve(toolDir, "..", "..")
const pomFile = path.join(toolDir, "pom.xml")
const log4jFile = path.join(toolDir, "log4j.properties")

const host = "127.0.0.1"
const defaultPort = 19092
const startedMessage = "Kafka Server started"
const completeMarker = ".sluice-complete.json"
const installHint = "kafka tests need java 17+ and maven: apt-get install openjdk-17-jre-headless maven"
const stopGraceMs = 5_000
let launchCount = 0

// -XX:TieredStopAtLevel=1 (C1 only) trades peak speed for a faster start, right for short tests.
const jvmFlags = ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData", "-Djava.awt.headless=true"]
const brokerHeap = ["-Xms128m", "-Xmx512m"]
const toolHeap = ["-Xmx256m"]

/**
 * Starts a single-node Kafka broker on 127.0.0.1, or reuses whatever already answers on
 * the port.
 *
 * @param {object} [options]
 * @param {number} [options.port] client port; default $SLUICE_KAFKA_PORT or 19092. The controller listens on port + 1.
 * @param {string} [options.cacheDir] default $SLUICE_KAFKA_CACHE or <repo>/.cache/kafka
 * @param {number} [options.timeoutMs] how long to wait for the broker to start; default 90000
 * @param {boolean} [options.quiet] no progress lines on stderr
 * @returns {Promise<{ brokers: string[], stop: () => Promise<void>, reused: boolean, pid?: number }>} `pid`: the
 *   broker's process, when this call started it (a test may stop it with SIGSTOP to play a hung broker)
 */
export async function startBroker(options = {}) {
  return launch(settingsFrom(options), { detached: false })
}

function settingsFrom(options) {
  const chosenPort = options.port ?? (process.env.SLUICE_KAFKA_PORT || undefined)
  const rawPort = chosenPort ?? defaultPort
  const port = Number(rawPort)
  if (!Number.isInteger(port) || port < 1 || port > 65534) {
    throw new Error(`kafka port must be an integer from 1 to 65534, got ${JSON.stringify(rawPort)}`)
  }
  const cacheRoot = path.resolve(options.cacheDir ?? (process.env.SLUICE_KAFKA_CACHE || path.join(repoRoot, ".cache", "kafka")))
  const version = kafkaVersion()
  return {
    port,
    // A port someone chose is kept (or the start fails); the default one may give way to a stranger on it.
    portChosen: chosenPort !== undefined,
    controllerPort: port + 1,
    version,
    cacheRoot,
    jarDir: path.join(cacheRoot, version, "jars"),
    pidFile: path.join(cacheRoot, "broker.pid"),
    stateFile: path.join(cacheRoot, "broker.json"),
    timeoutMs: options.timeoutMs ?? 90_000,
    quiet: options.quiet ?? false
  }
}

function kafkaVersion() {
  const match = /<kafka\.version>\s*([^<\s]+)\s*<\/kafka\.version>/.exec(fs.readFileSync(pomFile, "utf8"))
  if (match === null) throw new Error(`no <kafka.version> property in ${pomFile}`)
  return match[1]
}

function say(settings, line) {
  if (!settings.quiet) process.stderr.write(`[kafka] ${line}\n`)
}

async function launch(requested, { detached }) {
  let settings = requested
  if (await portAnswers(settings.port)) {
    const owner = await identifyListener(settings)
    if (owner.ours) {
      say(settings, `reusing the broker that answers on ${host}:${settings.port} (${owner.what})`)
      return { brokers: [`${host}:${settings.port}`], stop: async () => {}, reused: true }
    }
    const stranger = `${host}:${settings.port} is taken by ${owner.what}, not by a broker this harness started from ${settings.cacheRoot}`
    if (settings.portChosen) throw new Error(`${stranger}: stop it, or set SLUICE_KAFKA_PORT to a free port`)
    settings = { ...settings, ...(await freePorts(settings.port + 2)) }
    say(settings, `${stranger}; starting a broker of its own on ${host}:${settings.port} instead`)
  }
  const brokers = [`${host}:${settings.port}`]
  if (await portAnswers(settings.controllerPort)) {
    throw new Error(`kafka controller port ${settings.controllerPort} is taken while port ${settings.port} is free: free it or set SLUICE_KAFKA_PORT to another port`)
  }

  const java = javaCommand()
  const needsFetch = !jarCacheComplete(settings)
  requireTools(java, needsFetch)
  if (needsFetch) await fetchJars(settings)

  removeStaleRunDirs(settings)
  const startedAt = Date.now()
  const runDir = path.join(settings.cacheRoot, `run-${process.pid}-${settings.port}-${launchCount++}`)
  fs.rmSync(runDir, { recursive: true, force: true })
  fs.mkdirSync(runDir, { recursive: true })
  const propertiesFile = path.join(runDir, "server.properties")
  fs.writeFileSync(propertiesFile, serverProperties(settings, runDir))

  const classPath = path.join(settings.jarDir, "*")
  const logFlags = [`-Dlog4j.configuration=${pathToFileURL(log4jFile).href}`, `-Dkafka.logs.dir=${runDir}`]
  const cluster = clusterId()
  // Written before the broker starts, so that a test process racing this one can tell that it is ours.
  fs.writeFileSync(path.join(runDir, "cluster.json"), `${JSON.stringify({ clusterId: cluster, port: settings.port })}\n`)
  const format = await run(java, [...toolHeap, ...jvmFlags, ...logFlags, "-cp", classPath,
    "kafka.tools.StorageTool", "format", "-t", cluster, "-c", propertiesFile, "-g"], { cwd: runDir })
  if (format.code !== 0) {
    fs.rmSync(runDir, { recursive: true, force: true })
    throw new Error(`kafka storage format failed (exit code ${format.code})\n${tail(format.output)}`)
  }

  const outputFd = fs.openSync(path.join(runDir, "stdout.log"), "a")
  // detached: the broker leads its own process group (and session), so stop() can signal
  // the whole group and a Ctrl-C in the terminal reaches the test runner, not the broker.
  const child = spawn(java, [...brokerHeap, ...jvmFlags, ...logFlags, "-cp", classPath, "kafka.Kafka", propertiesFile],
    { cwd: runDir, detached: true, stdio: ["ignore", outputFd, outputFd] })
  fs.closeSync(outputFd)
  const exited = new Promise((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }))
    child.once("error", (error) => resolve({ code: null, signal: null, error }))
  })
  fs.writeFileSync(path.join(runDir, "broker.pid"), `${child.pid}\n`)

  // Nothing may outlive the test run: a watchdog process kills the broker when this
  // process goes away, even by SIGKILL; the exit hook covers the ordinary exit.
  let watchdog
  const onExit = () => {
    signalGroup(child.pid, "SIGKILL")
    fs.rmSync(runDir, { recursive: true, force: true })
  }
  // The broker never keeps the event loop alive: a run that forgets stop() still ends, and
  // the exit hook then takes the broker down.
  child.unref()
  if (detached) {
    // written before the wait, so that `stop` finds a broker whose start was interrupted
    fs.writeFileSync(settings.pidFile, `${child.pid}\n`)
    fs.writeFileSync(settings.stateFile, `${JSON.stringify({ pid: child.pid, port: settings.port, runDir, started_at: new Date(startedAt).toISOString() }, null, 2)}\n`)
  } else {
    watchdog = startWatchdog(child.pid, runDir)
    process.on("exit", onExit)
  }

  let stopping
  const stop = () => (stopping ??= (async () => {
    process.off("exit", onExit)
    watchdog?.kill("SIGKILL")
    await killGroup(child.pid)
    fs.rmSync(runDir, { recursive: true, force: true })
    if (detached && readPid(settings.pidFile) === child.pid) {
      fs.rmSync(settings.pidFile, { force: true })
      fs.rmSync(settings.stateFile, { force: true })
    }
  })())

  try {
    await waitUntilStarted(settings, runDir, exited, startedAt)
  } catch (error) {
    await stop()
    // Two test processes starting at once: the one that lost the race for the port uses the winner's broker.
    if (await portAnswers(settings.port)) {
      const owner = await identifyListener(settings)
      if (owner.ours) {
        say(settings, `reusing the broker that started meanwhile on ${brokers[0]} (${owner.what})`)
        return { brokers, stop: async () => {}, reused: true }
      }
      throw new Error(`${brokers[0]} was taken while the broker started, by ${owner.what}\n${error.message}`)
    }
    throw error
  }
  const started = await brokerClusterId(settings.port)
  if (started !== cluster) {
    await stop()
    throw new Error(`the broker on ${brokers[0]} answers as cluster ${started ?? "(none)"}, not ${cluster} that was just started`)
  }
  say(settings, `kafka ${settings.version} started on ${brokers[0]} in ${seconds(Date.now() - startedAt)} (pid ${child.pid}, log ${path.join(runDir, "server.log")})`)
  return { brokers, stop, reused: false, pid: child.pid }
}

function serverProperties(settings, runDir) {
  return `# written by tools/kafka/broker.mjs for one test run; deleted on stop
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@${host}:${settings.controllerPort}
listeners=PLAINTEXT://${host}:${settings.port},CONTROLLER://${host}:${settings.controllerPort}
advertised.listeners=PLAINTEXT://${host}:${settings.port}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=${path.join(runDir, "data")}

# one node: every internal topic must make do with one replica, or group joins and
# transactions wait forever
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0

# compaction soon after a segment rolls; the 128 MiB default dedupe buffer is allocated at start
log.cleaner.backoff.ms=1000
log.cleaner.dedupe.buffer.size=16777216

# a small machine
num.network.threads=2
num.io.threads=4
`
}

// A KRaft cluster id is 16 random bytes in URL-safe base64 (22 characters). Kafka's own
// generator avoids a leading "-", which the command line would read as an option.
function clusterId() {
  for (;;) {
    const id = randomBytes(16).toString("base64url")
    if (!id.startsWith("-")) return id
  }
}

async function waitUntilStarted(settings, runDir, exited, startedAt) {
  let exit
  exited.then((value) => { exit = value })
  const serverLog = path.join(runDir, "server.log")
  for (;;) {
    if (exit !== undefined) {
      const how = exit.error ? exit.error.message : exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`
      throw new Error(`kafka broker stopped before it started (${how})\n${brokerLogTail(runDir)}`)
    }
    if (readText(serverLog).includes(startedMessage) && await portAnswers(settings.port)) return
    if (Date.now() - startedAt > settings.timeoutMs) {
      throw new Error(`kafka broker did not start within ${seconds(settings.timeoutMs)} on ${host}:${settings.port}\n${brokerLogTail(runDir)}`)
    }
    await sleep(200)
  }
}

function brokerLogTail(runDir) {
  const parts = []
  for (const name of ["server.log", "stdout.log"]) {
    const text = readText(path.join(runDir, name)).trim()
    if (text !== "") parts.push(`--- tail of ${path.join(runDir, name)}\n${tail(text)}`)
  }
  return parts.length > 0 ? parts.join("\n") : "(the broker wrote no log)"
}

// --- whose broker is on the port

/**
 * Tells whether what listens on the port is a broker this harness started from the same cache
 * (a test process or `broker.mjs start`): its run directory holds the cluster id it was formatted
 * with, and the broker's own metadata must name that cluster. Anything else (another project's
 * Kafka, a broker of another checkout, something that is not Kafka) is a stranger whose topics
 * and settings the tests must not rely on.
 */
async function identifyListener(settings) {
  const clusterId = await brokerClusterId(settings.port)
  if (clusterId === undefined) return { ours: false, what: "something that does not answer as a Kafka broker" }
  const run = ownRuns(settings).find((candidate) => candidate.clusterId === clusterId)
  return run === undefined
    ? { ours: false, what: `a Kafka broker of cluster ${clusterId}` }
    : { ours: true, what: `cluster ${clusterId}, pid ${run.pid}` }
}

// Live brokers started from this cache, with the cluster ids they were formatted with.
function ownRuns(settings) {
  let names = []
  try {
    names = fs.readdirSync(settings.cacheRoot).filter((name) => name.startsWith("run-"))
  } catch {
    return []
  }
  return names.flatMap((name) => {
    const dir = path.join(settings.cacheRoot, name)
    const pid = readPid(path.join(dir, "broker.pid"))
    const cluster = JSON.parse(readText(path.join(dir, "cluster.json")) || "{}")
    return pid !== undefined && isKafkaProcess(pid) && cluster.port === settings.port
      ? [{ pid, clusterId: cluster.clusterId }]
      : []
  })
}

/**
 * The cluster id a Kafka broker on the port reports, or undefined when what answers is not Kafka.
 * One Metadata request, version 2 (the first that carries the cluster id), for no topics:
 * request header v1 (api key, version, correlation id, client id), then the topic array.
 */
function brokerClusterId(port, timeoutMs = 3_000) {
  const clientId = Buffer.from("sluice-test-harness")
  const request = Buffer.alloc(4 + 2 + 2 + 4 + 2 + clientId.length + 4)
  let at = request.writeInt32BE(request.length - 4, 0)
  at = request.writeInt16BE(3, at) // Metadata
  at = request.writeInt16BE(2, at)
  at = request.writeInt32BE(1, at) // correlation id
  at = request.writeInt16BE(clientId.length, at)
  at += clientId.copy(request, at)
  request.writeInt32BE(0, at) // no topics
  return probe(port, timeoutMs, undefined, (socket, done) => {
    let received = Buffer.alloc(0)
    socket.once("close", () => done(undefined))
    socket.once("connect", () => socket.write(request))
    socket.on("data", (chunk) => {
      received = Buffer.concat([received, chunk])
      if (received.length < 4) return
      const size = received.readInt32BE(0)
      if (size < 8 || size > 1 << 20) return done(undefined)
      if (received.length >= 4 + size) done(parseClusterId(received.subarray(4, 4 + size)))
    })
  })
}

// Metadata response v2: correlation id, brokers [node id, host, port, rack], cluster id, ...
function parseClusterId(response) {
  try {
    let at = 0
    if (response.readInt32BE(at) !== 1) return undefined
    at += 4
    const brokerCount = response.readInt32BE(at)
    at += 4
    for (let i = 0; i < brokerCount; i++) {
      at += 4 // node id
      at += 2 + response.readInt16BE(at) // host
      at += 4 // port
      const rack = response.readInt16BE(at)
      at += 2 + Math.max(rack, 0)
    }
    const length = response.readInt16BE(at)
    return length < 0 ? undefined : response.toString("utf8", at + 2, at + 2 + length)
  } catch {
    return undefined // too short: not a Kafka answer
  }
}

// The first client port from `from` on whose port and port + 1 (the controller's) nothing answers.
async function freePorts(from) {
  for (let port = from; port < from + 40; port += 2) {
    if (!(await portAnswers(port)) && !(await portAnswers(port + 1))) return { port, controllerPort: port + 1 }
  }
  throw new Error(`no free pair of ports from ${from} to ${from + 39}: set SLUICE_KAFKA_PORT to a free port`)
}

// --- tools and jars

function javaCommand() {
  const fromHome = process.env.JAVA_HOME && path.join(process.env.JAVA_HOME, "bin", "java")
  return fromHome && fs.existsSync(fromHome) ? fromHome : "java"
}

function requireTools(java, needsMaven) {
  const problems = []
  const version = spawnSync(java, ["-version"], { encoding: "utf8" })
  if (version.error || version.status !== 0) {
    problems.push("java not found")
  } else {
    const match = /version "(\d+)(?:\.(\d+))?/.exec(`${version.stderr}${version.stdout}`)
    const major = match === null ? undefined : match[1] === "1" ? Number(match[2]) : Number(match[1])
    if (major !== undefined && major < 17) problems.push(`found java ${major}`)
  }
  if (needsMaven) {
    const maven = spawnSync("mvn", ["--version"], { encoding: "utf8" })
    if (maven.error || maven.status !== 0) problems.push("mvn not found")
  }
  if (problems.length > 0) throw new Error(`${installHint} (${problems.join(", ")})`)
}

function pomDigest() {
  return createHash("sha256").update(fs.readFileSync(pomFile)).digest("hex")
}

// Complete means: a marker written after a successful fetch of this very pom, and every jar it lists.
function jarCacheComplete(settings) {
  try {
    const marker = JSON.parse(fs.readFileSync(path.join(settings.jarDir, completeMarker), "utf8"))
    return marker.pom_sha256 === pomDigest() && marker.jars.length > 0 &&
      marker.jars.every((jar) => fs.existsSync(path.join(settings.jarDir, jar)))
  } catch {
    return false
  }
}

async function fetchJars(settings) {
  const fetchDir = `${settings.jarDir}.fetch-${process.pid}`
  fs.rmSync(fetchDir, { recursive: true, force: true })
  fs.mkdirSync(fetchDir, { recursive: true })
  say(settings, `fetching kafka ${settings.version} jars with maven (first run only)…`)
  const startedAt = Date.now()
  const maven = await run("mvn", ["-B", "-q", "-f", pomFile, "dependency:copy-dependencies",
    "-DincludeScope=runtime", `-DoutputDirectory=${fetchDir}`], { cwd: toolDir })
  const jars = maven.code === 0 ? fs.readdirSync(fetchDir).filter((name) => name.endsWith(".jar")).sort() : []
  if (!jars.includes(`kafka_2.13-${settings.version}.jar`)) {
    fs.rmSync(fetchDir, { recursive: true, force: true })
    throw new Error(`maven did not fetch the kafka ${settings.version} jars (exit code ${maven.code})\n${tail(maven.output)}`)
  }
  fs.writeFileSync(path.join(fetchDir, completeMarker), `${JSON.stringify({
    version: settings.version, pom_sha256: pomDigest(), fetched_at: new Date().toISOString(), jars
  }, null, 2)}\n`)
  // Another process may have finished the same fetch meanwhile; its complete cache wins.
  if (jarCacheComplete(settings)) {
    fs.rmSync(fetchDir, { recursive: true, force: true })
    return
  }
  fs.rmSync(settings.jarDir, { recursive: true, force: true })
  fs.renameSync(fetchDir, settings.jarDir)
  const bytes = jars.reduce((sum, jar) => sum + fs.statSync(path.join(settings.jarDir, jar)).size, 0)
  say(settings, `fetched ${jars.length} jars (${(bytes / 2 ** 20).toFixed(1)} MiB) in ${seconds(Date.now() - startedAt)} into ${settings.jarDir}`)
}

// --- run directories, processes

// Run directories of brokers that died without cleaning up (say, the machine rebooted).
function removeStaleRunDirs(settings) {
  let names = []
  try {
    names = fs.readdirSync(settings.cacheRoot).filter((name) => name.startsWith("run-"))
  } catch {
    return
  }
  for (const name of names) {
    const dir = path.join(settings.cacheRoot, name)
    const pid = readPid(path.join(dir, "broker.pid"))
    const stale = pid === undefined
      ? Date.now() - fs.statSync(dir).mtimeMs > 10 * 60_000 // no pid yet: maybe formatting right now
      : !isKafkaProcess(pid)
    if (stale) fs.rmSync(dir, { recursive: true, force: true })
  }
}

function startWatchdog(brokerPid, runDir) {
  const watchdog = spawn(process.execPath, [scriptFile, "__watchdog", String(brokerPid), runDir],
    { detached: true, stdio: ["pipe", "ignore", "ignore"] })
  watchdog.stdin.on("error", () => {})
  // Neither the process nor its pipe may keep the test run's event loop alive.
  watchdog.unref()
  watchdog.stdin.unref()
  return watchdog
}

// Runs detached from the test process with a pipe from it on stdin: the pipe closes
// whenever the test process ends, however it ends, and then the broker goes too.
async function watchdogMain(brokerPid, runDir) {
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => {})
  const brokerGone = setInterval(() => {
    if (!isAlive(brokerPid)) process.exit(0) // never signal a pid the system may hand out again
  }, 1_000)
  process.stdin.on("error", () => {})
  process.stdin.resume()
  await new Promise((resolve) => process.stdin.once("close", resolve))
  clearInterval(brokerGone)
  await killGroup(brokerPid)
  fs.rmSync(runDir, { recursive: true, force: true })
  process.exit(0)
}

async function killGroup(pid) {
  signalGroup(pid, "SIGTERM")
  if (await waitForExit(pid, stopGraceMs)) return
  signalGroup(pid, "SIGKILL")
  if (!(await waitForExit(pid, stopGraceMs))) throw new Error(`kafka broker pid ${pid} survived SIGKILL`)
}

function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal)
  } catch {
    try {
      process.kill(pid, signal)
    } catch {
      // already gone
    }
  }
}

async function waitForExit(pid, ms) {
  const deadline = Date.now() + ms
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false
    await sleep(100)
  }
  return true
}

function isAlive(pid) {
  try {
    process.kill(pid, 0)
  } catch (error) {
    return error.code === "EPERM"
  }
  // a zombie still answers signal 0
  const stat = readText(`/proc/${pid}/stat`)
  return !/^\d+ \(.*\) Z/.test(stat)
}

// Guards against a pid file that outlived its broker while the system reused the pid.
function isKafkaProcess(pid) {
  if (!isAlive(pid)) return false
  if (!fs.existsSync("/proc")) return true
  return readText(`/proc/${pid}/cmdline`).split("\0").includes("kafka.Kafka")
}

function portAnswers(port, timeoutMs = 1_000) {
  return probe(port, timeoutMs, false, (socket, done) => socket.once("connect", () => done(true)))
}

// One short connection to the port: `talk(socket, done)` settles the answer; a timeout or an error answers `failed`.
function probe(port, timeoutMs, failed, talk) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port })
    const done = (answer) => {
      socket.destroy()
      resolve(answer)
    }
    socket.setTimeout(timeoutMs, () => done(failed))
    socket.once("error", () => done(failed))
    talk(socket, done)
  })
}

function run(command, args, options) {
  return new Promise((resolve) => {
    const chunks = []
    const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] })
    child.stdout.on("data", (chunk) => chunks.push(chunk))
    child.stderr.on("data", (chunk) => chunks.push(chunk))
    child.once("error", (error) => resolve({ code: null, output: error.message }))
    child.once("close", (code) => resolve({ code, output: Buffer.concat(chunks).toString("utf8") }))
  })
}

function readPid(file) {
  const pid = Number.parseInt(readText(file), 10)
  return Number.isInteger(pid) && pid > 0 ? pid : undefined
}

function readText(file) {
  try {
    return fs.readFileSync(file, "utf8")
  } catch {
    return ""
  }
}

function tail(text, lines = 40) {
  return text.trimEnd().split("\n").slice(-lines).join("\n")
}

function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

// --- command line

async function startCommand() {
  const settings = settingsFrom({})
  const pid = readPid(settings.pidFile)
  if (pid !== undefined && isKafkaProcess(pid) && !(await portAnswers(settings.port))) {
    throw new Error(`the broker started earlier (pid ${pid}) does not answer on ${host}:${settings.port}: run \`node tools/kafka/broker.mjs stop\` first`)
  }
  const { brokers } = await launch(settings, { detached: true })
  process.stdout.write(`${brokers.join(",")}\n`)
}

async function stopCommand() {
  const settings = settingsFrom({})
  const pid = readPid(settings.pidFile)
  const state = JSON.parse(readText(settings.stateFile) || "{}")
  if (pid !== undefined && isKafkaProcess(pid)) {
    await killGroup(pid)
    say(settings, `stopped the broker (pid ${pid})`)
  } else if (await portAnswers(settings.port)) {
    say(settings, `something answers on ${host}:${settings.port} but was not started by \`broker.mjs start\`; left alone`)
  } else {
    say(settings, "no broker is running")
  }
  if (state.runDir && path.dirname(state.runDir) === settings.cacheRoot) fs.rmSync(state.runDir, { recursive: true, force: true })
  fs.rmSync(settings.pidFile, { force: true })
  fs.rmSync(settings.stateFile, { force: true })
}

async function statusCommand() {
  const settings = settingsFrom({})
  const pid = readPid(settings.pidFile)
  const answers = await portAnswers(settings.port)
  if (answers) {
    const owner = pid !== undefined && isKafkaProcess(pid) ? `pid ${pid}, started by broker.mjs start` : "not started by broker.mjs start"
    process.stdout.write(`running on ${host}:${settings.port} (${owner})\n`)
  } else {
    process.stdout.write(`not running on ${host}:${settings.port}\n`)
    process.exitCode = 1
  }
}

function isMain() {
  if (!process.argv[1]) return false
  try {
    return fs.realpathSync(process.argv[1]) === fs.realpathSync(scriptFile)
  } catch {
    return false
  }
}

if (isMain()) {
  const [command, ...rest] = process.argv.slice(2)
  const commands = { start: startCommand, stop: stopCommand, status: statusCommand }
  if (command === "__watchdog") {
    await watchdogMain(Number(rest[0]), rest[1])
  } else if (commands[command] === undefined) {
    process.stderr.write("usage: node tools/kafka/broker.mjs start|stop|status\n")
    process.exitCode = 2
  } else {
    try {
      await commands[command]()
    } catch (error) {
      process.stderr.write(`[kafka] ${error.message}\n`)
      process.exitCode = 1
    }
  }
}
