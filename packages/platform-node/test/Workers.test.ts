import { assert, describe, it } from "@effect/vitest"
import { Dataflow, DataflowError, Epoch, RecoveryStore } from "@sluice/core"
import { countsOf, expectedWords } from "@sluice/store-testkit"
import type * as Flows from "@sluice/store-testkit/WorkerFlows"
import { Cause, Effect, Exit, Layer, Option, Scope } from "effect"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { threadId, Worker } from "node:worker_threads"
import { NodeWorkers } from "../src/index.js"
import * as ThreadPool from "../src/internal/threadPool.js"
import { withOutDir as withOutDirectory } from "./fixtures/directories.js"
import type * as ThreadOfWorker from "./fixtures/threadOfWorker.js"

// the thread imports the fixture module by URL, as a user's flow module
const flows = pathToFileURL(createRequire(import.meta.url).resolve("@sluice/store-testkit/WorkerFlows"))
const wordcount = Dataflow.fromModule<typeof Flows>(flows, "partitionedWordcount")
const threadOfWorker = Dataflow.fromModule<typeof ThreadOfWorker>(
  new URL("./fixtures/threadOfWorker.ts", import.meta.url),
  "threadOfWorker"
)

const words = expectedWords

const runOnThreads = (...args: Parameters<typeof Dataflow.run>) =>
  Dataflow.run(...args).pipe(Effect.provide(NodeWorkers.layer))

const withOutDir = withOutDirectory("sluice-workers-")

const readEmitted = (dir: string) =>
  fs.readdirSync(dir).flatMap((f) =>
    fs.readFileSync(path.join(dir, f), "utf8").trim().split("\n").filter((l) => l.length > 0).map((l) =>
      JSON.parse(l) as [number, number, string, number]
    )
  )

const stateOf = (handle: RecoveryStore.MemoryHandle, workerCount: number) =>
  countsOf(RecoveryStore.layerMemory(handle), workerCount)

describe("parallel workers", () => {
  it.scoped("two workers count every word once, each key on the worker that owns it", () =>
    Effect.gen(function*() {
      const dir = yield* withOutDir
      process.env.SLUICE_TEST_FAIL_AT = ""
      const handle = RecoveryStore.makeMemoryHandle()
      const summary = yield* runOnThreads(wordcount, { workers: 2, epoch: Epoch.everyItems(200) }).pipe(
        Effect.provide(RecoveryStore.layerMemory(handle))
      )
      assert.strictEqual(summary.items, 6 * 500)
      assert.deepStrictEqual(yield* stateOf(handle, 2), words(6, 500))
      const emitted = readEmitted(dir)
      assert.strictEqual(emitted.length, 6 * 500)
      const workersOfKey = new Map<string, Set<number>>()
      for (const [, worker, word] of emitted) workersOfKey.set(word, (workersOfKey.get(word) ?? new Set()).add(worker))
      assert.isTrue([...workersOfKey.values()].every((s) => s.size === 1), "a key was counted on two workers")
      assert.deepStrictEqual(new Set([...workersOfKey.values()].map((s) => [...s][0])), new Set([0, 1]))
      assert.deepStrictEqual(handle.stats().completedEpochs.map((p) => p.workerIndex).sort(), [0, 1])
    }), 30_000)

  it.scoped(
    "worker 0 runs in the calling thread and the others on threads of their own; the run leaves no port open",
    () =>
      Effect.gen(function*() {
        const dir = yield* withOutDir
        const openPorts = () => process.getActiveResourcesInfo().filter((r) => r === "MessagePort").length
        const before = openPorts()
        yield* runOnThreads(threadOfWorker, { workers: 3 }).pipe(Effect.provide(RecoveryStore.layerMemory()))
        const threads = [0, 1, 2].map((w) => Number(fs.readFileSync(path.join(dir, `thread-${w}`), "utf8")))
        assert.strictEqual(threads[0], threadId)
        assert.strictEqual(new Set(threads).size, 3, `workers shared a thread: ${threads}`)
        // a port left open keeps the process alive after the run; closing is asynchronous
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
        assert.strictEqual(openPorts(), before)
      }),
    30_000
  )

  it.scoped(
    "a failing step on one worker fails the run, and no worker commits the unfinished epoch",
    () =>
      Effect.gen(function*() {
        yield* withOutDir
        process.env.SLUICE_TEST_FAIL_AT = "w13"
        const handle = RecoveryStore.makeMemoryHandle()
        const exit = yield* runOnThreads(wordcount, { workers: 2, epoch: Epoch.everyItems(100) }).pipe(
          Effect.provide(RecoveryStore.layerMemory(handle)),
          Effect.exit
        )
        process.env.SLUICE_TEST_FAIL_AT = ""
        assert.isTrue(Exit.isFailure(exit))
        const error = Exit.isFailure(exit) ? Option.getOrThrow(Cause.failureOption(exit.cause)) : undefined
        assert.instanceOf(error, DataflowError.StepFailed)
        assert.strictEqual((error as DataflowError.StepFailed).stepId, "fail")
        assert.match((error as DataflowError.StepFailed).message, /^step fail failed in epoch \d+: refusing w13$/)
        const epochs = handle.stats().completedEpochs.map((p) => p.epoch)
        assert.strictEqual(new Set(epochs).size <= 1, true, `workers committed different epochs: ${epochs}`)
      }),
    30_000
  )

  it.scoped(
    "a worker thread that dies fails the run with WorkerFailed, and its epoch is committed by no worker",
    () =>
      Effect.gen(function*() {
        yield* withOutDir
        process.env.SLUICE_TEST_EXIT_WORKER = "1"
        const handle = RecoveryStore.makeMemoryHandle()
        const exit = yield* runOnThreads(wordcount, { workers: 2, epoch: Epoch.everyItems(100) }).pipe(
          Effect.provide(RecoveryStore.layerMemory(handle)),
          Effect.exit
        )
        delete process.env.SLUICE_TEST_EXIT_WORKER
        const error = Exit.isFailure(exit) ? Option.getOrThrow(Cause.failureOption(exit.cause)) : undefined
        assert.instanceOf(error, DataflowError.WorkerFailed)
        assert.strictEqual(
          (error as DataflowError.WorkerFailed).message,
          "worker 1 failed: exited with code 3; the unfinished epoch was committed by no worker"
        )
        assert.deepStrictEqual(handle.stats().completedEpochs.map((p) => p.epoch), [1, 1])
      }),
    30_000
  )

  it.scoped("a resumed run on two workers ends with the state of a clean run", () =>
    Effect.gen(function*() {
      yield* withOutDir
      const handle = RecoveryStore.makeMemoryHandle()
      process.env.SLUICE_TEST_FAIL_AFTER = "1000"
      const failed = yield* runOnThreads(wordcount, { workers: 2, epoch: Epoch.everyItems(150) }).pipe(
        Effect.provide(RecoveryStore.layerMemory(handle)),
        Effect.exit
      )
      assert.isTrue(Exit.isFailure(failed))
      delete process.env.SLUICE_TEST_FAIL_AFTER
      const summary = yield* runOnThreads(wordcount, { workers: 2, epoch: Epoch.everyItems(150) }).pipe(
        Effect.provide(RecoveryStore.layerMemory(handle))
      )
      assert.isAbove(summary.resumeEpoch, 1)
      assert.deepStrictEqual(yield* stateOf(handle, 2), words(6, 500))
    }), 30_000)

  it.scoped(
    "test_rescale: 3 workers, then 5, then 1, with more input each time, carry the state across",
    () =>
      Effect.gen(function*() {
        yield* withOutDir
        const handle = RecoveryStore.makeMemoryHandle()
        const layer = RecoveryStore.layerMemory(handle)
        const runWith = (workers: number, perPartition: number, rescale: boolean) =>
          Effect.suspend(() => {
            process.env.SLUICE_TEST_ITEMS = String(perPartition)
            return runOnThreads(wordcount, { workers, rescale, epoch: Epoch.everyItems(120) }).pipe(
              Effect.provide(layer)
            )
          })
        yield* runWith(3, 200, false)
        assert.deepStrictEqual(yield* stateOf(handle, 3), words(6, 200))

        // without asking for it, another worker count is refused and nothing changes (R7)
        const refused = yield* runWith(5, 400, false).pipe(Effect.exit)
        const error = Exit.isFailure(refused) ? Option.getOrThrow(Cause.failureOption(refused.cause)) : undefined
        assert.instanceOf(error, DataflowError.RecoveryMismatch)
        assert.deepStrictEqual(yield* stateOf(handle, 3), words(6, 200))

        const five = yield* runWith(5, 400, true)
        assert.strictEqual(five.items, 6 * 200)
        assert.deepStrictEqual(yield* stateOf(handle, 5), words(6, 400))

        const one = yield* runWith(1, 600, true)
        assert.strictEqual(one.items, 6 * 200)
        assert.deepStrictEqual(yield* stateOf(handle, 1), words(6, 600))
        delete process.env.SLUICE_TEST_ITEMS
      }),
    // twelve thread starts from TypeScript sources: over a minute when the machine is loaded (seen at load 10+)
    180_000
  )

  it.effect(
    "a dataflow value cannot run on several workers; a module export that is not a dataflow is named",
    () =>
      Effect.gen(function*() {
        const value = Dataflow.make("value")
        const exit = yield* runOnThreads(value, { workers: 2 }).pipe(
          Effect.provide(RecoveryStore.layerMemory()),
          Effect.exit
        )
        const error = Exit.isFailure(exit) ? Option.getOrThrow(Cause.failureOption(exit.cause)) : undefined
        assert.instanceOf(error, DataflowError.InvalidDataflow)
        assert.include((error as DataflowError.InvalidDataflow).message, "Dataflow.fromModule")
        const bad = yield* runOnThreads(Dataflow.fromModule(flows, "notADataflow" as never), { workers: 2 }).pipe(
          Effect.provide(RecoveryStore.layerMemory()),
          Effect.exit
        )
        const notImportable = Exit.isFailure(bad) ? Option.getOrThrow(Cause.failureOption(bad.cause)) : undefined
        assert.instanceOf(notImportable, DataflowError.FlowNotImportable)
        assert.include((notImportable as DataflowError.FlowNotImportable).message, "the export is not a Dataflow")
      }),
    30_000
  )

  it.effect("without a thread runtime in context, workers: 2 fails naming the layer to provide", () =>
    Effect.gen(function*() {
      const exit = yield* Dataflow.run(wordcount, { workers: 2 }).pipe(
        Effect.provide(RecoveryStore.layerMemory()),
        Effect.exit
      )
      const error = Exit.isFailure(exit) ? Option.getOrThrow(Cause.failureOption(exit.cause)) : undefined
      assert.instanceOf(error, DataflowError.InvalidDataflow)
      assert.include((error as DataflowError.InvalidDataflow).message, "NodeWorkers.layer from @sluice/platform-node")
    }))
})

/**
 * Node numbers threads in the order they start: the id of a thread started
 * now is above every thread started before it and below every later one.
 */
const nextThreadId = Effect.promise(async () => {
  const probe = new Worker("", { eval: true })
  const id = probe.threadId
  await probe.terminate()
  return id
})

/** The thread each worker of a `threadOfWorker` run wrote down. */
const threadsOf = (dir: string, workers: number) =>
  Array.from({ length: workers }, (_, w) => Number(fs.readFileSync(path.join(dir, `thread-${w}`), "utf8")))

const failureOf = <A, E>(exit: Exit.Exit<A, E>) =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

describe("prestarted threads (NodeWorkers.layerPool)", () => {
  it.scoped(
    "runs use the threads started with the layer and reuse them; a failed run's threads are replaced",
    () =>
      Effect.gen(function*() {
        const dir = yield* withOutDir
        // the fixtures' defaults, whatever an earlier test left behind
        for (const name of ["SLUICE_TEST_FAIL_AT", "SLUICE_TEST_FAIL_AFTER", "SLUICE_TEST_ITEMS"]) {
          delete process.env[name]
        }
        const beforeLayer = yield* nextThreadId
        const threads = yield* Layer.build(NodeWorkers.layerPool({ threads: 1 }))
        const afterLayer = yield* nextThreadId
        // each run on a store of its own, all on the one pool
        const run = <A, E>(
          effect: Effect.Effect<A, E, RecoveryStore.RecoveryStore>,
          store = RecoveryStore.layerMemory()
        ) => effect.pipe(Effect.provide(store), Effect.provide(threads))

        yield* run(Dataflow.run(threadOfWorker, { workers: 2 }))
        const [, first] = threadsOf(dir, 2)
        assert.isTrue(
          beforeLayer < first && first < afterLayer,
          `worker 1 ran on thread ${first}, not one started with the layer (${beforeLayer}…${afterLayer})`
        )
        yield* run(Dataflow.run(threadOfWorker, { workers: 2 }))
        assert.strictEqual(threadsOf(dir, 2)[1], first, "the second run started a thread of its own")

        // a step that throws on worker 1's thread: the run fails, the next runs on a fresh thread and counts right
        process.env.SLUICE_TEST_FAIL_AT = "w13"
        const failed = yield* run(Dataflow.run(wordcount, { workers: 2, epoch: Epoch.everyItems(100) })).pipe(
          Effect.exit
        )
        process.env.SLUICE_TEST_FAIL_AT = ""
        assert.instanceOf(failureOf(failed), DataflowError.StepFailed)
        const handle = RecoveryStore.makeMemoryHandle()
        const summary = yield* run(
          Dataflow.run(wordcount, { workers: 2, epoch: Epoch.everyItems(200) }),
          RecoveryStore.layerMemory(handle)
        )
        assert.strictEqual(summary.items, 6 * 500)
        assert.deepStrictEqual(yield* stateOf(handle, 2), words(6, 500))
        yield* run(Dataflow.run(threadOfWorker, { workers: 2 }))
        const [, afterFailure] = threadsOf(dir, 2)
        assert.isTrue(afterFailure > first, `the failed run's thread ${first} was lent again`)

        // a thread that dies (process.exit in the flow) fails its run; the next run gets a live thread
        process.env.SLUICE_TEST_EXIT_WORKER = "1"
        const died = yield* run(Dataflow.run(wordcount, { workers: 2, epoch: Epoch.everyItems(100) })).pipe(
          Effect.exit
        )
        delete process.env.SLUICE_TEST_EXIT_WORKER
        assert.instanceOf(failureOf(died), DataflowError.WorkerFailed)
        yield* run(Dataflow.run(threadOfWorker, { workers: 2 }))
        assert.isTrue(threadsOf(dir, 2)[1] > afterFailure, "a dead thread's run was followed by no new thread")

        // more workers than prestarted threads: the run starts what it lacks
        yield* run(Dataflow.run(threadOfWorker, { workers: 3 }))
        assert.strictEqual(new Set(threadsOf(dir, 3)).size, 3)
      }),
    120_000
  )

  it.live(
    "closing the pool's scope ends every thread it started, and starts no replacement",
    () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const threads = yield* Scope.extend(ThreadPool.makePool(2), scope)
        // two prestarted, one started for this lease
        const lent = yield* Scope.extend(threads(3), scope)
        const before = yield* nextThreadId
        yield* Scope.close(scope, Exit.void)
        yield* Effect.forEach(lent, (thread) => thread.exited).pipe(Effect.timeoutFail({
          duration: "10 seconds",
          onTimeout: () => new Error("a thread outlived its pool's scope")
        }))
        assert.isTrue(lent.every((thread) => thread.isDead()))
        // no thread was started by the close (a replacement would take the next id)
        assert.strictEqual(yield* nextThreadId, before + 1)
      }),
    30_000
  )
})
