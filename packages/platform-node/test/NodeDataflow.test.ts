import { describe, expect, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const fixture = fileURLToPath(new URL("./fixtures/main.ts", import.meta.url))
const packageDir = path.dirname(path.dirname(fixture))

interface Finished {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const output = (child: ChildProcess) => {
  const seen = { stdout: "", stderr: "" }
  child.stdout!.on("data", (chunk: Buffer) => (seen.stdout += chunk.toString("utf8")))
  child.stderr!.on("data", (chunk: Buffer) => (seen.stderr += chunk.toString("utf8")))
  return seen
}

const finished = (child: ChildProcess, seen: { stdout: string; stderr: string }) =>
  new Promise<Finished>((resolve) => child.once("close", (code) => resolve({ code, ...seen })))

const start = (...args: ReadonlyArray<string>) =>
  spawn(process.execPath, ["--import", "tsx", fixture, ...args], { cwd: packageDir, stdio: ["ignore", "pipe", "pipe"] })

const run = (...args: ReadonlyArray<string>): Promise<Finished> => {
  const child = start(...args)
  return finished(child, output(child))
}

const waitFor = async (condition: () => boolean, what: string, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

const committedEpochs = (stdout: string) => [...stdout.matchAll(/^committed (\d+)$/gm)].map((m) => Number(m[1]))

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  // An exited process whose new parent has not reaped it yet is a zombie: gone for this test.
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"))
  } catch {
    return false
  }
}

describe("NodeDataflow.runMain", () => {
  it("prints an expected error as its message alone and exits 1", async () => {
    const missing = path.join(os.tmpdir(), `sluice-missing-${process.pid}.txt`)
    const { code, stderr } = await run("file", missing)
    expect(code).toBe(1)
    const lines = stderr.trimEnd().split("\n")
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain(missing)
    expect(lines[0]).toContain("ENOENT")
  })

  it("exits 0 and prints nothing on stderr when the program succeeds", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-main-"))
    const file = path.join(dir, "input.txt")
    fs.writeFileSync(file, Array.from({ length: 50 }, (_, i) => `line ${i}`).join("\n"))
    try {
      const { code, stderr, stdout } = await run("file", file)
      expect(stderr).toBe("")
      expect(code).toBe(0)
      expect(committedEpochs(stdout).length).toBeGreaterThan(0)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("prints a defect with its stack", async () => {
    const { code, stderr } = await run("defect")
    expect(code).toBe(1)
    expect(stderr).toContain("a bug in the program")
    expect(stderr).toMatch(/\n\s+at /)
  })

  for (const [signal, exitCode] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    it(`reports ${signal} with the last committed epoch and exits ${exitCode}`, async () => {
      const child = start("endless")
      const seen = output(child)
      const done = finished(child, seen)
      await waitFor(() => committedEpochs(seen.stdout).length >= 2, "two committed epochs")
      child.kill(signal)
      const { code, stderr, stdout } = await done
      expect(code).toBe(exitCode)
      const last = Math.max(...committedEpochs(stdout))
      expect(stderr).toBe(`interrupted after epoch ${last}; run again to resume\n`)
    })
  }

  it("stops, saying so, when the process that started it is killed", async () => {
    // sh stands for pnpm: it starts the program and is killed with SIGKILL, which nothing can catch.
    const shell = spawn("sh", ["-c", `"${process.execPath}" --import tsx "${fixture}" orphan & wait`], {
      cwd: packageDir,
      stdio: ["ignore", "pipe", "pipe"]
    })
    const seen = output(shell)
    const closed = finished(shell, seen) // the pipes close when the program, their last writer, exits
    await waitFor(() => committedEpochs(seen.stdout).length >= 1, "a committed epoch")
    const pid = Number(/^pid (\d+)$/m.exec(seen.stdout)![1])
    shell.kill("SIGKILL")
    await waitFor(() => !isAlive(pid), `program ${pid} to stop after its parent died`, 10_000)
    const { stderr } = await closed
    expect(stderr).toContain("is gone; stopping as a crash would")
  })
})
