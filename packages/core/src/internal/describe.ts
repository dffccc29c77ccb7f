import * as Either from "effect/Either"
import type { Dataflow, DataflowGraph, StepDescription } from "../Dataflow.js"
import type { StepKind } from "./graph.js"
import * as StateCodec from "./stateCodec.js"
import { keyWindowsSchema } from "./windowOperator.js"

/**
 * What a step does, in the words of the operator family that adds it. Keyed
 * steps name their logic, since `statefulMap`, `fold`/`reduce` and `stateful`
 * (with everything built on it: `collect`, `countFinal`, `join`, TTLs) keep
 * different state.
 */
const kindOf = (kind: StepKind): StepDescription["kind"] => {
  switch (kind._tag) {
    case "Input":
      return "input"
    case "Transform":
      return "transform"
    case "MapEffect":
      return "mapEffect"
    case "Keyed":
      return kind.logic._tag === "StatefulMap" ? "statefulMap" : kind.logic._tag === "Fold" ? "fold" : "stateful"
    case "Window":
      return "window"
    case "Merge":
      return "merge"
    case "Branch":
      return "branch"
    case "Redistribute":
      return "redistribute"
    case "Output":
      return "output"
  }
}

/** @internal */
export const describe = (dataflow: Dataflow): DataflowGraph => {
  const steps = dataflow.graph.steps
  return {
    id: dataflow.id,
    steps: steps.map((step) => ({
      id: step.stepId,
      kind: kindOf(step.kind),
      stateful: step.kind._tag === "Keyed" || step.kind._tag === "Window" ||
        (step.kind._tag === "Input" && step.kind.input.resumable)
    })),
    edges: steps.flatMap((step) =>
      step.upstream.map((edge) => ({
        from: steps[edge.node].stepId,
        to: step.stepId,
        // a branch's second port carries the items its predicate refused
        ...(steps[edge.node].kind._tag === "Branch" ? { port: edge.port === 0 ? "true" : "false" } : {})
      }))
    )
  }
}

/**
 * The state a snapshot of `stepId` holds, decoded as the step decodes it on
 * resume: keyed and window steps with their state schema (a step that emits at
 * end keeps `[state, pending]`), input positions as their JSON.
 *
 * @internal
 */
export const decodeSnapshot = (
  dataflow: Dataflow,
  stepId: string,
  value: string
): Either.Either<unknown, string> => {
  const step = dataflow.graph.steps.find((candidate) => candidate.stepId === stepId)
  if (step === undefined) return Either.left(`dataflow ${dataflow.id} has no step ${stepId}`)
  return Either.flatMap(StateCodec.decodeJson(value), (json): Either.Either<unknown, string> => {
    switch (step.kind._tag) {
      case "Keyed": {
        const codec = StateCodec.make(step.kind.state)
        const logic = step.kind.logic
        if (logic._tag !== "Fold" || logic.emit !== "end") return codec.fromEncoded(json)
        const pair = StateCodec.readPendingPair(json)
        if (pair === undefined) return Either.left(StateCodec.notAPendingPair)
        const [encoded, pending] = pair
        return Either.map(codec.fromEncoded(encoded), (state) => ({ state, pending }))
      }
      case "Window":
        return StateCodec.make(keyWindowsSchema(step.kind.state)).fromEncoded(json)
      default:
        return Either.right(json)
    }
  })
}
