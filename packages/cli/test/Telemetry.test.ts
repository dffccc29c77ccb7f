/**
 * `sluice run --metrics` and `--dashboard`: the servers of `NodeTelemetry`
 * behind the command's flags, scraped and fetched during a real run.
 */
import { describe, expect, it } from "@effect/vitest"
import * as net from "node:net"
import * as path from "node:path"
import {
  committedEpochs,
  expectOneLineError,
  fixtures,
  sluice,
  start,
  waitFor,
  workspace,
  writeInput
} from "./fixtures/sluiceProcess.js"

const wordcount = path.join(fixtures, "wordcount.ts")

/** A port nothing listens on now: the kernel's choice for a server closed at once. */
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
    server.on("error", reject)
  })

const counterOf = (text: string, name: string, labels: string) => {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(labels))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1))
}

describe("sluice run with telemetry", () => {
  it("serves /metrics and the dashboard during the run, the metrics counting the run's items", async () => {
    const dir = workspace()
    writeInput(path.join(dir, "input.txt"), 400_000)
    const [metricsPort, dashboardPort] = [await freePort(), await freePort()]
    const running = start(dir, [
      "run",
      wordcount,
      "--store",
      "sqlite:state",
      "--epoch",
      "1000",
      "--metrics",
      `127.0.0.1:${metricsPort}`
    ], { SLUICE_TEST_INPUT: "input.txt", SLUICE_DASHBOARD: String(dashboardPort) })
    try {
      await waitFor(() => committedEpochs(running.seen.stderr).length >= 2, "two committed epochs", 120_000)
      const first = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
      const linesIn = counterOf(first, "sluice_step_items_in_total", `step="lines"`)
      expect(linesIn, first).toBeGreaterThan(0)
      await waitFor(() => committedEpochs(running.seen.stderr).length >= 4, "two more epochs", 120_000)
      const second = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
      expect(counterOf(second, "sluice_step_items_in_total", `step="lines"`)).toBeGreaterThan(linesIn!)
      const page = await fetch(`http://127.0.0.1:${dashboardPort}/`)
      expect(page.status).toBe(200)
      expect(await page.text()).toMatch(/<html/i)
    } finally {
      running.child.kill("SIGINT")
    }
    expect((await running.finished).code).toBe(130)
  }, 300_000)

  it("an address that does not parse is a one-line error naming the flag", async () => {
    const result = await sluice(workspace(), ["run", wordcount, "--metrics", "localhost:http"])
    expectOneLineError(result, "--metrics", "localhost:http", "HOST:PORT")
    expect(result.code).toBe(2)
  }, 120_000)

  it("a metrics port in use is a one-line error naming the address, before any input is read", async () => {
    const dir = workspace()
    writeInput(path.join(dir, "input.txt"), 10)
    const taken = net.createServer()
    const port = await new Promise<number>((resolve) =>
      taken.listen(0, "127.0.0.1", () => resolve((taken.address() as net.AddressInfo).port))
    )
    try {
      const result = await sluice(dir, ["run", wordcount, "--store", "sqlite:state", "--metrics", String(port)], {
        SLUICE_TEST_INPUT: "input.txt"
      })
      expect(result.code).toBe(1)
      // the line that names the run, then the error alone: no stack
      const lines = result.stderr.trimEnd().split("\n")
      expect(lines, result.stderr).toHaveLength(2)
      expect(lines[1]).toContain(`127.0.0.1:${port}`)
      expect(lines[1]).toContain("choose another port")
      expect(result.stdout).toBe("")
    } finally {
      taken.close()
    }
  }, 120_000)
})
