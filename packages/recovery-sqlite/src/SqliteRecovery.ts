/**
 * A durable recovery store in SQLite: one database file per worker in a
 * directory (`worker-0.sqlite3`, `worker-1.sqlite3`, …), created on first use.
 *
 * - Each epoch commits in one SQLite transaction (R1), in WAL mode, with
 *   `synchronous = FULL` unless told otherwise: a commit that returned
 *   survives a power cut.
 * - A worker file holds one row per live key and step, plus a changelog:
 *   one row per epoch and step with that epoch's writes, folded into the
 *   live rows every `materializeEvery` epochs (or once it passes
 *   `changelogBytes`), and only up to the epoch every worker completed (R6).
 *   Resume streams one step's live rows overlaid with the changelog (R14).
 * - A worker file is open in one process at a time: a second run on the same
 *   directory fails at once with `StoreUnavailable`. The lock
 *   (`worker-<n>.lock`) is released by the operating system when its holder
 *   dies, so a killed run never blocks the next one.
 * - Files that are not Sluice stores fail with `StoreCorrupt` naming the
 *   file; a store written by a newer release fails with
 *   `StoreVersionUnsupported`; older stores are migrated on open.
 * - Each snapshot carries a CRC-32 of step, key and value, checked on
 *   resume; `worker-<n>.epoch` records the last committed epoch outside the
 *   database. A changed value, a deleted `-wal` or a deleted worker file is
 *   `StoreCorrupt`, never a replay from an older epoch. A full disk, an I/O
 *   error or a read-only file is `StoreUnavailable` naming file and epoch.
 * - A rescale (`rescale: true`) stores its plan in `rescale-plan` (written,
 *   synced and renamed into place) before it changes any worker file, and
 *   removes it when done: a kill anywhere is finished from the plan by the
 *   next run with `rescale: true`.
 * - Records of `Output.transactional` commit with their epoch into the table
 *   `sluice_outputs (id, destination, epoch, key, value)` of the worker's
 *   file; read them in `id` order.
 *
 * @since 0.1.0
 */
import { RecoveryStore } from "@sluice/core"
import type { RecoveryError, StoreUnavailable } from "@sluice/core/DataflowError"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as path from "node:path"
import * as internal from "./internal/backend.js"
import * as storeReader from "./internal/storeReader.js"

/**
 * SQLite's `synchronous` setting. `FULL` (the default) makes a returned
 * commit durable across power loss; `NORMAL` in WAL mode keeps the store
 * consistent but may lose the last commits on power loss (not on a process
 * crash); `OFF` leaves durability to the operating system.
 *
 * @since 0.1.0
 * @category models
 */
export type Synchronous = "OFF" | "NORMAL" | "FULL" | "EXTRA"

/**
 * Where and how the store keeps its files.
 *
 * @example
 * ```ts
 * import { SqliteRecovery } from "@sluice/recovery-sqlite"
 * const options: SqliteRecovery.Options = { directory: "./state", synchronous: "NORMAL", materializeEvery: 32 }
 * const layer = SqliteRecovery.layer(options)
 * ```
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The directory of the worker files; created when missing. */
  readonly directory: string
  /** SQLite's `synchronous` pragma for the worker files; `FULL` by default. */
  readonly synchronous?: Synchronous | undefined
  /**
   * An epoch's writes go to the changelog, one row per step; a commit folds
   * the changelog of the epochs every worker completed into the table of
   * live keys once it holds `materializeEvery` epochs, or sooner once it
   * passes `changelogBytes`. 128 by default, a cap for small epochs: for
   * most epochs the size bound comes first. Folding more epochs at once
   * writes a key rewritten every epoch once per fold instead of once per
   * epoch.
   */
  readonly materializeEvery?: number | undefined
  /**
   * Folds once the changelog's text reaches this many UTF-16 code units
   * (about bytes for JSON state). A resume, eager or lazy, reads and folds
   * that tail in memory before its first item, so this bounds what a resume
   * pays for it. 4 MiB by default: measured on a word count, a commit at
   * 10k-word epochs costs half the store CPU of folding every 16 epochs, and
   * a resume at the bound spends about 0.3 s more before its first item.
   */
  readonly changelogBytes?: number | undefined
}

/**
 * The byte-level backend, for wrapping or for running the backend
 * conformance suite. Creates the directory; files are opened per worker by
 * `open`, for the scope that opens them.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RecoveryStore } from "@sluice/core"
 * import { SqliteRecovery } from "@sluice/recovery-sqlite"
 *
 * const store = Effect.map(SqliteRecovery.backend({ directory: "./state" }), RecoveryStore.make)
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const backend = (options: Options): Effect.Effect<RecoveryStore.Backend, StoreUnavailable> =>
  internal.make(options)

/**
 * The store in `directory` read-only, every worker file at once, for
 * `RecoveryStore.inspect` and tools such as `sluice store inspect`: each file
 * is opened with a read-only connection and no worker lock, so it reads the
 * last committed state even while a run holds the store (WAL mode), and it
 * creates nothing (a missing directory fails with `StoreUnavailable`). The
 * same reader is the backend's `inspect`.
 *
 * @example
 * ```ts
 * import { RecoveryStore } from "@sluice/core"
 * import { SqliteRecovery } from "@sluice/recovery-sqlite"
 * import { Effect } from "effect"
 *
 * const inspection = RecoveryStore.inspect({
 *   name: "sqlite ./state",
 *   inspect: SqliteRecovery.reader({ directory: "./state" })
 * }).pipe(Effect.scoped)
 * ```
 * @since 0.2.0
 * @category inspection
 */
export const reader = (
  options: Pick<Options, "directory">
): Effect.Effect<RecoveryStore.StoreReader, RecoveryError, Scope.Scope> =>
  storeReader.make(path.resolve(options.directory))

/**
 * The recovery store service over SQLite files in `options.directory`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Dataflow, Epoch, Input, Output } from "@sluice/core"
 * import { SqliteRecovery } from "@sluice/recovery-sqlite"
 *
 * const flow = Dataflow.make("copy").pipe(
 *   Dataflow.input("in", Input.fromIterable(["a", "b"])),
 *   Dataflow.output("out", Output.console())
 * )
 * const program = Dataflow.run(flow, { epoch: Epoch.everyItems(1) }).pipe(
 *   Effect.provide(SqliteRecovery.layer({ directory: "./state" }))
 * )
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<RecoveryStore.RecoveryStore, StoreUnavailable> =>
  Layer.effect(RecoveryStore.RecoveryStore, Effect.map(backend(options), RecoveryStore.make))

/**
 * {@link layer} with its options read from Effect's `Config`.
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { SqliteRecovery } from "@sluice/recovery-sqlite"
 *
 * const layer = SqliteRecovery.layerConfig({
 *   directory: Config.string("SLUICE_STATE_DIRECTORY"),
 *   synchronous: Config.succeed("FULL")
 * })
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<RecoveryStore.RecoveryStore, StoreUnavailable | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))
