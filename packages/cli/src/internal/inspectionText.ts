/**
 * `sluice store inspect` for a person: one fact a line, numbers with
 * thousands separators, steps in a table.
 */
import type { RecoveryStore } from "@sluice/core"

const number = (n: number): string => n.toLocaleString("en")

const plural = (n: number, one: string, many: string): string => `${number(n)} ${n === 1 ? one : many}`

/** @internal */
export const render = (inspection: RecoveryStore.StoreInspection, supportedVersion: number): string => {
  const { meta } = inspection
  const lines = [
    `store          ${inspection.store}`,
    `dataflow       ${meta.dataflowId}`,
    `store version  ${meta.schemaVersion}${
      meta.schemaVersion > supportedVersion ? ` (this sluice reads up to ${supportedVersion})` : ""
    }`,
    `created at     ${new Date(meta.createdAt).toISOString()}`,
    `workers        ${meta.workerCount}`
  ]
  for (const { epoch, workerIndex } of inspection.progress) {
    lines.push(`  worker ${workerIndex}     ${epoch === 0 ? "no epoch completed" : `last completed epoch ${epoch}`}`)
  }
  lines.push(`resume epoch   ${inspection.resumeEpoch}`)
  const at = inspection.resumeEpoch - 1
  if (inspection.steps.length === 0) {
    lines.push(`steps          no live keys${at === 0 ? "" : ` at epoch ${at}`}`)
  } else {
    lines.push(`steps          live keys at epoch ${at}`)
    const width = Math.max(...inspection.steps.map((step) => step.stepId.length))
    for (const step of inspection.steps) {
      lines.push(
        `  ${step.stepId.padEnd(width)}  ${plural(step.keys, "key", "keys").padStart(14)}  ${
          plural(step.bytes, "byte", "bytes").padStart(16)
        }`
      )
    }
  }
  if (inspection.outputs.length === 0) {
    lines.push("outputs        no transactional output records")
  } else {
    lines.push("outputs        transactional output records held")
    for (const output of inspection.outputs) {
      lines.push(
        `  ${output.destination}  ${plural(output.records, "record", "records")}, ${
          number(output.pending)
        } pending (of epochs from ${inspection.resumeEpoch}, redone on resume)`
      )
    }
  }
  return lines.join("\n")
}
