/**
 * What `sluice run` writes besides the dataflow's own output, all on stderr
 * so that stdout stays the dataflow's: on a terminal one live progress line
 * (epoch, items/s, age of the last commit), redrawn in place; otherwise plain
 * log lines, one per committed epoch.
 */
import type { Dataflow } from "@sluice/core"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"

/** @internal */
export interface Reporter {
  readonly onEpochCommitted: (progress: Dataflow.EpochProgress) => Effect.Effect<void>
  /** The last epoch committed in this run, for the line printed on SIGINT. */
  readonly lastEpoch: () => number | undefined
  /** Writes a line above the progress line. */
  readonly line: (text: string) => Effect.Effect<void>
  /** Effect's logs as lines on stderr, above the progress line: info and up. */
  readonly logger: Logger.Logger<unknown, void>
}

const number = (n: number): string => Math.round(n).toLocaleString("en")

const age = (millis: number): string => millis < 10_000 ? `${(millis / 1000).toFixed(1)}s` : `${number(millis / 1000)}s`

/** @internal */
export const make = (options: {
  readonly interactive: boolean
  readonly write: (text: string) => void
}): Effect.Effect<Reporter, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { interactive, write } = options
    const startedAt = yield* Clock.currentTimeMillis
    let last: { readonly progress: Dataflow.EpochProgress; readonly at: number } | undefined
    let shown = false

    const status = (now: number): string => {
      if (last === undefined) return `waiting for the first epoch · ${age(now - startedAt)} running`
      const seconds = Math.max((now - startedAt) / 1000, 0.001)
      return `epoch ${last.progress.epoch} · ${number(last.progress.totalItems)} items · ` +
        `${number(last.progress.totalItems / seconds)} items/s · last commit ${age(now - last.at)} ago`
    }
    const redraw = Effect.map(Clock.currentTimeMillis, (now) => {
      write(`\r\x1b[2K${status(now)}`)
      shown = true
    })
    const clear = () => {
      if (shown) write("\r\x1b[2K")
      shown = false
    }
    const line = (text: string) =>
      Effect.suspend(() => {
        clear()
        write(`${text}\n`)
        return interactive ? redraw : Effect.void
      })

    if (interactive) {
      yield* Effect.forkScoped(Effect.repeat(redraw, Schedule.spaced("1 second")))
      yield* Effect.addFinalizer(() => Effect.sync(clear))
    }

    return {
      lastEpoch: () => last?.progress.epoch,
      onEpochCommitted: (progress) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          last = { progress, at: now }
          if (interactive) return redraw
          const seconds = Math.max((now - startedAt) / 1000, 0.001)
          return line(
            `epoch ${progress.epoch} committed · ${number(progress.items)} ${
              progress.items === 1 ? "item" : "items"
            } (${number(progress.totalItems)} in this run) · ${number(progress.totalItems / seconds)} items/s`
          )
        }),
      line,
      logger: Logger.make(({ logLevel, message }) => {
        if (LogLevel.lessThan(logLevel, LogLevel.Info)) return
        const text = (Array.isArray(message) ? message : [message]).map(String).join(" ")
        clear()
        write(`${text}\n`)
      })
    }
  })
