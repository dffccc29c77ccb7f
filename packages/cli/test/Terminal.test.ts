/**
 * What `sluice run` writes on stderr: on a terminal one progress line redrawn
 * in place (and kept below other lines), otherwise a plain line per epoch.
 * The reporter runs on the TestClock, so ages and rates are exact.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import * as Terminal from "../src/internal/terminal.js"

const progress = (epoch: number, items: number, totalItems: number) => ({
  dataflowId: "wordcount",
  epoch,
  items,
  totalItems,
  snapshots: 0
})

const CLEAR = "\r\x1b[2K"

describe("sluice run's progress on stderr", () => {
  it.scoped("on a terminal: one line redrawn in place, with epoch, items, rate and the last commit's age", () =>
    Effect.gen(function*() {
      const written: Array<string> = []
      const reporter = yield* Terminal.make({ interactive: true, write: (text) => written.push(text) })
      yield* TestClock.adjust("2 seconds")
      yield* reporter.onEpochCommitted(progress(3, 1_000, 3_000))
      assert.strictEqual(written.at(-1), `${CLEAR}epoch 3 · 3,000 items · 1,500 items/s · last commit 0.0s ago`)
      assert.isFalse(written.join("").includes("\n"), "a progress line ends no line")
      // the line is redrawn every second while nothing commits: the age grows
      yield* TestClock.adjust("1 second")
      assert.strictEqual(written.at(-1), `${CLEAR}epoch 3 · 3,000 items · 1,000 items/s · last commit 1.0s ago`)
      // another line goes above it: the progress line is cleared, the line written, the progress drawn again
      const before = written.length
      yield* reporter.line("resuming dataflow wordcount at epoch 3")
      assert.deepStrictEqual(written.slice(before), [
        CLEAR,
        "resuming dataflow wordcount at epoch 3\n",
        `${CLEAR}epoch 3 · 3,000 items · 1,000 items/s · last commit 1.0s ago`
      ])
      assert.strictEqual(reporter.lastEpoch(), 3)
    }))

  it.scoped("elsewhere (a pipe, a log file): one plain line per committed epoch, nothing redrawn", () =>
    Effect.gen(function*() {
      const written: Array<string> = []
      const reporter = yield* Terminal.make({ interactive: false, write: (text) => written.push(text) })
      yield* TestClock.adjust("4 seconds")
      yield* reporter.onEpochCommitted(progress(1, 1, 1))
      yield* reporter.onEpochCommitted(progress(2, 2_000, 2_001))
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(written, [
        "epoch 1 committed · 1 item (1 in this run) · 0 items/s\n",
        "epoch 2 committed · 2,000 items (2,001 in this run) · 500 items/s\n"
      ])
    }))
})
