/**
 * The rescale journal of a SQLite store: the plan in `rescale-plan` beside
 * the worker files. It is written to `rescale-plan.tmp`, synced, renamed over
 * `rescale-plan` and the directory synced: the rename is the rescale's one
 * atomic step, so after a kill the file holds the whole plan or is absent (a
 * leftover `.tmp` is never read, and the next write replaces it).
 */
import { StoreUnavailable } from "@sluice/core/DataflowError"
import type { RescaleJournal } from "@sluice/core/RecoveryStore"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as path from "node:path"

/** @internal */
export const planFile = (directory: string): string => path.join(directory, "rescale-plan")

const isMissing = (error: unknown): boolean => (error as NodeJS.ErrnoException).code === "ENOENT"

/** A rename or unlink is durable once the directory entry is synced. */
const syncDirectory = (directory: string): void => {
  const fd = fs.openSync(directory, "r")
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

const writeSynced = (file: string, bytes: Uint8Array): void => {
  const fd = fs.openSync(file, "w")
  try {
    for (let at = 0; at < bytes.byteLength;) at += fs.writeSync(fd, bytes, at)
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/** @internal */
export const make = (directory: string): RescaleJournal => {
  const file = planFile(directory)
  const staging = `${file}.tmp`
  const failed = (doing: string) => (cause: unknown) =>
    new StoreUnavailable({
      store: file,
      reason: `${doing} failed: ${cause instanceof Error ? cause.message : String(cause)}; ` +
        "check the disk and the store directory's permissions, then run again with `rescale: true`",
      cause: undefined
    })
  return {
    read: Effect.try({
      try: () => {
        try {
          return Option.some(new Uint8Array(fs.readFileSync(file)))
        } catch (error) {
          if (isMissing(error)) return Option.none()
          throw error
        }
      },
      catch: failed("reading the rescale plan")
    }),
    write: (plan) =>
      Effect.try({
        try: () => {
          writeSynced(staging, plan)
          fs.renameSync(staging, file)
          syncDirectory(directory)
        },
        catch: failed("writing the rescale plan")
      }),
    clear: Effect.try({
      try: () => {
        fs.rmSync(file, { force: true })
        fs.rmSync(staging, { force: true })
        syncDirectory(directory)
      },
      catch: failed("removing the finished rescale plan")
    })
  }
}
