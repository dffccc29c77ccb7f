import { assert, describe, it } from "@effect/vitest"
import { Dataflow, Epoch, Output, RecoveryStore } from "@sluice/core"
import { expectedCounts, makeLines, readState } from "@sluice/store-testkit"
import Database from "better-sqlite3"
import { Cause, Chunk, Effect, Exit, Schema, Stream } from "effect"
import * as path from "node:path"
import { SqliteRecovery } from "../src/index.js"
import { crashFlow, DATAFLOW_ID } from "./crash/flow.js"
import { tempDirectory } from "./fixtures/SqliteFixture.js"

// Faults are injected from outside the store, as a full disk or a corrupt page would fail a statement: a
// trigger that aborts one kind of statement on one table the commit writes. The store's code is not touched.

const TABLES = ["sluice_snapshots", "sluice_changelog", "sluice_outputs", "sluice_progress"] as const
const OPERATIONS = ["INSERT", "UPDATE", "DELETE"] as const

interface Statement {
  readonly table: (typeof TABLES)[number]
  readonly operation: (typeof OPERATIONS)[number]
}

const label = ({ operation, table }: Statement) => `${operation} ${table}`
const triggerName = ({ operation, table }: Statement) => `test_${operation.toLowerCase()}_${table}`

const encoder = new TextEncoder()
// the first run stops halfway, so the faults hit the commits of a resumed run, where keys exist to update and delete
const firstRun = makeLines(30, 11)
const lines = [...firstRun, ...makeLines(30, 12).map((line, i) => i % 5 === 2 ? `${line} del:w${i % 20}` : line)]

// the crash tests' word count (deletes write tombstones), into a transactional output so the commit writes records
const countWords = (input: ReadonlyArray<string>) =>
  crashFlow(
    input,
    Output.transactional("counts", ([word, n]: readonly [string, number]) => ({
      key: encoder.encode(word),
      value: encoder.encode(String(n))
    }))
  )

// every fourth commit materializes, so the faults also hit the statements that fold the changelog
const run = (directory: string, input: ReadonlyArray<string>) =>
  Dataflow.run(countWords(input), { epoch: Epoch.everyItems(4) }).pipe(
    Effect.provide(SqliteRecovery.layer({ directory, materializeEvery: 4 }))
  )

const withDatabase = <A>(directory: string, f: (db: Database.Database) => A): A => {
  // worker 0's file: the single worker's, and the one that commits under faults in the two-worker case
  const db = new Database(path.join(directory, "worker-0.sqlite3"), { fileMustExist: true })
  try {
    return f(db)
  } finally {
    db.close()
  }
}

/** What the file holds: the progress mark, and the newest epoch of any snapshot and output row. */
const stored = (directory: string) =>
  withDatabase(directory, (db) => ({
    progress: db.prepare("SELECT epoch FROM sluice_progress WHERE worker_index = 0").pluck().get() as number,
    newestSnapshot: db.prepare(
      "SELECT max(epoch) FROM (SELECT epoch FROM sluice_snapshots UNION ALL SELECT epoch FROM sluice_changelog)"
    ).pluck().get() as number,
    newestOutput: db.prepare("SELECT max(epoch) FROM sluice_outputs").pluck().get() as number | null,
    outputs: db.prepare("SELECT epoch, key, value FROM sluice_outputs ORDER BY id").all()
  }))

const statements: ReadonlyArray<Statement> = TABLES.flatMap((table) =>
  OPERATIONS.map((operation) => ({ table, operation }))
)

/** Logs each kind of statement worker 0's file executes from here on, for `readTrace`. */
const startTrace = (directory: string) =>
  withDatabase(directory, (db) => {
    db.exec("CREATE TABLE test_trace (statement TEXT NOT NULL)")
    for (const statement of statements) {
      db.exec(
        `CREATE TRIGGER ${triggerName(statement)} AFTER ${statement.operation} ON ${statement.table}
         BEGIN INSERT INTO test_trace VALUES ('${label(statement)}'); END`
      )
    }
  })

const readTrace = (directory: string) =>
  withDatabase(
    directory,
    (db) => (db.prepare("SELECT DISTINCT statement FROM test_trace").pluck().all() as Array<string>).sort()
  )

const injectFault = (directory: string, statement: Statement) =>
  withDatabase(directory, (db) =>
    db.exec(
      `CREATE TRIGGER ${triggerName(statement)} BEFORE ${statement.operation} ON ${statement.table}
       BEGIN SELECT RAISE(ABORT, 'injected fault'); END`
    ))

const removeFault = (directory: string, statement: Statement) =>
  withDatabase(directory, (db) => db.exec(`DROP TRIGGER ${triggerName(statement)}`))

/** Whether a failure is the abort of an injected trigger (the store keeps SQLite's code, not the trigger's text). */
const isInjected = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) && JSON.stringify(Cause.squash(exit.cause)).includes("SQLITE_CONSTRAINT_TRIGGER")

/** The kinds of statement the commits of the resumed run execute, recorded by triggers that log each one. */
const traceCommits = Effect.gen(function*() {
  const directory = yield* tempDirectory
  yield* run(directory, firstRun)
  startTrace(directory)
  yield* run(directory, lines)
  return readTrace(directory)
})

const snapshot = (stepId: string, key: string, value: string | null): RecoveryStore.SnapshotWrite => ({
  stepId,
  key,
  value
})

const readAll = (worker: RecoveryStore.BackendWorker, atOrBefore: number) =>
  Effect.map(
    Stream.runCollect(worker.readSnapshots("count", atOrBefore)),
    (chunk) => new Map(Chunk.toReadonlyArray(chunk).map(({ key, value }) => [key, value]))
  )

/**
 * Two workers on one directory, worker 0 a commit ahead of worker 1 each time, so that its commit of epoch 3 (the
 * one under test) materializes what worker 1 has caught up with (epoch 2: an update, a new key, a tombstone) and writes
 * its own epoch into the changelog.
 */
const twoWorkersBeforeEpoch3 = (directory: string) =>
  Effect.gen(function*() {
    // every commit materializes what every worker agreed
    const backend = yield* SqliteRecovery.backend({ directory, materializeEvery: 1 })
    const ahead = yield* backend.open({ workerIndex: 0, workerCount: 2 })
    const behind = yield* backend.open({ workerIndex: 1, workerCount: 2 })
    yield* ahead.commit(1, [snapshot("count", "a", "1"), snapshot("count", "b", "1"), snapshot("count", "c", "1")], [])
    yield* behind.commit(1, [snapshot("count", "x", "1")], [])
    yield* ahead.commit(2, [snapshot("count", "a", "2"), snapshot("count", "b", null), snapshot("count", "e", "2")], [])
    yield* behind.commit(2, [snapshot("count", "x", "2")], [])
    return ahead
  })

const commitEpoch3 = (worker: RecoveryStore.BackendWorker) =>
  worker.commit(3, [snapshot("count", "c", "3"), snapshot("count", "d", "3")], [
    { destination: "out", key: null, value: encoder.encode("epoch 3") }
  ])

describe("SqliteRecovery under a failing statement in every place of the commit", () => {
  it.scoped(
    "R1: a fault in any statement of an epoch's commit, the progress row included, leaves the epoch wholly absent, and a rerun resumes at it",
    () =>
      Effect.gen(function*() {
        const executed = yield* traceCommits
        // the commits of a resumed single worker: changelog rows, their materialization (upserts, tombstones, the
        // rows' deletion), output records, the progress mark
        for (
          const expected of [
            "INSERT sluice_changelog",
            "DELETE sluice_changelog",
            "INSERT sluice_snapshots",
            "DELETE sluice_snapshots",
            "INSERT sluice_outputs"
          ]
        ) {
          assert.include(executed, expected)
        }
        assert.isTrue(executed.some((s) => s.endsWith("sluice_progress")), `no progress statement in ${executed}`)

        const clean = yield* tempDirectory
        yield* run(clean, firstRun)
        yield* run(clean, lines)
        const cleanOutputs = stored(clean).outputs

        for (const statement of statements.filter((s) => executed.includes(label(s)))) {
          const directory = yield* tempDirectory
          yield* run(directory, firstRun)
          injectFault(directory, statement)
          const exit = yield* Effect.exit(run(directory, lines))
          assert.isTrue(isInjected(exit), `${label(statement)}: the run did not fail on the fault`)
          const failure = Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""
          const failedEpoch = Number(/committing epoch (\d+) failed/.exec(failure)?.[1])

          // nothing of the failed epoch: not its progress mark, not a snapshot, not an output record
          const after = stored(directory)
          assert.strictEqual(after.progress, failedEpoch - 1, `${label(statement)}: progress`)
          assert.isAtMost(after.newestSnapshot, after.progress, `${label(statement)}: snapshots of the failed epoch`)
          assert.isAtMost(after.newestOutput ?? 0, after.progress, `${label(statement)}: outputs of the failed epoch`)
          // and the state is exactly that of the lines the committed input position covers (tombstones included)
          const layer = SqliteRecovery.layer({ directory })
          const position = (yield* readState(layer, DATAFLOW_ID, "lines", Schema.Number)).get("0") ?? 0
          assert.deepStrictEqual(
            yield* readState(layer, DATAFLOW_ID, "count", Schema.Number),
            expectedCounts(lines.slice(0, position)),
            `${label(statement)}: state at epoch ${after.progress}`
          )

          removeFault(directory, statement)
          const rerun = yield* run(directory, lines)
          assert.strictEqual(rerun.resumeEpoch, failedEpoch, `${label(statement)}: resume epoch`)
          assert.deepStrictEqual(
            yield* readState(layer, DATAFLOW_ID, "count", Schema.Number),
            expectedCounts(lines),
            label(statement)
          )
          assert.deepStrictEqual(stored(directory).outputs, cleanOutputs, `${label(statement)}: outputs`)
        }
      }),
    120_000
  )

  it.scoped(
    "R1: a fault in any statement of a commit that materializes a peer's agreed epoch and writes its own to the changelog leaves the epoch wholly absent",
    () =>
      Effect.gen(function*() {
        const traced = yield* tempDirectory
        const tracedWorker = yield* twoWorkersBeforeEpoch3(traced)
        startTrace(traced)
        yield* commitEpoch3(tracedWorker)
        const executed = readTrace(traced)
        for (
          const expected of [
            "INSERT sluice_snapshots",
            "DELETE sluice_snapshots",
            "INSERT sluice_changelog",
            "DELETE sluice_changelog",
            "INSERT sluice_outputs",
            "UPDATE sluice_progress"
          ]
        ) assert.include(executed, expected)

        for (const statement of statements.filter((s) => executed.includes(label(s)))) {
          const directory = yield* tempDirectory
          const worker = yield* twoWorkersBeforeEpoch3(directory)
          const before = yield* readAll(worker, 2)
          injectFault(directory, statement)
          const exit = yield* Effect.exit(commitEpoch3(worker))
          assert.isTrue(isInjected(exit), `${label(statement)}: the commit did not fail on the fault`)
          const after = stored(directory)
          assert.strictEqual(after.progress, 2, `${label(statement)}: progress`)
          assert.isAtMost(after.newestSnapshot, 2, `${label(statement)}: snapshots of the failed epoch`)
          assert.isNull(after.newestOutput, `${label(statement)}: outputs of the failed epoch`)
          assert.deepStrictEqual(yield* readAll(worker, 3), before, `${label(statement)}: state`)
          assert.strictEqual(RecoveryStore.resumeEpochOf(yield* worker.readProgress, 2), 3)

          removeFault(directory, statement)
          yield* commitEpoch3(worker)
          assert.deepStrictEqual(
            yield* readAll(worker, 3),
            new Map([["a", "2"], ["c", "3"], ["d", "3"], ["e", "2"]]),
            `${label(statement)}: state after the commit is redone`
          )
          assert.deepStrictEqual(stored(directory).outputs.length, 1)
        }
      }),
    60_000
  )
})
