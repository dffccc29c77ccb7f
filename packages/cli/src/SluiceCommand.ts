/**
 * The `sluice` command: `run` a dataflow module on a store, `store inspect`
 * and `store dump` to look inside a store, `graph` to draw a dataflow. Built
 * on `@effect/cli`: `--help` on every command, `--version`, and every flag of
 * `run` also from an environment variable (`SLUICE_WORKERS`, `SLUICE_STORE`,
 * `SLUICE_EPOCH`, `SLUICE_RESCALE`, `SLUICE_RESTORE`, `SLUICE_METRICS`, `SLUICE_DASHBOARD`).
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import type { NodeContext } from "@effect/platform-node"
import { Dataflow, Epoch, RecoveryStore } from "@sluice/core"
import type { DataflowError } from "@sluice/core"
import { RecoveryMismatch, StateDecodeError } from "@sluice/core/DataflowError"
import { NodeDataflow, NodeTelemetry, NodeWorkers } from "@sluice/platform-node"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberRef from "effect/FiberRef"
import * as HashSet from "effect/HashSet"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as GraphFormat from "./GraphFormat.js"
import * as FlowModule from "./internal/flowModule.js"
import * as InspectionText from "./internal/inspectionText.js"
import * as Terminal from "./internal/terminal.js"
import * as StoreLocation from "./StoreLocation.js"

/**
 * A flag or argument whose value the command cannot use.
 *
 * @since 0.1.0
 * @category errors
 */
export class ArgumentInvalid extends Schema.TaggedError<ArgumentInvalid>()("ArgumentInvalid", {
  name: Schema.String,
  value: Schema.String,
  problem: Schema.String
}) {
  override get message(): string {
    return `${this.name} ${JSON.stringify(this.value)}: ${this.problem}`
  }
}

/**
 * `store dump --step` names a step the store holds no keys of (or, with
 * `--module`, a step the dataflow does not have).
 *
 * @since 0.1.0
 * @category errors
 */
export class StepNotFound extends Schema.TaggedError<StepNotFound>()("StepNotFound", {
  stepId: Schema.String,
  where: Schema.String,
  known: Schema.Array(Schema.String)
}) {
  override get message(): string {
    const known = this.known.length === 0 ? "none" : this.known.join(", ")
    return `step ${this.stepId} is not in ${this.where}; the steps there: ${known}`
  }
}

/**
 * Every failure the command reports with a message alone: the errors of a
 * dataflow and its store, and those of the command line.
 *
 * @since 0.1.0
 * @category errors
 */
export type CommandError =
  | DataflowError.DataflowError
  | StoreLocation.StoreLocationInvalid
  | ArgumentInvalid
  | StepNotFound

const isCommandLineError = (u: unknown): u is StoreLocation.StoreLocationInvalid | ArgumentInvalid | StepNotFound =>
  u instanceof StoreLocation.StoreLocationInvalid || u instanceof ArgumentInvalid || u instanceof StepNotFound

/**
 * `--epoch`: a whole number is items per epoch, anything else a duration
 * (`10s`, `500ms`, `2m`, or Effect's `10 seconds`).
 */
const parseEpoch = (text: string): Effect.Effect<Epoch.EpochPolicy, ArgumentInvalid> => {
  const invalid = (problem: string) => new ArgumentInvalid({ name: "--epoch", value: text, problem })
  if (/^\d+$/.test(text)) {
    const items = Number(text)
    return items >= 1 ? Effect.succeed(Epoch.everyItems(items)) : Effect.fail(invalid("an epoch needs at least 1 item"))
  }
  const short = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text)
  const units = { ms: "millis", s: "seconds", m: "minutes", h: "hours" } as const
  const duration = short === null
    ? Duration.decodeUnknown(text)
    : Option.some(Duration.decode(`${Number(short[1])} ${units[short[2] as keyof typeof units]}`))
  return Option.match(Option.filter(duration, Duration.greaterThan(Duration.zero)), {
    onNone: () => Effect.fail(invalid("give a number of items (10000) or a positive duration (10s, 500ms, 2m)")),
    onSome: (d) => Effect.succeed(Epoch.interval(d))
  })
}

const flowArgument = Args.text({ name: "module" }).pipe(
  Args.withDescription(
    "the dataflow module, MODULE[:EXPORT]: a .js file (or .ts under tsx or Node's type stripping), resolved " +
      "against the current directory; EXPORT defaults to the default export, then the module's only Dataflow"
  )
)

const storeArgument = Args.text({ name: "store" }).pipe(
  Args.withDescription(`the store: ${StoreLocation.accepted}`)
)

// Each flag falls back to its environment variable, then to its default.
const workersOption = Options.integer("workers").pipe(
  Options.withAlias("w"),
  Options.withDescription("worker threads to run on (env SLUICE_WORKERS; default 1)"),
  Options.withFallbackConfig(Config.integer("SLUICE_WORKERS").pipe(Config.withDefault(1)))
)

const storeOption = Options.text("store").pipe(
  Options.withAlias("s"),
  Options.withDescription(`the recovery store: ${StoreLocation.accepted} (env SLUICE_STORE; default memory)`),
  Options.withFallbackConfig(Config.string("SLUICE_STORE").pipe(Config.withDefault("memory")))
)

const epochOption = Options.text("epoch").pipe(
  Options.withAlias("e"),
  Options.withDescription(
    "how epochs are cut: a number of items (10000) or a duration (10s, 500ms) (env SLUICE_EPOCH; default 10s)"
  ),
  Options.withFallbackConfig(Config.string("SLUICE_EPOCH").pipe(Config.withDefault("10s")))
)

const rescaleOption = Options.boolean("rescale").pipe(
  Options.withDescription(
    "accept a store written with another worker count and move its state to this run's workers first " +
      "(env SLUICE_RESCALE)"
  ),
  Options.withFallbackConfig(Config.boolean("SLUICE_RESCALE").pipe(Config.withDefault(false)))
)

const restoreOption = Options.choice("restore", ["eager", "lazy"]).pipe(
  Options.withDescription(
    "how keyed state comes back on resume: eager loads every key before the first item, lazy loads a key " +
      "on its first item, on stores that can read keys (env SLUICE_RESTORE; default eager)"
  ),
  Options.withFallbackConfig(Config.literal("eager", "lazy")("SLUICE_RESTORE").pipe(Config.withDefault("eager")))
)

const metricsOption = Options.text("metrics").pipe(
  Options.withDescription(
    "serve Prometheus metrics on HOST:PORT (or PORT, on 127.0.0.1) at /metrics (env SLUICE_METRICS)"
  ),
  Options.withFallbackConfig(Config.string("SLUICE_METRICS")),
  Options.optional
)

const dashboardOption = Options.text("dashboard").pipe(
  Options.withDescription("serve the live dashboard on HOST:PORT (or PORT, on 127.0.0.1) (env SLUICE_DASHBOARD)"),
  Options.withFallbackConfig(Config.string("SLUICE_DASHBOARD")),
  Options.optional
)

/** `HOST:PORT`, `:PORT` or `PORT`; the host defaults to 127.0.0.1 so that only this machine can read it. */
const parseAddress = (
  name: string,
  text: string
): Effect.Effect<NodeTelemetry.ListenAddress, ArgumentInvalid> => {
  const match = /^(?:(.*):)?(\d{1,5})$/.exec(text.trim())
  const port = match === null ? Number.NaN : Number(match[2])
  if (match === null || port < 1 || port > 65535) {
    return Effect.fail(
      new ArgumentInvalid({ name, value: text, problem: "give HOST:PORT or PORT, with a port from 1 to 65535" })
    )
  }
  const host = match[1] === undefined || match[1] === "" ? undefined : match[1].replace(/^\[(.*)\]$/, "$1")
  return Effect.succeed(host === undefined ? { port } : { host, port })
}

const parseOptionalAddress = (name: string, text: Option.Option<string>) =>
  Option.match(text, {
    onNone: () => Effect.succeed(undefined),
    onSome: (value) => parseAddress(name, value)
  })

/**
 * What `sluice run` was asked for, parsed.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunSettings {
  readonly store: StoreLocation.StoreLocation
  readonly workers: number
  /** Where to serve Prometheus metrics, if anywhere. */
  readonly metrics?: NodeTelemetry.ListenAddress | undefined
  /** Where to serve the live dashboard of `dataflow`, if anywhere. */
  readonly dashboard?: (NodeTelemetry.ListenAddress & { readonly dataflow: Dataflow.Dataflow }) | undefined
}

/**
 * The services a run needs, one Layer per setting: an option that provides
 * one more service (metrics, a dashboard) adds one line here.
 *
 * @example
 * ```ts
 * import { SluiceCommand, StoreLocation } from "@sluice/cli"
 * const services = SluiceCommand.runServices({ store: new StoreLocation.Memory(), workers: 2 })
 * ```
 * @since 0.1.0
 * @category running
 */
export const runServices = (settings: RunSettings) =>
  Layer.mergeAll(
    StoreLocation.layer(settings.store),
    // the threads start loading the library while the store opens (worker 0 runs in this thread)
    settings.workers > 1 ? NodeWorkers.layerPool({ threads: settings.workers - 1 }) : Layer.empty,
    settings.metrics === undefined ? Layer.empty : NodeTelemetry.layerMetrics(settings.metrics),
    settings.dashboard === undefined ? Layer.empty : NodeTelemetry.layerDashboard(settings.dashboard),
    // spans go out over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set, nowhere otherwise
    NodeTelemetry.layerTracing
  )

/**
 * Hooks of {@link makeCommand}, for the main that runs it.
 *
 * @since 0.1.0
 * @category models
 */
export interface CommandHooks {
  /** Called after each epoch `sluice run` commits. */
  readonly onEpochCommitted?: (epoch: number) => void
}

const makeRun = (hooks: CommandHooks) =>
  Command.make(
    "run",
    {
      flow: flowArgument,
      workers: workersOption,
      store: storeOption,
      epoch: epochOption,
      rescale: rescaleOption,
      restore: restoreOption,
      metrics: metricsOption,
      dashboard: dashboardOption
    },
    (options) =>
      Effect.gen(function*() {
        const store = yield* StoreLocation.parse(options.store)
        const epoch = yield* parseEpoch(options.epoch)
        if (options.workers < 1) {
          return yield* new ArgumentInvalid({
            name: "--workers",
            value: String(options.workers),
            problem: "a run needs at least 1 worker"
          })
        }
        const metrics = yield* parseOptionalAddress("--metrics", options.metrics)
        const dashboard = yield* parseOptionalAddress("--dashboard", options.dashboard)
        const { dataflow, module } = yield* FlowModule.load(options.flow)
        const reporter = yield* Terminal.make({
          interactive: process.stderr.isTTY === true,
          write: (text) => process.stderr.write(text)
        })
        const workers = options.workers === 1 ? "1 worker" : `${options.workers} workers`
        yield* reporter.line(`running dataflow ${dataflow.id} on ${StoreLocation.describe(store)} with ${workers}`)
        const summary = yield* Dataflow.run(options.workers === 1 ? dataflow : module, {
          workers: options.workers,
          epoch,
          rescale: options.rescale,
          restore: options.restore,
          onEpochCommitted: (progress) =>
            Effect.zipRight(
              Effect.sync(() => hooks.onEpochCommitted?.(progress.epoch)),
              reporter.onEpochCommitted(progress)
            )
        }).pipe(
          Effect.provide(runServices({
            store,
            workers: options.workers,
            metrics,
            dashboard: dashboard === undefined ? undefined : { ...dashboard, dataflow }
          })),
          // the run's only logger: the main's pretty logger would write to stdout, which is the dataflow's
          Effect.locally(FiberRef.currentLoggers, HashSet.make(reporter.logger))
        )
        const items = `${summary.items.toLocaleString("en")} ${summary.items === 1 ? "item" : "items"}`
        yield* reporter.line(
          summary.lastEpoch < summary.resumeEpoch
            ? `dataflow ${dataflow.id} had nothing left to do at epoch ${summary.resumeEpoch}`
            : `dataflow ${dataflow.id} finished: ${items} in epochs ${summary.resumeEpoch}-${summary.lastEpoch}${
              summary.resumeEpoch > 1 ? ` (resumed at epoch ${summary.resumeEpoch})` : ""
            }`
        )
      }).pipe(Effect.scoped)
  ).pipe(Command.withDescription("run a dataflow module to the end of its inputs, resuming from its store"))

const inspect = Command.make(
  "inspect",
  { store: storeArgument, json: Options.boolean("json").pipe(Options.withDescription("print JSON")) },
  (options) =>
    Effect.gen(function*() {
      const location = yield* StoreLocation.parse(options.store)
      const backend = yield* StoreLocation.inspectable(location)
      const inspection = yield* RecoveryStore.inspect(backend)
      if (Option.isNone(inspection)) {
        return yield* Console.log(
          options.json
            ? JSON.stringify({ store: backend.name, empty: true })
            : `store ${backend.name} is empty: no run has opened it yet`
        )
      }
      const { meta, store, ...rest } = inspection.value
      yield* Console.log(
        options.json
          ? JSON.stringify({ store, empty: false, ...meta, ...rest }, null, 2)
          : InspectionText.render(inspection.value, RecoveryStore.STORE_SCHEMA_VERSION)
      )
    }).pipe(Effect.scoped)
).pipe(
  Command.withDescription(
    "what a store holds: its dataflow, version, workers and their last completed epochs, the resume epoch, " +
      "live keys and bytes per step, transactional output records; read-only"
  )
)

/** JSON for any decoded state: Maps and Sets as arrays, bigints as strings. */
const stateJson = (_key: string, value: unknown): unknown =>
  value instanceof Map
    ? [...value]
    : value instanceof Set
    ? [...value]
    : typeof value === "bigint"
    ? String(value)
    : value

const rawJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

const dump = Command.make(
  "dump",
  {
    store: storeArgument,
    step: Options.text("step").pipe(Options.withDescription("the step whose snapshots to print")),
    key: Options.text("key").pipe(Options.withDescription("only this key"), Options.optional),
    flow: Options.text("module").pipe(
      Options.withDescription("MODULE[:EXPORT] of the dataflow, to decode snapshots with the step's state schema"),
      Options.optional
    )
  },
  (options) =>
    Effect.gen(function*() {
      const location = yield* StoreLocation.parse(options.store)
      const backend = yield* StoreLocation.inspectable(location)
      const reader = yield* RecoveryStore.openReader(backend)
      if (Option.isNone(reader.meta)) {
        return yield* new StepNotFound({ stepId: options.step, where: `store ${backend.name} (empty)`, known: [] })
      }
      const meta = reader.meta.value
      const at = RecoveryStore.resumeEpochOf(reader.progress, meta.workerCount) - 1
      const dataflow = yield* Effect.transposeMapOption(options.flow, (flow) =>
        Effect.map(FlowModule.load(flow), (loaded) => loaded.dataflow))
      if (Option.isSome(dataflow)) {
        if (dataflow.value.id !== meta.dataflowId) {
          return yield* new RecoveryMismatch({
            field: "dataflowId",
            expected: dataflow.value.id,
            found: meta.dataflowId
          })
        }
        const steps = Dataflow.describe(dataflow.value).steps.filter((step) =>
          step.stateful
        ).map((step) => step.id)
        if (!steps.includes(options.step)) {
          return yield* new StepNotFound({
            stepId: options.step,
            where: `the stateful steps of dataflow ${meta.dataflowId}`,
            known: steps
          })
        }
      } else {
        const steps = (yield* reader.steps(at)).map((step) => step.stepId)
        if (!steps.includes(options.step)) {
          return yield* new StepNotFound({
            stepId: options.step,
            where: `store ${backend.name} at epoch ${at}`,
            known: steps
          })
        }
      }
      const wanted = Option.getOrUndefined(options.key)
      yield* Stream.runForEach(
        Stream.filter(
          reader.snapshots(options.step, at),
          (snapshot) => wanted === undefined || snapshot.key === wanted
        ),
        ({ key, value }) =>
          Option.match(dataflow, {
            onNone: () => Console.log(JSON.stringify({ key, value: rawJson(value) })),
            onSome: (flow) =>
              Either.match(Dataflow.decodeSnapshot(flow, options.step, value), {
                onLeft: (issue) => Effect.fail(new StateDecodeError({ stepId: options.step, key, issue })),
                onRight: (state) => Console.log(JSON.stringify({ key, state }, stateJson))
              })
          })
      )
    }).pipe(Effect.scoped)
).pipe(
  Command.withDescription(
    "print a step's live snapshots at the resume point as JSON lines: decoded with the step's schema when " +
      "--module is given, the stored JSON otherwise; read-only"
  )
)

const store = Command.make("store").pipe(
  Command.withDescription("look inside a recovery store without changing it"),
  Command.withSubcommands([inspect, dump])
)

const graph = Command.make(
  "graph",
  {
    flow: flowArgument,
    format: Options.choice("format", GraphFormat.formats).pipe(
      Options.withAlias("f"),
      Options.withDescription("mermaid, dot (Graphviz) or json"),
      Options.withDefault("mermaid" as const)
    )
  },
  (options) =>
    Effect.flatMap(
      FlowModule.load(options.flow),
      ({ dataflow }) => Console.log(GraphFormat.render(Dataflow.describe(dataflow), options.format))
    )
).pipe(Command.withDescription("draw a dataflow's steps and edges; stateful steps are drawn as cylinders"))

/**
 * The `sluice` command with its subcommands.
 *
 * @example
 * ```ts
 * import { SluiceCommand } from "@sluice/cli"
 * let lastEpoch = 0
 * const command = SluiceCommand.makeCommand({ onEpochCommitted: (epoch) => (lastEpoch = epoch) })
 * ```
 * @since 0.1.0
 * @category commands
 */
export const makeCommand = (hooks: CommandHooks = {}) =>
  Command.make("sluice").pipe(
    Command.withDescription("run, inspect and draw Sluice dataflows"),
    Command.withSubcommands([makeRun(hooks), store, graph])
  )

/**
 * This package's version, for `--version`.
 *
 * @since 0.1.0
 * @category constants
 */
export const version: string = (JSON.parse(
  fs.readFileSync(new URL("../package.json", import.meta.url), "utf8")
) as { readonly version: string }).version

/**
 * Runs the command on `argv` (as `process.argv`). Failures of the command
 * line (a flag `@effect/cli` refused, having printed why; a store string that
 * does not parse) set exit code 2; the failures of a dataflow or store are
 * left to the main, which prints their message.
 *
 * @example
 * ```ts
 * import { NodeDataflow } from "@sluice/platform-node"
 * import { SluiceCommand } from "@sluice/cli"
 * NodeDataflow.runMain(SluiceCommand.cli(["node", "sluice", "graph", "./flow.js"]))
 * ```
 * @since 0.1.0
 * @category running
 */
export const cli = (
  argv: ReadonlyArray<string>,
  hooks: CommandHooks = {}
): Effect.Effect<void, DataflowError.DataflowError, NodeContext.NodeContext> =>
  Command.run(makeCommand(hooks), { name: "sluice", version })(argv).pipe(
    Effect.catchIf(
      (error) => ValidationError.isValidationError(error),
      () => Effect.sync(() => (process.exitCode = 2))
    ),
    Effect.catchIf(
      isCommandLineError,
      (error) =>
        Effect.sync(() => {
          process.stderr.write(`${error.message}\n`)
          process.exitCode = 2
        })
    ),
    // a metrics or dashboard port in use, an OTEL_* variable that does not parse: the run never started
    Effect.catchIf(
      (error) => error instanceof NodeTelemetry.TelemetryServerFailed || ConfigError.isConfigError(error),
      (error) =>
        Effect.sync(() => {
          process.stderr.write(`${error.message}\n`)
          process.exitCode = 1
        })
    )
  )

/**
 * The main of the `sluice` binary: {@link cli} under `NodeDataflow.runMain`,
 * so a dataflow's error prints its message alone and exits 1, and SIGINT or
 * SIGTERM stops a run, says after which epoch, and exits 130 or 143.
 *
 * @example
 * ```ts
 * import { SluiceCommand } from "@sluice/cli"
 * SluiceCommand.main(process.argv)
 * ```
 * @since 0.1.0
 * @category running
 */
export const main = (argv: ReadonlyArray<string>): void => {
  let lastEpoch: number | undefined
  NodeDataflow.runMain(cli(argv, { onEpochCommitted: (epoch) => (lastEpoch = epoch) }), {
    lastCommittedEpoch: () => lastEpoch
  })
}
