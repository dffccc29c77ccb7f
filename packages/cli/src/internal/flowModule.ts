/**
 * `MODULE[:EXPORT]` on the command line: which file, which export. The file
 * is resolved against the current directory; without an export the module's
 * `default` is taken, then its single exported Dataflow.
 */
import { Dataflow, WorkerRuntime } from "@sluice/core"
import type { DuplicateStepId, InvalidDataflow } from "@sluice/core/DataflowError"
import { FlowNotImportable } from "@sluice/core/DataflowError"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"

/** @internal */
export interface LoadedFlow {
  /** What worker threads import. */
  readonly module: Dataflow.DataflowModule
  readonly dataflow: Dataflow.Dataflow
}

/**
 * Splits `MODULE:EXPORT` at its last colon, when what follows is a name (so a
 * Windows drive letter or a path with colons stays whole).
 */
const splitReference = (reference: string): { readonly file: string; readonly exportName: string | undefined } => {
  const colon = reference.lastIndexOf(":")
  const name = reference.slice(colon + 1)
  return colon > 0 && /^[A-Za-z_$][\w$]*$/.test(name)
    ? { file: reference.slice(0, colon), exportName: name }
    : { file: reference, exportName: undefined }
}

const isDataflow = (value: unknown): boolean => typeof value === "object" && value !== null && Dataflow.TypeId in value

/** The export to take when none is named: `default`, else the one exported Dataflow. */
const defaultExport = (url: string, file: string): Effect.Effect<string, FlowNotImportable> =>
  Effect.gen(function*() {
    const notImportable = (reason: string) => new FlowNotImportable({ module: file, exportName: "default", reason })
    const module = yield* Effect.tryPromise({
      try: () => import(url) as Promise<Record<string, unknown>>,
      catch: (cause) => notImportable(`import failed: ${cause instanceof Error ? cause.message : String(cause)}`)
    })
    if ("default" in module) return "default"
    const dataflows = Object.keys(module).filter((name) => isDataflow(module[name]))
    if (dataflows.length === 1) return dataflows[0]
    return yield* notImportable(
      dataflows.length === 0
        ? "the module has no default export and exports no Dataflow; name the export as MODULE:EXPORT"
        : `the module has no default export and exports several dataflows (${dataflows.join(", ")}); ` +
          "name one as MODULE:EXPORT"
    )
  })

/** @internal */
export const load = (
  reference: string
): Effect.Effect<LoadedFlow, FlowNotImportable | DuplicateStepId | InvalidDataflow> =>
  Effect.gen(function*() {
    const { exportName, file } = splitReference(reference)
    const absolute = path.resolve(file)
    if (!fs.existsSync(absolute)) {
      return yield* new FlowNotImportable({
        module: absolute,
        exportName: exportName ?? "default",
        reason: "there is no such file"
      })
    }
    const url = pathToFileURL(absolute).href
    const name = exportName ?? (yield* defaultExport(url, absolute))
    const module = Dataflow.fromModule(url, name)
    const dataflow = yield* WorkerRuntime.loadDataflow(module)
    return { module, dataflow }
  })
