/**
 * The contract of the byte-level `RecoveryStore.Backend`, run against every
 * backend: memory here, SQLite and Kafka in their packages.
 *
 * Tests that look at older epochs use two workers and leave worker 1 behind:
 * a backend may collect any version that a resume can no longer reach (R6),
 * and with worker 1 at epoch 0 that is none of worker 0's.
 */
import { assert, describe, it } from "@effect/vitest"
import type { RecoveryStore } from "@sluice/core"
import { Chunk, Effect, Option, Stream } from "effect"
import type { Scope } from "effect"

/**
 * What a backend's test file passes besides the backend.
 */
export interface BackendSuiteOptions {
  /**
   * The number of snapshot versions (live values and tombstones, collected or
   * not) the store holds over all workers. Without it the R6 tests check only
   * what `readSnapshots` returns.
   */
  readonly countVersions?: (backend: RecoveryStore.Backend) => Effect.Effect<number, unknown>
  /** The committed transactional output records of `destination`, in commit order. */
  readonly readOutputs?: (
    backend: RecoveryStore.Backend,
    destination: string
  ) => Effect.Effect<ReadonlyArray<{ readonly epoch: number; readonly value: string }>, unknown>
}

const encoder = new TextEncoder()

const put = (stepId: string, key: string, value: string): RecoveryStore.SnapshotWrite => ({ stepId, key, value })

const del = (stepId: string, key: string): RecoveryStore.SnapshotWrite => ({ stepId, key, value: null })

const output = (value: string): RecoveryStore.OutputRecord => ({
  destination: "out",
  key: null,
  value: encoder.encode(value)
})

/** A step's snapshots at or before an epoch, as a sorted record of key → text. */
const read = (worker: RecoveryStore.BackendWorker, stepId: string, atOrBefore: number) =>
  Effect.map(Stream.runCollect(worker.readSnapshots(stepId, atOrBefore)), (chunk) => {
    const entries = Chunk.toReadonlyArray(chunk).map(({ key, value }) => {
      assert.strictEqual(typeof value, "string", `the value of key ${key} is not text`)
      return [key, value] as const
    })
    const keys = entries.map(([key]) => key)
    assert.strictEqual(new Set(keys).size, keys.length, `readSnapshots returned a key twice: ${keys.join(", ")}`)
    return Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  })

const sorted = (progress: ReadonlyArray<RecoveryStore.WorkerProgress>) =>
  [...progress].sort((a, b) => a.workerIndex - b.workerIndex)

const meta = (dataflowId: string, workerCount: number): RecoveryStore.StoreMeta => ({
  dataflowId,
  workerCount,
  schemaVersion: 1,
  createdAt: 1_700_000_000_000
})

export const backendSuite = (
  name: string,
  makeBackend: () => Effect.Effect<RecoveryStore.Backend, never, Scope.Scope>,
  options: BackendSuiteOptions = {}
) =>
  describe(`Backend contract (${name})`, () => {
    const single = { workerIndex: 0, workerCount: 1 } as const
    const pair = (workerIndex: 0 | 1) => ({ workerIndex, workerCount: 2 })

    it.scoped("a fresh store has no meta, no progress and no snapshots", () =>
      Effect.gen(function*() {
        const backend = yield* makeBackend()
        const worker = yield* backend.open(single)
        assert.isTrue(Option.isNone(yield* worker.readMeta))
        assert.deepStrictEqual(yield* worker.readProgress, [])
        assert.deepStrictEqual(yield* read(worker, "count", 100), {})
      }))

    it.scoped("writeMeta then readMeta returns the meta, also after the store is reopened", () =>
      Effect.gen(function*() {
        const backend = yield* makeBackend()
        yield* Effect.scoped(Effect.gen(function*() {
          const worker = yield* backend.open(single)
          yield* worker.writeMeta(meta("wordcount", 1))
          assert.deepStrictEqual(yield* worker.readMeta, Option.some(meta("wordcount", 1)))
        }))
        const reopened = yield* backend.open(single)
        assert.deepStrictEqual(yield* reopened.readMeta, Option.some(meta("wordcount", 1)))
        assert.deepStrictEqual(yield* reopened.readProgress, [])
      }))

    it.scoped("R1: commit makes the epoch's writes and its progress visible, also after reopening", () =>
      Effect.gen(function*() {
        const backend = yield* makeBackend()
        yield* Effect.scoped(Effect.gen(function*() {
          const worker = yield* backend.open(single)
          yield* worker.commit(1, [put("count", "a", "1"), put("count", "b", "1"), put("lines", "0", "7")], [])
          assert.deepStrictEqual(yield* worker.readProgress, [{ workerIndex: 0, epoch: 1 }])
          assert.deepStrictEqual(yield* read(worker, "count", 1), { a: "1", b: "1" })
          assert.deepStrictEqual(yield* read(worker, "lines", 1), { "0": "7" })
        }))
        const reopened = yield* backend.open(single)
        assert.deepStrictEqual(yield* reopened.readProgress, [{ workerIndex: 0, epoch: 1 }])
        assert.deepStrictEqual(yield* read(reopened, "count", 1), { a: "1", b: "1" })
        yield* reopened.commit(2, [put("count", "a", "2")], [])
        assert.deepStrictEqual(yield* reopened.readProgress, [{ workerIndex: 0, epoch: 2 }])
        assert.deepStrictEqual(yield* read(reopened, "count", 2), { a: "2", b: "1" })
      }))

    it.scoped("R1: an epoch without writes still completes", () =>
      Effect.gen(function*() {
        const backend = yield* makeBackend()
        const worker = yield* backend.open(single)
        yield* worker.commit(1, [put("count", "a", "1")], [])
        yield* worker.commit(2, [], [])
        assert.deepStrictEqual(yield* worker.readProgress, [{ workerIndex: 0, epoch: 2 }])
        assert.deepStrictEqual(yield* read(worker, "count", 2), { a: "1" })
      }))

    it.scoped("R3: readSnapshots returns the newest write at or before an epoch and leaves out tombstones", () =>
      Effect.gen(function*() {
        const backend = yield* makeBackend()
        const worker = yield* backend.open(pair(0))
        yield* worker.commit(1, [put("s", "a", "a1"), put("s", "b", "b1"), put("s", "c", "c1")], [])
        yield* worker.commit(2, [put("s", "a", "a2"), del("s", "b")], [])
        yield* worker.commit(3, [put("s", "a", "a3"), del("s", "c"), put("s", "b", "b3")], [])
        yield* worker.commit(4, [], [])
        assert.deepStrictEqual(yield* read(worker, "s", 0), {})
        assert.deepStrictEqual(yield* read(worker, "s", 1), { a: "a1", b: "b1", c: "c1" })
        assert.deepStrictEqual(yield* read(worker, "s", 2), { a: "a2", c: "c1" })
        assert.deepStrictEqual(yield* read(worker, "s", 3), { a: "a3", b: "b3" })
        assert.deepStrictEqual(yield* read(worker, "s", 4), { a: "a3", b: "b3" })
      }))

    it.scoped("snapshots are addressed by step id and key: steps do not see each other's keys", () =>
      Effect.gen(function*() {
        const backend = yield* makeBackend()
        const worker = yield* backend.open(single)
        yield* worker.commit(1, [put("left", "k", "L"), put("right", "k", "R"), put("left", "only", "x")], [])
        yield* worker.commit(2, [del("right", "k")], [])
        assert.deepStrictEqual(yield* read(worker, "left", 2), { k: "L", only: "x" })
        assert.deepStrictEqual(yield* read(worker, "right", 2), {})
        assert.deepStrictEqual(yield* read(worker, "missing", 2), {})
      }))

    for (const [setting, workers] of [["one worker", single], ["a lagging second worker", pair(0)]] as const) {
      it.scoped(`a key written twice in one epoch ends with its last write (${setting})`, () =>
        Effect.gen(function*() {
          const backend = yield* makeBackend()
          const worker = yield* backend.open(workers)
          yield* worker.commit(1, [put("s", "gone", "x"), put("s", "back", "x")], [])
          yield* worker.commit(2, [
            put("s", "gone", "y"),
            del("s", "gone"),
            del("s", "back"),
            put("s", "back", "z"),
            put("s", "twice", "1"),
            put("s", "twice", "2")
          ], [])
          assert.deepStrictEqual(yield* read(worker, "s", 2), { back: "z", twice: "2" })
        }))
    }

    it.scoped("keys and values come back character for character", () =>
      Effect.gen(function*() {
        const backend = yield* makeBackend()
        const worker = yield* backend.open(single)
        const keys = ["", "a", "a\u0000b", "ключ", "🔑", "x".repeat(1000)]
        const values = {
          nul: "a\u0000b",
          empty: "",
          wide: "{\"ключ\":\"🔑\",\"é\":\"\u00ff\u0100\u07ff\u0800\uffff\"}",
          long: "[" + "1,".repeat(5000) + "1]"
        }
        yield* worker.commit(1, [
          ...keys.map((key, i) => put("s", key, `v${i}`)),
          ...Object.entries(values).map(([key, value]) => put("text", key, value))
        ], [])
        const text = yield* read(worker, "s", 1)
        assert.deepStrictEqual(Object.keys(text).sort(), [...keys].sort())
        keys.forEach((key, i) => assert.strictEqual(text[key], `v${i}`))
        assert.deepStrictEqual(yield* read(worker, "text", 1), values)
      }))

    it.scoped("discardFrom drops this worker's writes and progress at and after the epoch", () =>
      Effect.gen(function*() {
        const backend = yield* makeBackend()
        const worker = yield* backend.open(pair(0))
        yield* worker.commit(1, [put("s", "a", "a1"), put("s", "b", "b1")], [])
        yield* worker.commit(2, [put("s", "a", "a2"), del("s", "b"), put("s", "c", "c2")], [])
        yield* worker.commit(3, [put("s", "a", "a3"), put("s", "d", "d3")], [])
        yield* worker.discardFrom(2)
        assert.deepStrictEqual(yield* worker.readProgress, [{ workerIndex: 0, epoch: 1 }])
        assert.deepStrictEqual(yield* read(worker, "s", 3), { a: "a1", b: "b1" })
        // the discarded epochs are redone with other writes
        yield* worker.commit(2, [put("s", "b", "b2")], [])
        assert.deepStrictEqual(yield* worker.readProgress, [{ workerIndex: 0, epoch: 2 }])
        assert.deepStrictEqual(yield* read(worker, "s", 2), { a: "a1", b: "b2" })
      }))

    it.scoped("discardFrom(1) forgets all progress; discarding past the last epoch changes nothing", () =>
      Effect.gen(function*() {
        const backend = yield* makeBackend()
        const worker = yield* backend.open(pair(0))
        yield* worker.commit(1, [put("s", "a", "a1")], [])
        yield* worker.commit(2, [put("s", "a", "a2")], [])
        yield* worker.discardFrom(3)
        assert.deepStrictEqual(yield* worker.readProgress, [{ workerIndex: 0, epoch: 2 }])
        assert.deepStrictEqual(yield* read(worker, "s", 2), { a: "a2" })
        yield* worker.discardFrom(1)
        assert.deepStrictEqual(yield* worker.readProgress, [])
        assert.deepStrictEqual(yield* read(worker, "s", 2), {})
      }))

    it.scoped("discardFrom leaves the other workers' writes and progress alone", () =>
      Effect.gen(function*() {
        const backend = yield* makeBackend()
        const w0 = yield* backend.open(pair(0))
        const w1 = yield* backend.open(pair(1))
        yield* w0.commit(1, [put("s", "zero", "0")], [])
        yield* w1.commit(1, [put("s", "one", "1")], [])
        yield* w1.commit(2, [put("s", "one", "2")], [])
        yield* w0.discardFrom(1)
        assert.deepStrictEqual(yield* w0.readProgress, [{ workerIndex: 1, epoch: 2 }])
        assert.deepStrictEqual(yield* read(w1, "s", 2), { one: "2" })
        assert.deepStrictEqual(yield* read(w0, "s", 2), {})
      }))

    it.scoped("R3: every worker sees every worker's progress, including workers opened later", () =>
      Effect.gen(function*() {
        const backend = yield* makeBackend()
        const w0 = yield* backend.open(pair(0))
        assert.deepStrictEqual(yield* w0.readProgress, [])
        const w1 = yield* backend.open(pair(1))
        yield* w1.commit(1, [put("s", "k", "1")], [])
        assert.deepStrictEqual(yield* w0.readProgress, [{ workerIndex: 1, epoch: 1 }])
        yield* w0.commit(1, [], [])
        yield* w1.commit(2, [], [])
        assert.deepStrictEqual(sorted(yield* w0.readProgress), [{ workerIndex: 0, epoch: 1 }, {
          workerIndex: 1,
          epoch: 2
        }])
        assert.deepStrictEqual(sorted(yield* w1.readProgress), [{ workerIndex: 0, epoch: 1 }, {
          workerIndex: 1,
          epoch: 2
        }])
        // a worker reads only its own snapshots
        assert.deepStrictEqual(yield* read(w0, "s", 2), {})
      }))

    it.scoped("R6: many epochs rewriting a fixed key set keep one version per live key", () =>
      Effect.gen(function*() {
        const backend = yield* makeBackend()
        const worker = yield* backend.open(single)
        const keys = Array.from({ length: 10 }, (_, i) => `k${i}`)
        for (let epoch = 1; epoch <= 60; epoch++) {
          // every epoch also creates a key and deletes the one of the epoch before
          const churn = [put("s", `t${epoch}`, "t"), ...(epoch > 1 ? [del("s", `t${epoch - 1}`)] : [])]
          yield* worker.commit(epoch, [...keys.map((k) => put("s", k, `${k}@${epoch}`)), ...churn], [])
          if (options.countVersions !== undefined) {
            assert.isAtMost(yield* options.countVersions(backend), keys.length + 1, `after epoch ${epoch}`)
          }
        }
        const expected = Object.fromEntries([...keys.map((k) => [k, `${k}@60`]), ["t60", "t"]])
        assert.deepStrictEqual(yield* read(worker, "s", 60), expected)
        if (options.countVersions !== undefined) {
          assert.strictEqual(yield* options.countVersions(backend), keys.length + 1)
        }
      }))

    it.scoped("R6: versions a lagging worker's resume needs are kept, and collected once it catches up", () =>
      Effect.gen(function*() {
        const backend = yield* makeBackend()
        const w0 = yield* backend.open(pair(0))
        const w1 = yield* backend.open(pair(1))
        yield* w0.commit(1, [put("s", "a", "1"), put("s", "gone", "1")], [])
        yield* w0.commit(2, [put("s", "a", "2"), del("s", "gone")], [])
        yield* w1.commit(1, [], [])
        for (let epoch = 3; epoch <= 6; epoch++) yield* w0.commit(epoch, [put("s", "a", `${epoch}`)], [])
        // all workers completed epoch 1: a resume at 2 reads epoch 1
        assert.deepStrictEqual(yield* read(w0, "s", 1), { a: "1", gone: "1" })
        assert.deepStrictEqual(yield* read(w0, "s", 6), { a: "6" })
        for (let epoch = 2; epoch <= 6; epoch++) yield* w1.commit(epoch, [], [])
        yield* w0.commit(7, [put("s", "a", "7")], [])
        // everyone completed 6: only the newest version at or before 6, and newer ones, remain
        assert.deepStrictEqual(yield* read(w0, "s", 6), { a: "6" })
        assert.deepStrictEqual(yield* read(w0, "s", 7), { a: "7" })
        if (options.countVersions !== undefined) {
          assert.isAtMost(yield* options.countVersions(backend), 2)
        }
        for (let epoch = 7; epoch <= 8; epoch++) yield* w1.commit(epoch, [], [])
        yield* w0.commit(8, [], [])
        if (options.countVersions !== undefined) {
          assert.strictEqual(yield* options.countVersions(backend), 1)
        }
        assert.deepStrictEqual(yield* read(w0, "s", 8), { a: "7" })
      }))

    it.scoped("R3: a resume after a lagging worker's restart reads the agreed epoch's snapshots", () =>
      Effect.gen(function*() {
        const backend = yield* makeBackend()
        yield* Effect.scoped(Effect.gen(function*() {
          const w0 = yield* backend.open(pair(0))
          const w1 = yield* backend.open(pair(1))
          yield* w0.commit(1, [put("s", "a", "1"), put("s", "b", "1")], [])
          yield* w1.commit(1, [], [])
          yield* w0.commit(2, [put("s", "a", "2"), del("s", "b")], [])
          yield* w0.commit(3, [put("s", "a", "3"), put("s", "c", "3")], [])
        }))
        // both restart at 2 = 1 + min(3, 1); worker 0 forgets its epochs 2 and 3
        const w0 = yield* backend.open(pair(0))
        yield* w0.discardFrom(2)
        assert.deepStrictEqual(sorted(yield* w0.readProgress), [{ workerIndex: 0, epoch: 1 }, {
          workerIndex: 1,
          epoch: 1
        }])
        assert.deepStrictEqual(yield* read(w0, "s", 1), { a: "1", b: "1" })
        yield* w0.commit(2, [put("s", "b", "2")], [])
        assert.deepStrictEqual(yield* read(w0, "s", 2), { a: "1", b: "2" })
      }))

    it.scoped("reset forgets this worker's meta, progress and snapshots, and leaves other workers alone", () =>
      Effect.gen(function*() {
        const backend = yield* makeBackend()
        yield* Effect.scoped(Effect.gen(function*() {
          const w0 = yield* backend.open(pair(0))
          const w1 = yield* backend.open(pair(1))
          if (w0.reset === undefined) return
          yield* w0.writeMeta(meta("wordcount", 2))
          yield* w1.writeMeta(meta("wordcount", 2))
          yield* w0.commit(1, [put("s", "a", "1")], [])
          yield* w0.commit(2, [put("s", "a", "2")], [])
          yield* w1.commit(1, [put("s", "b", "1")], [])
          yield* w0.reset
          assert.deepStrictEqual(sorted(yield* w1.readProgress), [{ workerIndex: 1, epoch: 1 }])
          assert.deepStrictEqual(yield* read(w0, "s", 2), {})
          assert.deepStrictEqual(yield* read(w1, "s", 1), { b: "1" })
          // the worker starts afresh
          assert.isTrue(Option.isNone(yield* w0.readMeta))
          yield* w0.writeMeta(meta("wordcount", 2))
          yield* w0.commit(5, [put("s", "c", "5")], [])
          assert.deepStrictEqual(yield* read(w0, "s", 5), { c: "5" })
        }))
      }))

    it.scoped("rescaleJournal: a written plan is read back whole by every worker until cleared", () =>
      Effect.gen(function*() {
        const backend = yield* makeBackend()
        // one worker writes, others of both worker counts read: a rescale opens both layouts
        const journalOf = (workerIndex: number, workerCount: number) =>
          Effect.map(backend.open({ workerIndex, workerCount }), (worker) => worker.rescaleJournal)
        const plan = Uint8Array.from({ length: 3 * 1024 * 1024 }, (_, i) => (i * 31) % 251)
        yield* Effect.scoped(Effect.gen(function*() {
          const journal = yield* journalOf(0, 2)
          if (journal === undefined) return
          assert.isTrue(Option.isNone(yield* journal.read))
          // clearing without a plan does nothing
          yield* journal.clear
          yield* journal.write(plan)
          assert.deepStrictEqual(Option.getOrUndefined(yield* journal.read), plan)
        }))
        yield* Effect.scoped(Effect.gen(function*() {
          const journal = yield* journalOf(1, 2)
          if (journal === undefined) return
          assert.deepStrictEqual(Option.getOrUndefined(yield* journal.read), plan)
        }))
        yield* Effect.scoped(Effect.gen(function*() {
          const journal = yield* journalOf(2, 3)
          if (journal === undefined) return
          assert.deepStrictEqual(Option.getOrUndefined(yield* journal.read), plan)
        }))
        yield* Effect.scoped(Effect.gen(function*() {
          const journal = yield* journalOf(1, 2)
          if (journal === undefined) return
          yield* journal.clear
          assert.isTrue(Option.isNone(yield* journal.read))
        }))
        yield* Effect.scoped(Effect.gen(function*() {
          const journal = yield* journalOf(0, 2)
          if (journal === undefined) return
          assert.isTrue(Option.isNone(yield* journal.read))
        }))
      }))

    if (options.readOutputs !== undefined) {
      const readOutputs = options.readOutputs
      it.scoped("R5: output records commit with their epoch and are forgotten with it", () =>
        Effect.gen(function*() {
          const backend = yield* makeBackend()
          const worker = yield* backend.open(pair(0))
          yield* worker.commit(1, [], [output("a"), output("b")])
          yield* worker.commit(2, [], [output("c")])
          yield* worker.commit(3, [], [output("d")])
          assert.deepStrictEqual(yield* readOutputs(backend, "out"), [
            { epoch: 1, value: "a" },
            { epoch: 1, value: "b" },
            { epoch: 2, value: "c" },
            { epoch: 3, value: "d" }
          ])
          assert.deepStrictEqual(yield* readOutputs(backend, "elsewhere"), [])
          // epochs 2 and 3 are redone after a resume at 2: their records must not appear twice
          yield* worker.discardFrom(2)
          yield* worker.commit(2, [], [output("c")])
          assert.deepStrictEqual(yield* readOutputs(backend, "out"), [
            { epoch: 1, value: "a" },
            { epoch: 1, value: "b" },
            { epoch: 2, value: "c" }
          ])
        }))
    }
  })
