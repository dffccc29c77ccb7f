/**
 * Where a run keeps its recovery store, as the `sluice` command takes it:
 * `sqlite:DIR`, `kafka:HOST:PORT,…/PREFIX` or `memory`. The string is parsed
 * with `Schema` into a tagged union, and each case knows its store Layer and
 * its read-only view for `sluice store inspect` and `dump`.
 *
 * @since 0.1.0
 */
import type { DataflowError } from "@sluice/core"
import { RecoveryStore } from "@sluice/core"
import { StoreUnavailable } from "@sluice/core/DataflowError"
import { SqliteRecovery } from "@sluice/recovery-sqlite"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as path from "node:path"

/**
 * A SQLite store: one file per worker in `directory` (resolved against the
 * current directory when parsed).
 *
 * @since 0.1.0
 * @category models
 */
export class Sqlite extends Schema.TaggedClass<Sqlite>()("Sqlite", { directory: Schema.String }) {}

/**
 * A Kafka store: the topics `<topicPrefix>-progress` and `<topicPrefix>-state`
 * on `brokers`.
 *
 * @since 0.1.0
 * @category models
 */
export class Kafka extends Schema.TaggedClass<Kafka>()("Kafka", {
  brokers: Schema.NonEmptyArray(Schema.String),
  topicPrefix: Schema.String
}) {}

/**
 * The in-memory store: nothing outlives the process.
 *
 * @since 0.1.0
 * @category models
 */
export class Memory extends Schema.TaggedClass<Memory>()("Memory", {}) {}

/**
 * @since 0.1.0
 * @category models
 */
export const StoreLocation = Schema.Union(Sqlite, Kafka, Memory)

/**
 * @since 0.1.0
 * @category models
 */
export type StoreLocation = typeof StoreLocation.Type

/**
 * The forms a store string takes, for messages and `--help`.
 *
 * @since 0.1.0
 * @category constants
 */
export const accepted = "sqlite:DIR, kafka:HOST:PORT[,HOST:PORT…]/PREFIX or memory"

const BROKER = /^[^\s:,/]+:\d{1,5}$/
// Kafka topic names: letters, digits, '.', '_' and '-'
const TOPIC_PREFIX = /^[A-Za-z0-9._-]+$/

const parseText = (text: string): Either.Either<StoreLocation, string> => {
  if (text === "memory") return Either.right(new Memory())
  if (text.startsWith("sqlite:")) {
    const directory = text.slice("sqlite:".length)
    return directory.length === 0
      ? Either.left("sqlite: needs a directory, as in sqlite:./state")
      : Either.right(new Sqlite({ directory: path.resolve(directory) }))
  }
  if (text.startsWith("kafka:")) {
    const rest = text.slice("kafka:".length)
    const slash = rest.indexOf("/")
    if (slash === -1) return Either.left("kafka: needs a topic prefix after the brokers, as in kafka:localhost:9092/wc")
    const brokers = rest.slice(0, slash).split(",")
    const topicPrefix = rest.slice(slash + 1)
    const badBroker = brokers.find((broker) => !BROKER.test(broker))
    if (badBroker !== undefined) return Either.left(`kafka: broker ${JSON.stringify(badBroker)} is not HOST:PORT`)
    if (!TOPIC_PREFIX.test(topicPrefix)) {
      return Either.left(`kafka: topic prefix ${JSON.stringify(topicPrefix)} may hold only letters, digits, . _ and -`)
    }
    return Either.right(new Kafka({ brokers: [brokers[0], ...brokers.slice(1)], topicPrefix }))
  }
  return Either.left(`it names no store kind`)
}

const encodeLocation = (location: StoreLocation): string => {
  switch (location._tag) {
    case "Sqlite":
      return `sqlite:${location.directory}`
    case "Kafka":
      return `kafka:${location.brokers.join(",")}/${location.topicPrefix}`
    case "Memory":
      return "memory"
  }
}

/**
 * A store string and the location it names.
 *
 * @example
 * ```ts
 * import { StoreLocation } from "@sluice/cli"
 * import { Schema } from "effect"
 * Schema.decodeUnknownSync(StoreLocation.FromString)("kafka:localhost:9092/wordcount")
 * // Kafka { brokers: ["localhost:9092"], topicPrefix: "wordcount" }
 * ```
 * @since 0.1.0
 * @category schemas
 */
export const FromString: Schema.Schema<StoreLocation, string> = Schema.transformOrFail(
  Schema.String,
  Schema.typeSchema(StoreLocation),
  {
    strict: true,
    decode: (text, _, ast) =>
      Either.match(parseText(text), {
        onLeft: (problem) => ParseResult.fail(new ParseResult.Type(ast, text, problem)),
        onRight: ParseResult.succeed
      }),
    encode: (location) => ParseResult.succeed(encodeLocation(location))
  }
)

/**
 * A store string that names no store.
 *
 * @since 0.1.0
 * @category errors
 */
export class StoreLocationInvalid extends Schema.TaggedError<StoreLocationInvalid>()("StoreLocationInvalid", {
  text: Schema.String,
  problem: Schema.String
}) {
  override get message(): string {
    return `store ${JSON.stringify(this.text)} does not parse: ${this.problem}; use ${accepted}`
  }
}

/**
 * Parses a store string.
 *
 * @example
 * ```ts
 * import { StoreLocation } from "@sluice/cli"
 * const location = StoreLocation.parse("sqlite:./state") // Sqlite { directory: "/abs/path/state" }
 * ```
 * @since 0.1.0
 * @category parsing
 */
export const parse = (text: string): Effect.Effect<StoreLocation, StoreLocationInvalid> =>
  Effect.mapError(
    Schema.decode(FromString)(text),
    (error) => {
      const issue = error.issue
      const problem = issue._tag === "Transformation" && issue.issue._tag === "Type" ? issue.issue.message : undefined
      return new StoreLocationInvalid({ text, problem: problem ?? "it names no store kind" })
    }
  )

const kafkaModule = (store: string) =>
  Effect.tryPromise({
    try: () => import("@sluice/recovery-kafka"),
    catch: (cause) =>
      new StoreUnavailable({
        store,
        reason: "a Kafka store needs the package @sluice/recovery-kafka (with @sluice/kafka): install them next to " +
          "@sluice/cli",
        cause
      })
  })

const kafkaName = (location: Kafka) => `kafka ${location.brokers.join(",")}/${location.topicPrefix}`

/**
 * A location in words, as store errors name it: `sqlite /data/state`.
 *
 * @example
 * ```ts
 * import { StoreLocation } from "@sluice/cli"
 * StoreLocation.describe(new StoreLocation.Memory()) // "memory"
 * ```
 * @since 0.1.0
 * @category models
 */
export const describe = (location: StoreLocation): string => {
  switch (location._tag) {
    case "Sqlite":
      return `sqlite ${location.directory}`
    case "Kafka":
      return kafkaName(location)
    case "Memory":
      return "memory"
  }
}

/**
 * The recovery store at a location, as a Layer for `Dataflow.run`.
 *
 * @example
 * ```ts
 * import { StoreLocation } from "@sluice/cli"
 * const layer = StoreLocation.layer(new StoreLocation.Sqlite({ directory: "/tmp/state" }))
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = (location: StoreLocation): Layer.Layer<RecoveryStore.RecoveryStore, StoreUnavailable> => {
  switch (location._tag) {
    case "Sqlite":
      return SqliteRecovery.layer({ directory: location.directory })
    case "Kafka":
      return Layer.unwrapEffect(
        Effect.map(
          kafkaModule(kafkaName(location)),
          ({ KafkaRecovery }) => KafkaRecovery.layer({ brokers: location.brokers, topicPrefix: location.topicPrefix })
        )
      )
    case "Memory":
      return RecoveryStore.layerMemory()
  }
}

/**
 * What `RecoveryStore.inspect` needs of the store at a location: its name and
 * its read-only view. Reading never creates or changes the store. A memory
 * store lives only inside the process that runs it, so there is nothing to
 * read from outside.
 *
 * @example
 * ```ts
 * import { RecoveryStore } from "@sluice/core"
 * import { StoreLocation } from "@sluice/cli"
 * import { Effect } from "effect"
 *
 * const inspection = StoreLocation.inspectable(new StoreLocation.Sqlite({ directory: "/tmp/state" })).pipe(
 *   Effect.flatMap(RecoveryStore.inspect),
 *   Effect.scoped
 * )
 * ```
 * @since 0.1.0
 * @category inspection
 */
export const inspectable = (
  location: StoreLocation
): Effect.Effect<Pick<RecoveryStore.Backend, "name" | "inspect">, DataflowError.StoreUnavailable> => {
  switch (location._tag) {
    case "Sqlite":
      return Effect.succeed({
        name: describe(location),
        inspect: SqliteRecovery.reader({ directory: location.directory })
      })
    case "Kafka":
      return Effect.map(
        kafkaModule(kafkaName(location)),
        ({ KafkaRecovery }) => KafkaRecovery.backend({ brokers: location.brokers, topicPrefix: location.topicPrefix })
      )
    case "Memory":
      return Effect.fail(
        new StoreUnavailable({
          store: "memory",
          reason: "a memory store lives only inside the process that runs it, so there is nothing to read here; " +
            "run with --store sqlite:DIR or kafka:… to keep a store you can inspect",
          cause: undefined
        })
      )
  }
}
