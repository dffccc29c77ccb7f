import { RecoveryStore } from "@sluice/core"
import { Chunk, Effect, Stream } from "effect"
import { spawn } from "node:child_process"
// node's assert, not vitest's: crash tests run these in child processes too
import assert from "node:assert/strict"

/** The dataflow id of the rescale runs. */
export const RESCALE_DATAFLOW = "rescale"

const STEPS = ["count", "input"] as const
const encoder = new TextEncoder()

const keysOf = (keys: number) => Array.from({ length: keys }, (_, i) => `k${i}`)

/**
 * Where keys go with `workerCount` workers: input positions by partition
 * index, as a run routes them, and state keys by any fixed function of the key.
 */
export const rescaleRoute = (workerCount: number) => (stepId: string, key: string): number =>
  (stepId === "input" ? Number(key.slice(1)) : [...key].reduce((sum, c) => sum + c.charCodeAt(0), 0)) % workerCount

/**
 * Writes the store a rescale starts from, through the service, as `from`
 * workers would: epochs 1 to 3 on every worker, with snapshots of `keys`
 * keys, deletions, input positions and transactional outputs (destination
 * `out`), and an epoch 4 on worker 0 only, which the rescaled run redoes.
 */
export const writeRescaleLayout = (backend: RecoveryStore.Backend, from: number, keys = 12) =>
  Effect.gen(function*() {
    const store = RecoveryStore.make(backend)
    const route = rescaleRoute(from)
    for (let workerIndex = 0; workerIndex < from; workerIndex++) {
      yield* Effect.scoped(Effect.gen(function*() {
        const worker = yield* store.open({ dataflowId: RESCALE_DATAFLOW, workerIndex, workerCount: from })
        const own = keysOf(keys).filter((key) => route("count", key) === workerIndex)
        for (let epoch = 1; epoch <= (workerIndex === 0 ? 4 : 3); epoch++) {
          yield* worker.transaction(epoch, (tx) =>
            Effect.sync(() => {
              for (const key of own) {
                // k0 is deleted in epoch 2 and written again in epoch 3: k3 stays deleted
                if ((key === "k0" && epoch === 2) || (key === "k3" && epoch >= 2)) tx.write("count", key, null)
                else tx.write("count", key, `${key}@${epoch}`)
              }
              tx.write("input", `p${workerIndex}`, String(epoch * 10))
              tx.writeOutput({ destination: "out", key: null, value: encoder.encode(`${workerIndex}/${epoch}`) })
            }))
        }
      }))
    }
  })

/** The state every rescaled layout of `writeRescaleLayout(backend, from, keys)` holds: the old one's as of epoch 3. */
export const expectedRescaleState = (from: number, keys = 12): Map<string, string> => {
  const state = new Map<string, string>()
  for (const key of keysOf(keys)) if (key !== "k3") state.set(`count/${key}`, `${key}@3`)
  for (let w = 0; w < from; w++) state.set(`input/p${w}`, "30")
  return state
}

/** The outputs `writeRescaleLayout` leaves once its epoch 4 is discarded: epochs 1 to 3 of every worker, sorted. */
export const expectedRescaleOutputs = (from: number): Array<string> =>
  Array.from({ length: from }, (_, w) => [1, 2, 3].map((e) => `${w}/${e}`)).flat().sort()

/**
 * Every worker's snapshots of a layout of `workerCount` workers, checking
 * that each resumes at epoch 4 and each key sits with the worker it routes to.
 */
export const readRescaledLayout = (backend: RecoveryStore.Backend, workerCount: number) =>
  Effect.gen(function*() {
    const store = RecoveryStore.make(backend)
    const route = rescaleRoute(workerCount)
    const state = new Map<string, string>()
    for (let workerIndex = 0; workerIndex < workerCount; workerIndex++) {
      yield* Effect.scoped(Effect.gen(function*() {
        const worker = yield* store.open({ dataflowId: RESCALE_DATAFLOW, workerIndex, workerCount })
        assert.strictEqual(worker.resumeEpoch, 4, `worker ${workerIndex} resumes at epoch ${worker.resumeEpoch}`)
        for (const stepId of STEPS) {
          const snapshots = Chunk.toReadonlyArray(yield* Stream.runCollect(worker.snapshots(stepId)))
          for (const { key, value } of snapshots) {
            assert.strictEqual(route(stepId, key), workerIndex, `${stepId}/${key} is on worker ${workerIndex}`)
            assert.ok(!state.has(`${stepId}/${key}`), `${stepId}/${key} is on two workers`)
            state.set(`${stepId}/${key}`, value)
          }
        }
      }))
    }
    return state
  })

/** Rescales the store of `writeRescaleLayout` to `workerCount` workers, as `rescale: true` does. */
export const rescaleTo = (backend: RecoveryStore.Backend, workerCount: number, dataflowId = RESCALE_DATAFLOW) =>
  RecoveryStore.make(backend).rescale({
    dataflowId,
    workerCount,
    stepIds: STEPS,
    route: rescaleRoute(workerCount)
  })

/**
 * The body of a script for `runRescaleChild`: prints `ready`, rescales the
 * store to `workerCount` workers, prints `finished` and exits (1 on failure).
 */
export const rescaleInChild = (
  backend: Effect.Effect<RecoveryStore.Backend, unknown>,
  workerCount: number
): Promise<never> =>
  Effect.runPromise(Effect.gen(function*() {
    const opened = yield* backend
    process.stdout.write("ready\n")
    yield* rescaleTo(opened, workerCount)
    process.stdout.write("finished\n")
  })).then(
    () => process.exit(0),
    (error) => {
      process.stderr.write(`failed: ${error}\n`)
      process.exit(1)
    }
  )

/** How a rescale in a child process ended. */
export interface RescaleChildRun {
  /** Died by SIGKILL, from the parent or from itself. */
  readonly killed: boolean
  /** Printed `finished`: the rescale returned before any kill. */
  readonly finished: boolean
  /** Milliseconds from `ready` to the end of the process. */
  readonly elapsedMs: number
  readonly output: string
}

/**
 * Runs `node --import tsx <script> ...args` in `cwd`: a script that prints
 * `ready` when it starts a rescale and `finished` when it is done. With
 * `killAfterMs`, SIGKILLs it that long after `ready`.
 */
export const runRescaleChild = (options: {
  readonly script: string
  readonly args: ReadonlyArray<string>
  readonly cwd: string
  readonly env?: Readonly<Record<string, string>>
  readonly killAfterMs?: number
}): Effect.Effect<RescaleChildRun> =>
  Effect.async<RescaleChildRun>((resume) => {
    const child = spawn(process.execPath, ["--import", "tsx", options.script, ...options.args], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    let readyAt: number | undefined
    child.stdout.setEncoding("utf8").on("data", (text: string) => {
      output += text
      if (readyAt === undefined && output.includes("ready\n")) {
        readyAt = Date.now()
        if (options.killAfterMs !== undefined) setTimeout(() => child.kill("SIGKILL"), options.killAfterMs)
      }
    })
    child.stderr.setEncoding("utf8").on("data", (text: string) => {
      output += text
    })
    child.on("exit", (_code, signal) =>
      resume(Effect.succeed({
        killed: signal === "SIGKILL",
        finished: output.includes("finished\n"),
        elapsedMs: readyAt === undefined ? 0 : Date.now() - readyAt,
        output
      })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })
