/**
 * `sluice run` and `sluice store inspect` on the Kafka store, end to end on
 * the test broker (tools/kafka): a run, its store read back, a rerun.
 */
import { describe, expect, it } from "@effect/vitest"
import * as path from "node:path"
import { inject } from "vitest"
import { committedEpochs, fixtures, lastCounts, sluice, workspace, writeInput } from "./fixtures/sluiceProcess.js"

declare module "vitest" {
  export interface ProvidedContext {
    /** The brokers the global setup started or found (tools/kafka/vitest-setup.mjs). */
    readonly kafkaBrokers: ReadonlyArray<string>
  }
}

describe("sluice on the Kafka store", () => {
  it("runs a module on kafka:BROKERS/PREFIX, inspects the topics, and a rerun finds nothing left to do", async () => {
    const dir = workspace()
    const expected = writeInput(path.join(dir, "input.txt"), 2_500)
    const store = `kafka:${inject("kafkaBrokers").join(",")}/cli-${process.pid}-${Date.now().toString(36)}`
    const env = { SLUICE_TEST_INPUT: "input.txt", SLUICE_STORE: store }
    const wordcount = path.join(fixtures, "wordcount.ts")

    const first = await sluice(dir, ["run", wordcount, "--epoch", "1000"], env)
    expect(first.code, first.stderr).toBe(0)
    expect(lastCounts(first.stdout)).toEqual(expected)
    const lastEpoch = Math.max(...committedEpochs(first.stderr))
    // 2,500 lines at 1,000 an epoch: the third epoch reads the rest and the end of the input
    expect(lastEpoch).toBe(3)

    const inspected = await sluice(dir, ["store", "inspect", store, "--json"])
    expect(inspected.code, inspected.stderr).toBe(0)
    const report = JSON.parse(inspected.stdout)
    expect(report).toMatchObject({
      dataflowId: "wordcount",
      workerCount: 1,
      progress: [{ workerIndex: 0, epoch: lastEpoch }],
      resumeEpoch: lastEpoch + 1,
      outputs: []
    })
    expect(report.steps.find((step: { stepId: string }) => step.stepId === "count").keys).toBe(expected.size)

    const dumped = await sluice(dir, ["store", "dump", store, "--step", "count", "--key", "v7"])
    expect(dumped.code, dumped.stderr).toBe(0)
    expect(JSON.parse(dumped.stdout)).toEqual({ key: "v7", value: expected.get("v7") })

    const rerun = await sluice(dir, ["run", wordcount, "--epoch", "1000"], env)
    expect(rerun.code, rerun.stderr).toBe(0)
    expect(rerun.stderr).toContain(`resuming dataflow wordcount at epoch ${lastEpoch + 1}`)
    expect(rerun.stdout).toBe("")
  }, 300_000)
})
