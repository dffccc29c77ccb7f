/**
 * The SQLite store's fold policy, measured apart from the engine (issue #15,
 * bench/PROFILE.md "Fold by size"): a word count's writes recorded once, then
 * replayed into the backend's `commit` under each policy, and resumes of
 * stores left at their largest changelog tail.
 *
 *   npx tsx bench/foldPolicy.ts record <epochWords> <words> <out.json>
 *   npx tsx bench/foldPolicy.ts replay <recording.json> <rounds> <policy>...
 *   npx tsx bench/foldPolicy.ts build <recording.json> <policy> <directory>
 *   npx tsx bench/foldPolicy.ts resume <directory> eager|lazy
 *
 * A policy is `k<N>` (`materializeEvery: N`), `s<N>` (fold at N MiB of text
 * only) or both (`k128s4`). `replay` prints store CPU per commit and the
 * closing fold's; `build` commits until the tail is at its largest, then
 * exits without closing, as a kill leaves the store; `resume` times one
 * step's read to its first item and the process's peak RSS.
 * (`FOLD_POLICY_NO_PROBE=1`: no tail probe in the first round of `replay`.)
 */
import { Dataflow, Input } from "@sluice/core"
import { SqliteRecovery } from "@sluice/recovery-sqlite"
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Data from "./data.js"
import * as Stores from "./stores.js"
import * as W from "./workloads.js"

const [mode, ...args] = process.argv.slice(2)

const parseConfig = (config: string) => {
  const k = /k(\d+)/.exec(config)
  const s = /s(\d+)/.exec(config)
  return {
    materializeEvery: k ? Number(k[1]) : 1_000_000_000,
    ...(s ? { changelogBytes: Number(s[1]) * 1024 * 1024 } : {})
  }
}

const load = (file: string): Array<Stores.RecordedEpoch> => JSON.parse(fs.readFileSync(file, "utf8"))

const tailBytes = (file: string): number => {
  const db = new Database(file, { readonly: true })
  try {
    return (db.prepare("SELECT coalesce(sum(length(entries)), 0) AS n FROM sluice_changelog").get() as { n: number }).n
  } finally {
    db.close()
  }
}

const replayOnce = async (
  epochs: ReadonlyArray<Stores.RecordedEpoch>,
  config: string,
  dir: string,
  stopAt?: number,
  probe = false
) => {
  fs.rmSync(dir, { recursive: true, force: true })
  const scope = Effect.runSync(Scope.make())
  const backend = await Effect.runPromise(SqliteRecovery.backend({ directory: dir, ...parseConfig(config) }))
  const worker = await Effect.runPromise(Scope.extend(backend.open({ workerCount: 1, workerIndex: 0 }), scope))
  await Effect.runPromise(worker.writeMeta({ dataflowId: "wordcount", workerCount: 1, schemaVersion: 1, createdAt: 0 }))
  const file = path.join(dir, "worker-0.sqlite3")
  let commitUs = 0
  let commitWall = 0
  let maxTail = 0
  let maxTailAt = 0
  let prevTail = 0
  let folds = 0
  for (const recorded of epochs) {
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    await Effect.runPromise(worker.commit(recorded.epoch, recorded.writes, []))
    const c = process.cpuUsage(c0)
    commitWall += performance.now() - t0
    commitUs += c.user + c.system
    if (probe) {
      const tail = tailBytes(file)
      if (tail < prevTail) folds++
      if (tail > maxTail) {
        maxTail = tail
        maxTailAt = recorded.epoch
      }
      prevTail = tail
    }
    if (stopAt !== undefined && recorded.epoch >= stopAt) process.exit(0)
  }
  const c0 = process.cpuUsage()
  await Effect.runPromise(Scope.close(scope, Exit.void))
  const c = process.cpuUsage(c0)
  return {
    commitMsPerEpoch: commitUs / 1000 / epochs.length,
    wallMsPerEpoch: commitWall / epochs.length,
    closeMs: (c.user + c.system) / 1000,
    maxTail,
    maxTailAt,
    folds
  }
}

const main = async () => {
  if (mode === "record") {
    const [epochWords, words, out] = args
    const epochs: Array<Stores.RecordedEpoch> = []
    const counter: W.Counter = { items: 0, firstAt: undefined }
    const flow = W.wordcountFlow(Input.fromIterable(Data.wordLines(Number(words))), counter)
    await Effect.runPromise(
      Dataflow.run(flow, { epoch: W.wordEpoch(Number(epochWords)) }).pipe(Effect.provide(Stores.recordingLayer(epochs)))
    )
    fs.writeFileSync(out, JSON.stringify(epochs))
    const writes = epochs.reduce((n, e) => n + e.writes.length, 0)
    const steps = new Set(epochs.flatMap((e) => e.writes.map((w) => w.stepId)))
    console.log(`${epochs.length} epochs, ${writes} writes, steps ${[...steps].join(",")}`)
  } else if (mode === "replay") {
    const [recording, rounds, ...configs] = args
    const epochs = load(recording)
    const results = new Map<string, Array<ReturnType<typeof Object>>>()
    for (let r = 0; r < Number(rounds); r++) {
      for (const config of r % 2 === 0 ? configs : [...configs].reverse()) {
        const res = await replayOnce(
          epochs,
          config,
          path.join(os.tmpdir(), "fold-policy-replay", config),
          undefined,
          r === 0 && !process.env.FOLD_POLICY_NO_PROBE
        )
        if (!results.has(config)) results.set(config, [])
        results.get(config)!.push(res)
        console.log(JSON.stringify({ round: r, config, ...res }))
      }
    }
  } else if (mode === "build") {
    const [recording, config, dir] = args
    const epochs = load(recording)
    const probe = await replayOnce(epochs, config, dir, undefined, true)
    console.log(JSON.stringify({ config, ...probe }))
    await replayOnce(epochs, config, dir, probe.maxTailAt || epochs[epochs.length - 1].epoch)
  } else if (mode === "resume") {
    const [dir, restore] = args
    // the WAL a killed build leaves differs per configuration: checkpoint it first, to time the tail alone
    const db = new Database(path.join(dir, "worker-0.sqlite3"))
    db.pragma("wal_checkpoint(TRUNCATE)")
    db.close()
    const rss0 = process.memoryUsage().rss
    const cpu = () => {
      const c = process.cpuUsage()
      return (c.user + c.system) / 1000
    }
    const c0 = cpu()
    const t0 = performance.now()
    const backend = await Effect.runPromise(SqliteRecovery.backend({ directory: dir }))
    const timings: Record<string, number> = {}
    const result = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const worker = yield* backend.open({ workerCount: 1, workerIndex: 0 })
      const progress = yield* worker.readProgress
      const at = progress[0]!.epoch
      timings.openMs = performance.now() - t0
      timings.openCpuMs = cpu() - c0
      const t1 = performance.now()
      const c1 = cpu()
      if (restore === "eager") {
        let n = 0
        yield* Stream.runForEach(worker.readSnapshots("count", at), () =>
          Effect.sync(() => {
            if (n++ === 0) {
              timings.firstMs = performance.now() - t1
              timings.firstCpuMs = cpu() - c1
            }
          }))
        timings.allMs = performance.now() - t1
        timings.allCpuMs = cpu() - c1
        return n
      }
      const found = yield* worker.readKeys!("count", ["the", "abc", "xyz"], at)
      timings.firstMs = performance.now() - t1
      timings.firstCpuMs = cpu() - c1
      return found.length
    })))
    const ru = process.resourceUsage()
    console.log(
      JSON.stringify({
        dir: path.basename(dir),
        restore,
        items: result,
        tail: tailBytes(path.join(dir, "worker-0.sqlite3")),
        ...timings,
        maxRssMiB: ru.maxRSS / 1024,
        rssAboveStartMiB: ru.maxRSS / 1024 - rss0 / 2 ** 20
      })
    )
  }
}
main().catch((e) => {
  console.error(e)
  process.exit(1)
})
