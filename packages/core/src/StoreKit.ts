/**
 * The store kit: the recovery protocol every durable backend shares, written
 * once, so that a backend keeps only its I/O.
 *
 * A backend implements `RecoveryStore.Backend` over its storage and takes the
 * protocol from here:
 *
 * - **agreement** (R3, R6): `agreedEpoch`, the epoch every worker has
 *   completed; `resumeEpoch`, one past it; `rewindProgress`, a worker's last
 *   completed epoch after `discardFrom`.
 * - **collection** (R6): `VersionLog` for a store that indexes every version of
 *   a key (it plans each commit, discard and reset as versions written and
 *   versions dropped), and `collectVersions` for the rule itself.
 * - **coding**: `encodeStoreMeta` / `decodeStoreMeta` and `encodeProgress` /
 *   `decodeProgress`, the Schema coding of a store's own records.
 * - **rescaling**: `planRescale` routes the resume point's snapshots to the
 *   new workers; `encodeRescalePlan` / `decodeRescalePlan` code the plan a
 *   store's `rescaleJournal` keeps while a rescale is applied.
 * - **integrity**: `snapshotChecksum`, the checksum a store keeps with each
 *   snapshot and checks on resume.
 * - **errors**: `describeCause`, one line for a failure's cause.
 *
 * @since 0.1.0
 */
import type * as Either from "effect/Either"
import type * as Schema from "effect/Schema"
import * as agreement from "./internal/storeKit/agreement.js"
import * as causes from "./internal/storeKit/cause.js"
import * as checksum from "./internal/storeKit/checksum.js"
import * as rescalePlan from "./internal/storeKit/rescalePlan.js"
import * as coding from "./internal/storeKit/storeCoding.js"
import * as versionLog from "./internal/storeKit/versionLog.js"
import type { StoreMeta, WorkerProgress } from "./RecoveryStore.js"

/**
 * Every worker's last completed epoch: the list `readProgress` returns, or a
 * map from worker index to epoch. A worker missing from it has completed none.
 *
 * @since 0.1.0
 * @category agreement
 */
export type ProgressView = agreement.ProgressView

/**
 * The epoch every one of `workerCount` workers has completed: the smallest
 * last completed epoch, 0 when some worker has completed none. With
 * `committing`, as it will be once that worker's commit of that epoch lands:
 * a commit uses it to know which versions its own writes make obsolete (R6).
 *
 * @example
 * ```ts
 * import { StoreKit } from "@sluice/core"
 * StoreKit.agreedEpoch([{ workerIndex: 0, epoch: 7 }, { workerIndex: 1, epoch: 5 }], 2) // 5
 * StoreKit.agreedEpoch(new Map([[1, 5]]), 2, { workerIndex: 0, epoch: 4 }) // 4
 * ```
 * @since 0.1.0
 * @category agreement
 */
export const agreedEpoch: (
  progress: ProgressView,
  workerCount: number,
  committing?: WorkerProgress
) => number = agreement.agreedEpoch

/**
 * R3: where a run resumes, one past the agreed epoch; 1 for a fresh store or
 * while some worker has completed no epoch.
 *
 * @example
 * ```ts
 * import { StoreKit } from "@sluice/core"
 * StoreKit.resumeEpoch([{ workerIndex: 0, epoch: 7 }, { workerIndex: 1, epoch: 5 }], 2) // 6
 * StoreKit.resumeEpoch([{ workerIndex: 0, epoch: 7 }], 2) // 1
 * ```
 * @since 0.1.0
 * @category agreement
 */
export const resumeEpoch: (progress: ProgressView, workerCount: number) => number = agreement.resumeEpoch

/**
 * A worker's last completed epoch after `discardFrom(from)`: epochs from
 * `from` on are redone, so a worker ahead goes back to `from - 1` (none at
 * all for `from <= 1`); a worker behind keeps its epoch.
 *
 * @example
 * ```ts
 * import { StoreKit } from "@sluice/core"
 * StoreKit.rewindProgress(9, 6) // 5
 * StoreKit.rewindProgress(4, 6) // 4
 * StoreKit.rewindProgress(3, 1) // undefined
 * ```
 * @since 0.1.0
 * @category agreement
 */
export const rewindProgress: (lastCompleted: number | undefined, from: number) => number | undefined =
  agreement.rewindProgress

/**
 * One version of a key in a {@link VersionLog}.
 *
 * @since 0.1.0
 * @category collection
 */
export type Version = versionLog.Version

/**
 * Names a version: step, key and the epoch that wrote it.
 *
 * @since 0.1.0
 * @category collection
 */
export type VersionRef = versionLog.VersionRef

/**
 * What a commit, discard or reset does to a store's versions. The store
 * writes `written` and deletes `dropped` in one transaction, then calls
 * `apply` so that the log shows the result; a failed transaction leaves the
 * log as it was.
 *
 * @since 0.1.0
 * @category collection
 */
export type VersionPlan = versionLog.VersionPlan

/**
 * R6, the rule: of a key's versions in epoch order, the ones a resume at
 * `agreed + 1` or later can still need. That is the newest version at or
 * before `agreed` and every newer one; a kept oldest version that is a
 * deletion marker goes too, since nothing older remains for it to hide.
 *
 * @example
 * ```ts
 * import { StoreKit } from "@sluice/core"
 * const versions = [
 *   { epoch: 1, deleted: false },
 *   { epoch: 3, deleted: false },
 *   { epoch: 5, deleted: true }
 * ]
 * StoreKit.collectVersions(versions, 4) // the versions of epochs 3 and 5
 * StoreKit.collectVersions(versions, 5) // none
 * ```
 * @since 0.1.0
 * @category collection
 */
export const collectVersions: <V extends Pick<Version, "epoch" | "deleted">>(
  versions: ReadonlyArray<V>,
  agreed: number
) => Array<V> = versionLog.collectVersions

/**
 * One worker's snapshot versions, key by key, with the collection of R6
 * built in. `keepValues: true` keeps every snapshot's text (a store whose
 * data is the log); `false` keeps only the text passed to `load` until
 * `forgetValues` (a store that indexes data it keeps elsewhere, and reads it
 * back when `snapshotsAt` answers `undefined`).
 *
 * @example
 * ```ts
 * import { StoreKit } from "@sluice/core"
 * const log = new StoreKit.VersionLog({ keepValues: true })
 * const plan = log.planCommit(1, [{ stepId: "count", key: "a", value: "1" }], 1)
 * // write plan.written, delete plan.dropped, in one transaction; then:
 * plan.apply()
 * Array.from(log.snapshotsAt("count", 1) ?? []) // [{ key: "a", value: "1" }]
 * // a store whose data is the log commits in place
 * log.commit(2, [{ stepId: "count", key: "a", value: null }], 2)
 * Array.from(log.snapshotsAt("count", 2) ?? []) // []
 * ```
 * @since 0.1.0
 * @category collection
 */
export const VersionLog: typeof versionLog.VersionLog = versionLog.VersionLog

/**
 * @since 0.1.0
 * @category collection
 */
export type VersionLog = versionLog.VersionLog

/**
 * The schema of the store meta, for a store that keeps it as bytes.
 *
 * @example
 * ```ts
 * import { StoreKit } from "@sluice/core"
 * import { Schema } from "effect"
 * Schema.is(StoreKit.StoreMetaSchema)({ dataflowId: "wc", workerCount: 2, schemaVersion: 1, createdAt: 0 }) // true
 * ```
 * @since 0.1.0
 * @category coding
 */
export const StoreMetaSchema: Schema.Schema<StoreMeta> = coding.StoreMetaSchema

/**
 * The store meta as JSON bytes.
 *
 * @example
 * ```ts
 * import { StoreKit } from "@sluice/core"
 * const bytes = StoreKit.encodeStoreMeta({ dataflowId: "wc", workerCount: 2, schemaVersion: 1, createdAt: 0 })
 * StoreKit.decodeStoreMeta(bytes) // Either.right of the same meta
 * ```
 * @since 0.1.0
 * @category coding
 */
export const encodeStoreMeta: (meta: StoreMeta) => Uint8Array = coding.encodeStoreMeta

/**
 * Decodes bytes written by `encodeStoreMeta`; the left side says what does not parse.
 *
 * @example
 * ```ts
 * import { StoreKit } from "@sluice/core"
 * StoreKit.decodeStoreMeta(new TextEncoder().encode("{}")) // Either.left, naming the missing fields
 * ```
 * @since 0.1.0
 * @category coding
 */
export const decodeStoreMeta: (bytes: Uint8Array) => Either.Either<StoreMeta, string> = coding.decodeStoreMeta

/**
 * A worker's last completed epoch as JSON bytes (`{"epoch":7}`).
 *
 * @example
 * ```ts
 * import { StoreKit } from "@sluice/core"
 * StoreKit.decodeProgress(StoreKit.encodeProgress(7)) // Either.right(7)
 * ```
 * @since 0.1.0
 * @category coding
 */
export const encodeProgress: (epoch: number) => Uint8Array = coding.encodeProgress

/**
 * Decodes bytes written by `encodeProgress`; the left side says what does not parse.
 *
 * @example
 * ```ts
 * import { StoreKit } from "@sluice/core"
 * StoreKit.decodeProgress(new TextEncoder().encode(`{"epoch":-1}`)) // Either.left
 * ```
 * @since 0.1.0
 * @category coding
 */
export const decodeProgress: (bytes: Uint8Array) => Either.Either<number, string> = coding.decodeProgress

/**
 * One snapshot a new worker starts from after a rescale.
 *
 * @since 0.1.0
 * @category rescaling
 */
export type PlannedSnapshot = rescalePlan.PlannedSnapshot

/**
 * What a rescale writes: the old layout's meta and worker count, the new
 * worker count, the resume epoch, and each new worker's share of the
 * snapshots. Stored whole, in one atomic step, by the store's
 * `rescaleJournal` before any worker of the old layout changes, so a killed
 * rescale is finished from it.
 *
 * @since 0.1.0
 * @category rescaling
 */
export type RescalePlan = rescalePlan.RescalePlan

/**
 * Routes the snapshots of the old layout's resume point to the new workers.
 *
 * @example
 * ```ts
 * import { StoreKit } from "@sluice/core"
 * const meta = { dataflowId: "wc", workerCount: 2, schemaVersion: 1, createdAt: 0 }
 * const plan = StoreKit.planRescale({
 *   meta,
 *   to: 3,
 *   resumeEpoch: 4,
 *   snapshots: [{ stepId: "count", key: "a", value: "1" }],
 *   route: () => 2
 * })
 * plan.shares[2] // [{ stepId: "count", key: "a", value: "1" }]
 * ```
 * @since 0.1.0
 * @category rescaling
 */
export const planRescale: (options: {
  readonly meta: StoreMeta
  readonly to: number
  readonly resumeEpoch: number
  readonly snapshots: Iterable<PlannedSnapshot>
  readonly route: (stepId: string, key: string) => number
}) => RescalePlan = rescalePlan.planRescale

/**
 * A rescale plan as bytes (JSON, values in base64), for a store's journal.
 *
 * @example
 * ```ts
 * import { StoreKit } from "@sluice/core"
 * const meta = { dataflowId: "wc", workerCount: 1, schemaVersion: 1, createdAt: 0 }
 * const bytes = StoreKit.encodeRescalePlan({ meta, from: 1, to: 2, resumeEpoch: 1, shares: [[], []] })
 * StoreKit.decodeRescalePlan(bytes) // Either.right of the same plan
 * ```
 * @since 0.1.0
 * @category rescaling
 */
export const encodeRescalePlan: (plan: RescalePlan) => Uint8Array = rescalePlan.encodeRescalePlan

/**
 * Decodes bytes written by `encodeRescalePlan`; the left side says what does not parse.
 *
 * @example
 * ```ts
 * import { StoreKit } from "@sluice/core"
 * StoreKit.decodeRescalePlan(new TextEncoder().encode("{}")) // Either.left, naming the missing fields
 * ```
 * @since 0.1.0
 * @category rescaling
 */
export const decodeRescalePlan: (bytes: Uint8Array) => Either.Either<RescalePlan, string> =
  rescalePlan.decodeRescalePlan

/**
 * One line for the cause of a store error: an error's message, a string as
 * it is, anything else as JSON. Store errors carry it rather than the cause
 * itself where they cross worker threads.
 *
 * @example
 * ```ts
 * import { StoreKit } from "@sluice/core"
 * StoreKit.describeCause(new Error("disk full")) // "disk full"
 * StoreKit.describeCause({ code: 7 }) // '{"code":7}'
 * ```
 * @since 0.1.0
 * @category errors
 */
export const describeCause: (cause: unknown) => string = causes.describeCause

/**
 * The CRC-32 of a snapshot write: its step id, key and the UTF-8 bytes of its
 * value (a tombstone is `null`), the same number for the same text as when
 * values were bytes, so older stores still verify. A store keeps it with the snapshot and recomputes it on resume; a
 * mismatch is damage, to fail with `StoreCorrupt` naming step, key and file
 * rather than resume a wrong value as state.
 *
 * @example
 * ```ts
 * import { StoreKit } from "@sluice/core"
 * const stored = StoreKit.snapshotChecksum("count", "a", "1")
 * StoreKit.snapshotChecksum("count", "a", "7") === stored // false
 * ```
 * @since 0.1.0
 * @category integrity
 */
export const snapshotChecksum: (stepId: string, key: string, value: string | null) => number = checksum.snapshotChecksum

/**
 * Makes a {@link snapshotChecksum} of its own. The function closes over
 * nothing, so its source text (`makeSnapshotChecksum.toString()`) runs the
 * same code in a thread started from text, one that cannot import this
 * module (the SQLite store's commit thread folds its changelog there).
 *
 * @example
 * ```ts
 * import { StoreKit } from "@sluice/core"
 * const make = new Function(`return (${StoreKit.makeSnapshotChecksum.toString()})`)()
 * make()("count", "a", "1") === StoreKit.snapshotChecksum("count", "a", "1") // true
 * ```
 * @since 0.2.0
 * @category integrity
 */
export const makeSnapshotChecksum: () => (stepId: string, key: string, value: string | null) => number =
  checksum.makeSnapshotChecksum
