/**
 * The plan of a rescale: everything the new worker layout holds, written in
 * one atomic step before any worker of the old layout is touched. Once it is
 * stored, the old layout may be reset and the new one written in any order,
 * killed anywhere and redone from the plan; before it is stored, the old
 * layout is untouched.
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type { StoreMeta } from "../../RecoveryStore.js"
import { decodeWith, StoreMetaSchema } from "./storeCoding.js"

/** One snapshot a new worker starts from. Public through `StoreKit.ts`. */
export interface PlannedSnapshot {
  readonly stepId: string
  readonly key: string
  readonly value: string
}

/** Public through `StoreKit.ts`. */
export interface RescalePlan {
  /** The meta of the old layout; the new one differs only in `workerCount`. */
  readonly meta: StoreMeta
  /** The old worker count. */
  readonly from: number
  /** The new worker count. */
  readonly to: number
  /** Where both layouts resume: the new workers complete `resumeEpoch - 1` with their share. */
  readonly resumeEpoch: number
  /** Per new worker, the snapshots of the resume point routed to it. */
  readonly shares: ReadonlyArray<ReadonlyArray<PlannedSnapshot>>
}

const PlanSchema = Schema.Struct({
  meta: StoreMetaSchema,
  from: Schema.Int.pipe(Schema.positive()),
  to: Schema.Int.pipe(Schema.positive()),
  resumeEpoch: Schema.Int.pipe(Schema.positive()),
  // values stay base64 of their UTF-8, as in plans a stopped rescale of an earlier release left
  shares: Schema.Array(
    Schema.Array(Schema.Struct({ stepId: Schema.String, key: Schema.String, value: Schema.StringFromBase64 }))
  )
})

const PlanJson = Schema.parseJson(PlanSchema)
const utf8 = new TextEncoder()

/**
 * Routes the snapshots read from the old layout to the new workers.
 * Public through `StoreKit.ts`.
 */
export const planRescale = (options: {
  readonly meta: StoreMeta
  readonly to: number
  readonly resumeEpoch: number
  readonly snapshots: Iterable<PlannedSnapshot>
  readonly route: (stepId: string, key: string) => number
}): RescalePlan => {
  const shares: Array<Array<PlannedSnapshot>> = Array.from({ length: options.to }, () => [])
  for (const snapshot of options.snapshots) shares[options.route(snapshot.stepId, snapshot.key)].push(snapshot)
  return {
    meta: options.meta,
    from: options.meta.workerCount,
    to: options.to,
    resumeEpoch: options.resumeEpoch,
    shares
  }
}

/** Public through `StoreKit.ts`. */
export const encodeRescalePlan = (plan: RescalePlan): Uint8Array => utf8.encode(Schema.encodeSync(PlanJson)(plan))

/** Public through `StoreKit.ts`. */
export const decodeRescalePlan = (bytes: Uint8Array): Either.Either<RescalePlan, string> =>
  Either.flatMap(
    decodeWith(Schema.decodeEither(PlanJson))(bytes),
    (plan) =>
      plan.shares.length === plan.to && plan.meta.workerCount === plan.from
        ? Either.right(plan)
        : Either.left(`the plan has ${plan.shares.length} shares for ${plan.to} workers`)
  )
