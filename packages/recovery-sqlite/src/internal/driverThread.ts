/**
 * What the store's two threads of its own share: the driver they load
 * (better-sqlite3, resolved from this package, so a thread started with
 * `eval` finds the same build) and the error one reports, its driver's
 * message and SQLite code, which `refail` reads as it reads a driver error
 * of this thread.
 *
 * @internal
 */
import * as Data from "effect/Data"
import { createRequire } from "node:module"

/** The path of better-sqlite3's entry, for a thread's `require`. @internal */
export const driver = createRequire(import.meta.url).resolve("better-sqlite3")

/**
 * A store thread failed: its driver's error (message and SQLite code), or
 * the thread's end.
 *
 * @internal
 */
export class ThreadFailed extends Data.TaggedError("ThreadFailed")<{
  readonly message: string
  readonly code: string | undefined
  /** The thread found the file damaged: `message` says where. */
  readonly corrupt?: boolean | undefined
}> {}

/**
 * The message and SQLite code of an error thrown in a store thread, as it
 * posts them back for a `ThreadFailed`. It closes over nothing: both threads
 * are given it as source (`threadSource`).
 *
 * @internal
 */
export const describeError = (error: unknown): { readonly message: string; readonly code: string | undefined } => {
  const { code, message } = error as { readonly message?: unknown; readonly code?: unknown }
  return { message: String(message), code: typeof code === "string" ? code : undefined }
}

/**
 * The source a thread is started with (`eval`): `body`'s own text, called
 * with the thread's `require` and `code`, functions passed as their own
 * text. `body` and each of `code` close over nothing. tsx, which runs this
 * repository's sources in child processes, names inner functions with a
 * `__name` helper of its module: the thread gets one that does nothing.
 *
 * @internal
 */
export const threadSource = (
  body: (load: NodeJS.Require, code: never) => void,
  code: Readonly<Record<string, (...args: never) => unknown>> = {}
): string => {
  const functions = Object.entries(code).map(([name, f]) => `${JSON.stringify(name)}: (${f.toString()})`)
  return `const __name = (target) => target;\n(${body.toString()})(require, {${functions.join(", ")}})`
}
