import * as Effect from "effect/Effect"
import type { Dataflow } from "../Dataflow.js"
import { FlowNotImportable } from "../DataflowError.js"

const isDataflow = (u: unknown): u is Dataflow =>
  typeof u === "object" && u !== null && Symbol.for("@sluice/core/Dataflow") in u

/**
 * Imports a module and takes the named export: a dataflow, or a function of no
 * arguments that returns one.
 *
 * @internal
 */
export const loadDataflow = (moduleUrl: string, exportName: string): Effect.Effect<Dataflow, FlowNotImportable> =>
  Effect.gen(function*() {
    const module = yield* Effect.tryPromise({
      try: () => import(moduleUrl) as Promise<Record<string, unknown>>,
      catch: (cause) =>
        new FlowNotImportable({
          module: moduleUrl,
          exportName,
          reason: `import failed: ${cause instanceof Error ? cause.message : String(cause)}`
        })
    })
    if (!(exportName in module)) {
      return yield* new FlowNotImportable({ module: moduleUrl, exportName, reason: "the module has no such export" })
    }
    const value = module[exportName]
    const dataflow = typeof value === "function" ?
      yield* Effect.try({
        try: () => (value as () => unknown)(),
        catch: (cause) =>
          new FlowNotImportable({
            module: moduleUrl,
            exportName,
            reason: `building the dataflow threw: ${String(cause)}`
          })
      }) :
      value
    if (!isDataflow(dataflow)) {
      return yield* new FlowNotImportable({ module: moduleUrl, exportName, reason: "the export is not a Dataflow" })
    }
    return dataflow
  })
