/**
 * The main of a Node program that runs a dataflow: what a person at a terminal
 * sees when the run fails, is interrupted, or loses the process that started it.
 *
 * @since 0.1.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { DataflowErrorSchema } from "@sluice/core/DataflowError"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"

/**
 * Options of {@link runMain}.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunMainOptions {
  /**
   * The last epoch the program committed, for the line printed when SIGINT or
   * SIGTERM interrupts it; `undefined` (or 0) when it committed none yet.
   */
  readonly lastCommittedEpoch?: () => number | undefined
  /**
   * Stop, as a crash would, when the process that started this one dies and
   * the process is handed to another parent (say, `kill -9` of the `pnpm` that
   * runs it). Without it such a run goes on unseen and holds its store's lock.
   * Default `false`: a service started by a supervisor may outlive its starter.
   */
  readonly exitWithParent?: boolean
  /** How often the parent is checked with `exitWithParent`; default 500 ms. */
  readonly parentCheckIntervalMs?: number
}

/**
 * Exit codes of a process ended by a signal, as a shell reports them:
 * 128 + the signal number.
 *
 * @since 0.1.0
 * @category models
 */
export const signalExitCodes = { SIGINT: 130, SIGTERM: 143 } as const

const isDataflowError = Schema.is(DataflowErrorSchema)

/**
 * What a failed run prints: the message of each expected `DataflowError`
 * alone, one per line; anything else (a defect, an error of another kind)
 * with its full cause, since there a stack is what the reader needs.
 *
 * @example
 * ```ts
 * import { NodeDataflow } from "@sluice/platform-node"
 * import { DataflowError } from "@sluice/core"
 * import { Cause } from "effect"
 * NodeDataflow.describeFailure(Cause.fail(new DataflowError.WorkerFailed({ workerIndex: 1, reason: "exited" })))
 * // "worker 1 failed: exited; the unfinished epoch was committed by no worker"
 * ```
 * @since 0.1.0
 * @category reporting
 */
export const describeFailure = <E>(cause: Cause.Cause<E>): string => {
  const failures: Array<unknown> = [...Cause.failures(cause)]
  // Interrupts beside the failures are the other fibers of the run, stopped because of it: not worth a line.
  const expectedOnly = failures.length > 0 && failures.every(isDataflowError) && Chunk.isEmpty(Cause.defects(cause))
  return expectedOnly
    ? failures.map((error) => error.message).join("\n")
    : Cause.pretty(cause, { renderErrorCause: true })
}

/**
 * Runs `program` as the main of a Node process, like `NodeRuntime.runMain`,
 * with what a person at a terminal needs:
 *
 * - an expected failure (a `DataflowError`: a missing input file, a locked or
 *   unwritable store) prints its message alone on stderr, no stack, and exits 1;
 *   anything else prints its full cause and exits 1;
 * - SIGINT or SIGTERM interrupts the program (its finalizers run, the store
 *   closes), prints `interrupted after epoch N; run again to resume` and exits
 *   130 or 143;
 * - with `exitWithParent`, the process stops as a crash would when its parent
 *   dies, saying so, instead of running on orphaned;
 * - the Node platform (`NodeContext.layer`: files for `Input.fromFile` and
 *   `Output.toFile`, paths, a terminal) is provided.
 *
 * @example
 * ```ts
 * import { Dataflow, Input, Output, RecoveryStore } from "@sluice/core"
 * import { NodeDataflow } from "@sluice/platform-node"
 * import { Effect } from "effect"
 *
 * let lastEpoch = 0
 * const flow = Dataflow.make("lines").pipe(
 *   Dataflow.input("in", Input.fromFile("./input.txt")),
 *   Dataflow.output("out", Output.console((line: string) => line))
 * )
 * const program = Dataflow.run(flow, {
 *   onEpochCommitted: ({ epoch }) => Effect.sync(() => (lastEpoch = epoch))
 * }).pipe(Effect.provide(RecoveryStore.layerMemory()))
 *
 * NodeDataflow.runMain(program, { lastCommittedEpoch: () => lastEpoch, exitWithParent: true })
 * ```
 * @since 0.1.0
 * @category running
 */
export const runMain = <A, E, R extends NodeContext.NodeContext = never>(
  program: Effect.Effect<A, E, R>,
  options: RunMainOptions = {}
): void => {
  let signal: keyof typeof signalExitCodes | undefined
  const onSignal = (received: keyof typeof signalExitCodes) => () => {
    signal ??= received
  }
  const onSigint = onSignal("SIGINT")
  const onSigterm = onSignal("SIGTERM")
  // NodeRuntime.runMain adds its own listeners, which interrupt the program; these only remember which signal it was.
  process.on("SIGINT", onSigint)
  process.on("SIGTERM", onSigterm)
  const stopWatching = options.exitWithParent === true
    ? watchParent(options.parentCheckIntervalMs ?? 500)
    : () => {}

  // the Node platform (files for Input.fromFile and Output.toFile, paths, a terminal) comes with the main
  const provided: Effect.Effect<A, E> = Effect.provide(
    program as Effect.Effect<A, E, NodeContext.NodeContext>,
    NodeContext.layer
  )
  NodeRuntime.runMain(provided, {
    disableErrorReporting: true,
    teardown: (exit, onExit) => {
      stopWatching()
      process.off("SIGINT", onSigint)
      process.off("SIGTERM", onSigterm)
      if (Exit.isSuccess(exit)) return onExit(0)
      if (Cause.isInterruptedOnly(exit.cause)) {
        const epoch = options.lastCommittedEpoch?.()
        const after = epoch === undefined || epoch === 0 ? "before it committed an epoch" : `after epoch ${epoch}`
        process.stderr.write(`interrupted ${after}; run again to resume\n`)
        return onExit(signal === undefined ? 1 : signalExitCodes[signal])
      }
      process.stderr.write(`${describeFailure(exit.cause)}\n`)
      onExit(1)
    }
  })
}

/**
 * Watches for the parent process to go: the kernel then hands this process to
 * another parent (init or a subreaper), which is the only sign Node gives.
 * Returns the function that stops watching.
 */
const watchParent = (intervalMs: number): () => void => {
  const parent = process.ppid
  const timer = setInterval(() => {
    if (process.ppid === parent) return
    process.stderr.write(
      `the process that started this one (pid ${parent}) is gone; stopping as a crash would, ` +
        `without committing the epoch in progress: run again to resume\n`
    )
    // process.exit, not an interrupt: no finalizer runs, exactly what a killed process leaves behind.
    process.exit(1)
  }, intervalMs)
  // The check alone must not keep a finished program alive.
  timer.unref()
  return () => clearInterval(timer)
}
