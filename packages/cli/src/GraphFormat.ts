/**
 * A dataflow's graph (`Dataflow.describe`) as text: Mermaid, Graphviz DOT or
 * JSON, for `sluice graph`. Steps that keep recoverable state are drawn as
 * cylinders, the shape of a store.
 *
 * @since 0.1.0
 */
import type { Dataflow } from "@sluice/core"

/**
 * @since 0.1.0
 * @category models
 */
export type GraphFormat = "mermaid" | "dot" | "json"

/**
 * @since 0.1.0
 * @category constants
 */
export const formats: ReadonlyArray<GraphFormat> = ["mermaid", "dot", "json"]

// Mermaid node ids must be plain words; step ids may hold anything, so nodes are numbered and labelled.
const mermaidLabel = (text: string): string => text.replace(/"/g, "#quot;")

const dotString = (text: string): string => JSON.stringify(text)

/**
 * A Mermaid flowchart: each step a node labelled with its id and kind,
 * stateful steps as cylinders (class `stateful`), branch edges labelled
 * `true`/`false`.
 *
 * @example
 * ```ts
 * import { GraphFormat } from "@sluice/cli"
 * GraphFormat.mermaid({
 *   id: "x",
 *   steps: [{ id: "in", kind: "input", stateful: true }, { id: "out", kind: "output", stateful: false }],
 *   edges: [{ from: "in", to: "out" }]
 * })
 * ```
 * @since 0.1.0
 * @category rendering
 */
export const mermaid = (graph: Dataflow.DataflowGraph): string => {
  const node = new Map(graph.steps.map((step, index) => [step.id, `s${index}`]))
  const lines = ["flowchart LR", `  %% dataflow ${graph.id}`]
  for (const step of graph.steps) {
    const label = `"${mermaidLabel(step.id)}<br/>${step.kind}"`
    lines.push(step.stateful ? `  ${node.get(step.id)}[(${label})]:::stateful` : `  ${node.get(step.id)}[${label}]`)
  }
  for (const edge of graph.edges) {
    const arrow = edge.port === undefined ? "-->" : `-- ${edge.port} -->`
    lines.push(`  ${node.get(edge.from)} ${arrow} ${node.get(edge.to)}`)
  }
  lines.push("  classDef stateful fill:#fde9c8,stroke:#b36b00")
  return lines.join("\n")
}

/**
 * A Graphviz digraph: stateful steps as filled cylinders, the others as boxes.
 *
 * @example
 * ```ts
 * import { GraphFormat } from "@sluice/cli"
 * GraphFormat.dot({ id: "x", steps: [{ id: "in", kind: "input", stateful: false }], edges: [] })
 * ```
 * @since 0.1.0
 * @category rendering
 */
export const dot = (graph: Dataflow.DataflowGraph): string => {
  const lines = [`digraph ${dotString(graph.id)} {`, "  rankdir=LR;", "  node [shape=box, fontname=Helvetica];"]
  for (const step of graph.steps) {
    const attributes = [`label=${dotString(`${step.id}\n${step.kind}`)}`]
    if (step.stateful) attributes.push("shape=cylinder", "style=filled", "fillcolor=\"#fde9c8\"")
    lines.push(`  ${dotString(step.id)} [${attributes.join(", ")}];`)
  }
  for (const edge of graph.edges) {
    const label = edge.port === undefined ? "" : ` [label=${dotString(edge.port)}]`
    lines.push(`  ${dotString(edge.from)} -> ${dotString(edge.to)}${label};`)
  }
  lines.push("}")
  return lines.join("\n")
}

/**
 * The graph in a format.
 *
 * @example
 * ```ts
 * import { GraphFormat } from "@sluice/cli"
 * GraphFormat.render({ id: "x", steps: [], edges: [] }, "json") // "{\n  \"id\": \"x\", …"
 * ```
 * @since 0.1.0
 * @category rendering
 */
export const render = (graph: Dataflow.DataflowGraph, format: GraphFormat): string => {
  switch (format) {
    case "mermaid":
      return mermaid(graph)
    case "dot":
      return dot(graph)
    case "json":
      return JSON.stringify(graph, null, 2)
  }
}
