import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Dataflow, RunOptions } from "../Dataflow.js"
import { type DataflowError, StepFailed } from "../DataflowError.js"
import { RecoveryStore } from "../RecoveryStore.js"
import { ownerOfKey } from "./keyGroup.js"

/**
 * With `rescale: true`, moves a store written by another number of workers to
 * `workerCount`: keyed state by key group, input positions by partition index,
 * as a run on `workerCount` workers assigns them.
 *
 * @internal
 */
export const rescaleIfAsked = (
  dataflow: Dataflow,
  workerCount: number,
  options: RunOptions
): Effect.Effect<void, DataflowError, RecoveryStore> =>
  Effect.gen(function*() {
    if (options.rescale !== true) return
    const store = yield* RecoveryStore
    const stepIds: Array<string> = []
    const partitionIndex = new Map<string, Map<string, number>>()
    for (const step of dataflow.graph.steps) {
      const kind = step.kind
      if (kind._tag === "Keyed" || kind._tag === "Window") stepIds.push(step.stepId)
      if (kind._tag === "Input" && kind.input.resumable) {
        stepIds.push(step.stepId)
        const partitions = yield* kind.input.partitions.pipe(
          Effect.mapError((cause) => new StepFailed({ stepId: step.stepId, epoch: 0, cause }))
        )
        partitionIndex.set(step.stepId, new Map(partitions.map((p, i) => [p, i])))
      }
    }
    const from = yield* store.rescale({
      dataflowId: dataflow.id,
      workerCount,
      stepIds,
      route: (stepId, key) => {
        const partitions = partitionIndex.get(stepId)
        // a partition the input no longer lists keeps its position on worker 0
        return partitions === undefined ? ownerOfKey(key, workerCount) : (partitions.get(key) ?? 0) % workerCount
      }
    })
    if (Option.isSome(from)) {
      yield* Effect.logInfo(`dataflow ${dataflow.id} rescaled from ${from.value} to ${workerCount} workers`)
    }
  })
