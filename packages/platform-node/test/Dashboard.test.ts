import { assert, describe, it } from "@effect/vitest"
import { Dataflow, Epoch, Input, RecoveryStore } from "@sluice/core"
import { Effect, Fiber, Layer } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { chromium } from "playwright-core"
import { NodeTelemetry } from "../src/index.js"
import { countingFlow, freePort, slowWords } from "./telemetryFixtures.js"

/** Debian's Chromium, installed the first time as the Kafka tests fetch their broker: never a browser download. */
const chromiumPath = "/usr/bin/chromium"
const installChromium = () => {
  if (fs.existsSync(chromiumPath)) return
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" }
  execFileSync("apt-get", ["update", "-q"], { stdio: "inherit", env })
  execFileSync("apt-get", ["install", "-y", "-q", "chromium"], { stdio: "inherit", env })
}

/** Kept after the run (gitignored): what the page looked like. */
const artifacts = fileURLToPath(new URL("../.artifacts/", import.meta.url))

/** A page-side condition, as text: this file is type-checked for Node, not for the DOM. */
const epochAtLeast = (epoch: number) => `Number(document.getElementById("epoch").textContent) >= ${epoch}`

const launchBrowser = Effect.acquireRelease(
  Effect.promise(() =>
    // a fresh profile per run: playwright takes it as the persistent context's directory
    chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), "sluice-chromium-")), {
      executablePath: chromiumPath,
      viewport: { width: 1200, height: 900 },
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync"
      ]
    })
  ),
  (context) => Effect.promise(() => context.close())
)

describe("NodeTelemetry.layerDashboard in a browser", () => {
  it.live(
    "shows every step of the graph and an epoch counter that advances during a run",
    () =>
      Effect.gen(function*() {
        yield* Effect.sync(installChromium)
        const port = yield* freePort
        const written: Array<readonly [string, number]> = []
        const flow = countingFlow("dashboard-demo", Input.fromStream(slowWords(1500, "2 millis")), written)
        const dashboard = yield* Layer.build(NodeTelemetry.layerDashboard({ port, dataflow: flow }))
        const run = yield* Dataflow.run(flow, { epoch: Epoch.everyItems(60) }).pipe(
          Effect.provide(RecoveryStore.layerMemory()),
          Effect.provide(dashboard),
          Effect.fork
        )
        const browser = yield* launchBrowser
        const page = yield* Effect.promise(() => browser.newPage())
        yield* Effect.promise(() => page.goto(`http://127.0.0.1:${port}/`))

        const stepIds = Dataflow.describe(flow).steps.map((step) => step.id)
        yield* Effect.promise(() => page.waitForSelector("#graph .node"))
        const shown = yield* Effect.promise(() =>
          page.$$eval("#graph .node .step-id", (nodes) => nodes.map((node) => node.textContent))
        )
        assert.deepStrictEqual(shown, stepIds)

        const epochShown = () =>
          Effect.promise(() => page.$eval("#epoch", (node) => Number(node.textContent)).catch(() => Number.NaN))
        yield* Effect.promise(() => page.waitForFunction(epochAtLeast(2)))
        const first = yield* epochShown()
        yield* Effect.promise(() => page.waitForFunction(epochAtLeast(first + 1)))
        const later = yield* epochShown()
        assert.isTrue(later > first, `the epoch counter went from ${first} to ${later}`)
        fs.mkdirSync(artifacts, { recursive: true })
        yield* Effect.promise(() => page.screenshot({ path: path.join(artifacts, "dashboard.png"), fullPage: true }))

        const summary = yield* Fiber.join(run)
        yield* Effect.promise(() => page.waitForSelector(".status.finished"))
        const finalEpoch = yield* epochShown()
        assert.strictEqual(finalEpoch, summary.lastEpoch)
      }).pipe(Effect.scoped),
    180_000
  )
})
