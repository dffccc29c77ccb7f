/**
 * Errors a dataflow run can fail with. Every error names what a user acts on:
 * the step, the key, the epoch, what was expected and what was found.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { describeCause } from "./internal/storeKit/cause.js"

/**
 * A user function (or an input, or an output) failed. The epoch in progress is
 * rolled back: nothing of it is committed (R10).
 *
 * @example
 * ```ts
 * import { DataflowError } from "@sluice/core"
 * const error = new DataflowError.StepFailed({ stepId: "count", epoch: 3, key: "a", cause: new Error("boom") })
 * error.message // "step count failed in epoch 3 at key a: boom"
 * ```
 * @since 0.1.0
 * @category errors
 */
export class StepFailed extends Schema.TaggedError<StepFailed>()("StepFailed", {
  stepId: Schema.String,
  epoch: Schema.Number,
  key: Schema.optional(Schema.String),
  cause: Schema.Defect
}) {
  override get message(): string {
    const at = this.key === undefined ? "" : ` at key ${this.key}`
    return `step ${this.stepId} failed in epoch ${this.epoch}${at}: ${describeCause(this.cause)}`
  }
}

/**
 * Two steps of one dataflow share an id. State is addressed by step id, so ids
 * must be unique.
 *
 * @example
 * ```ts
 * import { DataflowError } from "@sluice/core"
 * new DataflowError.DuplicateStepId({ dataflowId: "wc", stepId: "split" }).message
 * ```
 * @since 0.1.0
 * @category errors
 */
export class DuplicateStepId extends Schema.TaggedError<DuplicateStepId>()("DuplicateStepId", {
  dataflowId: Schema.String,
  stepId: Schema.String
}) {
  override get message(): string {
    return `dataflow ${this.dataflowId} uses step id ${this.stepId} more than once; give each step a unique id`
  }
}

/**
 * The dataflow cannot run as built: it has no input, or no output.
 *
 * @example
 * ```ts
 * import { DataflowError } from "@sluice/core"
 * new DataflowError.InvalidDataflow({ dataflowId: "wc", problem: "no output" }).message
 * ```
 * @since 0.1.0
 * @category errors
 */
export class InvalidDataflow extends Schema.TaggedError<InvalidDataflow>()("InvalidDataflow", {
  dataflowId: Schema.String,
  problem: Schema.Literal("no input", "no output", "workers need a module", "workers need a thread runtime")
}) {
  override get message(): string {
    switch (this.problem) {
      case "no input":
        return `dataflow ${this.dataflowId} has no input; add one with Dataflow.input`
      case "no output":
        return `dataflow ${this.dataflowId} has no output; add one with Dataflow.output`
      case "workers need a module":
        return `dataflow ${this.dataflowId} cannot run on several workers from a value: functions do not cross threads; ` +
          `run Dataflow.fromModule(new URL("./flow.js", import.meta.url), "exportName") instead`
      case "workers need a thread runtime":
        return `dataflow ${this.dataflowId} cannot run on several workers without a thread runtime; ` +
          `provide NodeWorkers.layer from @sluice/platform-node next to the store layer`
    }
  }
}

/**
 * The recovery store belongs to another dataflow, or was written with another
 * worker count (R7). Nothing in the store was changed.
 *
 * @example
 * ```ts
 * import { DataflowError } from "@sluice/core"
 * new DataflowError.RecoveryMismatch({ field: "dataflowId", expected: "wc", found: "other" }).message
 * ```
 * @since 0.1.0
 * @category errors
 */
export class RecoveryMismatch extends Schema.TaggedError<RecoveryMismatch>()("RecoveryMismatch", {
  field: Schema.Literal("dataflowId", "workerCount"),
  expected: Schema.Union(Schema.String, Schema.Number),
  found: Schema.Union(Schema.String, Schema.Number)
}) {
  override get message(): string {
    const hint = this.field === "dataflowId"
      ? "point the run at this dataflow's own store, or delete the store to start fresh"
      : "run with the worker count the store was written with, run with `rescale: true` to move the store to " +
        "this worker count, or delete the store to start fresh"
    return `recovery store was written with ${this.field} ${this.found}, this run has ${this.expected}; ${hint}`
  }
}

/**
 * A rescale was stopped (killed, or a store failure) after its plan was
 * stored and before it finished: some workers may be reset, others not. The
 * run refused before changing anything; a run with `rescale: true`, with
 * either worker count, finishes the rescale from the plan.
 *
 * @example
 * ```ts
 * import { DataflowError } from "@sluice/core"
 * new DataflowError.RescaleUnfinished({ store: "sqlite ./state", dataflowId: "wc", from: 2, to: 3 }).message
 * ```
 * @since 0.1.0
 * @category errors
 */
export class RescaleUnfinished extends Schema.TaggedError<RescaleUnfinished>()("RescaleUnfinished", {
  store: Schema.String,
  dataflowId: Schema.String,
  from: Schema.Number,
  to: Schema.Number
}) {
  override get message(): string {
    return `a rescale of dataflow ${this.dataflowId} in ${this.store} from ${this.from} to ${this.to} workers ` +
      `was stopped before it finished; nothing was changed. Run again with \`rescale: true\` (with ${this.from} ` +
      `or ${this.to} workers, or any other count) to finish it`
  }
}

/**
 * The store was written by a newer (or unknown) version of the store format.
 *
 * @example
 * ```ts
 * import { DataflowError } from "@sluice/core"
 * new DataflowError.StoreVersionUnsupported({ found: 9, supported: 1 }).message
 * ```
 * @since 0.1.0
 * @category errors
 */
export class StoreVersionUnsupported extends Schema.TaggedError<StoreVersionUnsupported>()(
  "StoreVersionUnsupported",
  { found: Schema.Number, supported: Schema.Number }
) {
  override get message(): string {
    return `recovery store has schema version ${this.found}, this sluice reads up to version ${this.supported}; upgrade sluice to resume it`
  }
}

/**
 * A snapshot no longer decodes with the step's state schema (R8). The store is
 * left as it is; the state is never silently replaced.
 *
 * @example
 * ```ts
 * import { DataflowError } from "@sluice/core"
 * new DataflowError.StateDecodeError({ stepId: "count", key: "a", issue: "Expected number" }).message
 * ```
 * @since 0.1.0
 * @category errors
 */
export class StateDecodeError extends Schema.TaggedError<StateDecodeError>()("StateDecodeError", {
  stepId: Schema.String,
  key: Schema.String,
  issue: Schema.String
}) {
  override get message(): string {
    return `snapshot of step ${this.stepId} at key ${this.key} does not decode with the step's state schema: ${this.issue}`
  }
}

/**
 * The recovery store cannot be reached or written.
 *
 * @example
 * ```ts
 * import { DataflowError } from "@sluice/core"
 * new DataflowError.StoreUnavailable({ store: "memory", reason: "commit failed", cause: undefined }).message
 * ```
 * @since 0.1.0
 * @category errors
 */
export class StoreUnavailable extends Schema.TaggedError<StoreUnavailable>()("StoreUnavailable", {
  store: Schema.String,
  reason: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    const detail = this.cause === undefined ? "" : `: ${describeCause(this.cause)}`
    return `recovery store ${this.store}: ${this.reason}${detail}`
  }
}

/**
 * The store holds data that is not a Sluice store, or is damaged.
 *
 * @example
 * ```ts
 * import { DataflowError } from "@sluice/core"
 * new DataflowError.StoreCorrupt({ store: "./state/worker-0.sqlite3", reason: "file is not a database" }).message
 * ```
 * @since 0.1.0
 * @category errors
 */
export class StoreCorrupt extends Schema.TaggedError<StoreCorrupt>()("StoreCorrupt", {
  store: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `recovery store ${this.store} is not a readable sluice store: ${this.reason}; move it away to start fresh`
  }
}

/**
 * A run needs to resume, but an input cannot restart from a stored position
 * (R11). Pass `replayUnresumableInputs: true` to `Dataflow.run` to accept that
 * the input replays from its start.
 *
 * @example
 * ```ts
 * import { DataflowError } from "@sluice/core"
 * new DataflowError.InputNotResumable({ stepId: "events", resumeEpoch: 4 }).message
 * ```
 * @since 0.1.0
 * @category errors
 */
export class InputNotResumable extends Schema.TaggedError<InputNotResumable>()("InputNotResumable", {
  stepId: Schema.String,
  resumeEpoch: Schema.Number
}) {
  override get message(): string {
    return `input ${this.stepId} cannot resume at epoch ${this.resumeEpoch}: it has no stored positions; ` +
      `pass replayUnresumableInputs: true to replay it from its start`
  }
}

/**
 * A file input was asked to resume at a stored position, but the file there is
 * not the one the position was taken in: another file (device and inode, or the
 * bytes before the position, differ), a shorter one, or one whose unterminated
 * last line, already read as a complete line, has since been extended. Nothing
 * was read; choose: start that input over (`onReplaced: "restart"`), or put the
 * original file back.
 *
 * @example
 * ```ts
 * import { DataflowError } from "@sluice/core"
 * new DataflowError.InputFileChanged({ path: "/data/in.txt", offset: 120, change: "truncated" }).message
 * ```
 * @since 0.1.0
 * @category errors
 */
export class InputFileChanged extends Schema.TaggedError<InputFileChanged>()("InputFileChanged", {
  path: Schema.String,
  offset: Schema.Number,
  change: Schema.Literal("replaced", "truncated", "line extended")
}) {
  override get message(): string {
    const choice = `pass onReplaced: "restart" to read it again from its start, or put the original file back`
    switch (this.change) {
      case "replaced":
        return `input file ${this.path} is not the file the stored position (byte ${this.offset}) was taken in: ` +
          `its device and inode, or the bytes before that position, differ; ${choice}`
      case "truncated":
        return `input file ${this.path} is shorter than the stored position (byte ${this.offset}): it was truncated ` +
          `or replaced; ${choice}`
      case "line extended":
        return `input file ${this.path} ended in a line without a newline, read as complete, and bytes were appended ` +
          `to that line at byte ${this.offset}; end lines with a newline before appending, or pass ` +
          `unterminatedLastLine: "hold" so such a line waits for its newline, or ${choice}`
    }
  }
}

/**
 * A file input met bytes that are not UTF-8. Decoding them as U+FFFD would
 * merge distinct keys, so the input fails instead, naming the byte.
 *
 * @example
 * ```ts
 * import { DataflowError } from "@sluice/core"
 * new DataflowError.InputFileNotText({ path: "/data/in.txt", offset: 3 }).message
 * ```
 * @since 0.1.0
 * @category errors
 */
export class InputFileNotText extends Schema.TaggedError<InputFileNotText>()("InputFileNotText", {
  path: Schema.String,
  offset: Schema.Number
}) {
  override get message(): string {
    return `input file ${this.path} is not valid UTF-8 at byte ${this.offset}; pass encoding: "latin1" if that is ` +
      `its encoding, or invalidUtf8: "replace" to read such bytes as U+FFFD`
  }
}

/**
 * A CSV input met a record it cannot give: a row whose field count differs
 * from the header's, or one the input's schema does not decode. The offset is
 * where the record ends.
 *
 * @example
 * ```ts
 * import { DataflowError } from "@sluice/core"
 * new DataflowError.InputCsvInvalid({ path: "/data/in.csv", offset: 40, problem: "it has 2 fields where the header has 3" })
 *   .message
 * ```
 * @since 0.1.0
 * @category errors
 */
export class InputCsvInvalid extends Schema.TaggedError<InputCsvInvalid>()("InputCsvInvalid", {
  path: Schema.String,
  offset: Schema.Number,
  problem: Schema.String
}) {
  override get message(): string {
    return `input file ${this.path} has a CSV record ending at byte ${this.offset} that cannot be read: ` +
      `${this.problem}; fix the record, or read the rows without a schema (or with header: false) and check them ` +
      `in a step`
  }
}

/**
 * A worker thread of a multi-worker run died or threw outside any step. The
 * whole run fails and no worker commits the unfinished epoch.
 *
 * @example
 * ```ts
 * import { DataflowError } from "@sluice/core"
 * new DataflowError.WorkerFailed({ workerIndex: 1, reason: "exited with code 1" }).message
 * ```
 * @since 0.1.0
 * @category errors
 */
export class WorkerFailed extends Schema.TaggedError<WorkerFailed>()("WorkerFailed", {
  workerIndex: Schema.Number,
  reason: Schema.String
}) {
  override get message(): string {
    return `worker ${this.workerIndex} failed: ${this.reason}; the unfinished epoch was committed by no worker`
  }
}

/**
 * The module and export named for a multi-worker run do not give a dataflow.
 *
 * @example
 * ```ts
 * import { DataflowError } from "@sluice/core"
 * new DataflowError.FlowNotImportable({ module: "file:///app/flow.js", exportName: "flow", reason: "no such export" }).message
 * ```
 * @since 0.1.0
 * @category errors
 */
export class FlowNotImportable extends Schema.TaggedError<FlowNotImportable>()("FlowNotImportable", {
  module: Schema.String,
  exportName: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot load dataflow ${this.exportName} from ${this.module}: ${this.reason}; ` +
      `export a Dataflow (or a function returning one) under that name`
  }
}

/**
 * Any error a dataflow run can fail with.
 *
 * @since 0.1.0
 * @category models
 */
export type DataflowError =
  | StepFailed
  | DuplicateStepId
  | InvalidDataflow
  | RecoveryMismatch
  | RescaleUnfinished
  | StoreVersionUnsupported
  | StateDecodeError
  | StoreUnavailable
  | StoreCorrupt
  | InputNotResumable
  | InputFileChanged
  | InputFileNotText
  | InputCsvInvalid
  | WorkerFailed
  | FlowNotImportable

/**
 * The schema of every `DataflowError`, to carry errors across threads and
 * processes with their class.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DataflowErrorSchema = Schema.Union(
  StepFailed,
  DuplicateStepId,
  InvalidDataflow,
  RecoveryMismatch,
  RescaleUnfinished,
  StoreVersionUnsupported,
  StateDecodeError,
  StoreUnavailable,
  StoreCorrupt,
  InputNotResumable,
  InputFileChanged,
  InputFileNotText,
  InputCsvInvalid,
  WorkerFailed,
  FlowNotImportable
)

/**
 * Errors a recovery store can fail with while opening, reading or committing.
 *
 * @since 0.1.0
 * @category models
 */
export type RecoveryError =
  | RecoveryMismatch
  | RescaleUnfinished
  | StoreVersionUnsupported
  | StoreUnavailable
  | StoreCorrupt
