import type { Dataflow, DataflowGraph, StepDescription } from "../Dataflow.js"
import type { StepKind } from "./graph.js"

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
