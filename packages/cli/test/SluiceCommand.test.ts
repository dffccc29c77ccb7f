/**
 * The `sluice` command end to end: each test runs the command from its
 * sources (under tsx) in a child process, in a directory of its own.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import {
  committedEpochs,
  expectOneLineError,
  fixtures,
  lastCounts,
  sluice,
  start,
  waitFor,
  workspace,
  writeInput
} from "./fixtures/sluiceProcess.js"

const wordcount = path.join(fixtures, "wordcount.ts")

describe("sluice run", () => {
  it("runs a module to the end on a SQLite store and prints its output on stdout, progress on stderr", async () => {
    const dir = workspace()
    const expected = writeInput(path.join(dir, "input.txt"), 3_000)
    const result = await sluice(dir, ["run", wordcount, "--store", "sqlite:state", "--epoch", "1000"], {
      SLUICE_TEST_INPUT: "input.txt"
    })
    expect(result.code, result.stderr).toBe(0)
    expect(lastCounts(result.stdout)).toEqual(expected)
    // stdout is the dataflow's output alone: one `word: n` line per item
    expect(result.stdout.trimEnd().split("\n").every((line) => /^\S+: \d+$/.test(line))).toBe(true)
    expect(result.stderr).toContain(`running dataflow wordcount on sqlite ${path.join(dir, "state")} with 1 worker`)
    // 3,000 lines at 1,000 a epoch, and the epoch that sees the end of the input
    expect(committedEpochs(result.stderr)).toEqual([1, 2, 3, 4])
    expect(result.stderr).toMatch(/dataflow wordcount finished: 3,000 items in epochs 1-4/)
    expect(fs.existsSync(path.join(dir, "state", "worker-0.sqlite3"))).toBe(true)
  })

  it("resumes after kill -9 from the last committed epoch, and the counts come out exact", async () => {
    const dir = workspace()
    const expected = writeInput(path.join(dir, "input.txt"), 200_000)
    const args = ["run", wordcount, "--store", "sqlite:state", "--epoch", "2000"]
    const env = { SLUICE_TEST_INPUT: "input.txt" }
    const first = start(dir, args, env)
    await waitFor(() => committedEpochs(first.seen.stderr).length >= 3, "three committed epochs")
    first.child.kill("SIGKILL")
    const killed = await first.finished
    expect(killed.signal).toBe("SIGKILL")
    const lastCommitted = Math.max(...committedEpochs(killed.stderr))

    const rerun = await sluice(dir, args, env)
    expect(rerun.code, rerun.stderr).toBe(0)
    const resumedAt = Number(/resuming dataflow wordcount at epoch (\d+)/.exec(rerun.stderr)?.[1])
    // the kill may land after a commit whose line was not read yet, never before a line that was
    expect(resumedAt).toBeGreaterThan(lastCommitted)
    expect(rerun.stderr).toContain(`(resumed at epoch ${resumedAt})`)
    expect(lastCounts(killed.stdout, rerun.stdout)).toEqual(expected)
  }, 300_000)

  it("stops on SIGINT after committing, says after which epoch, and exits 130", async () => {
    const dir = workspace()
    writeInput(path.join(dir, "input.txt"), 400_000)
    const running = start(dir, ["run", wordcount, "--store", "sqlite:state", "--epoch", "1000"], {
      SLUICE_TEST_INPUT: "input.txt"
    })
    await waitFor(() => committedEpochs(running.seen.stderr).length >= 2, "two committed epochs")
    running.child.kill("SIGINT")
    const result = await running.finished
    expect(result.code).toBe(130)
    const interrupted = /interrupted after epoch (\d+); run again to resume/.exec(result.stderr)
    expect(interrupted, result.stderr).not.toBeNull()
    // the epoch it names is the last one the store holds
    const inspected = await sluice(dir, ["store", "inspect", "sqlite:state", "--json"])
    expect(JSON.parse(inspected.stdout).progress).toEqual([{ workerIndex: 0, epoch: Number(interrupted![1]) }])
  }, 300_000)

  it("runs on two worker threads, and the store says so", async () => {
    const dir = workspace()
    const expected = writeInput(path.join(dir, "input.txt"), 5_000)
    const result = await sluice(
      dir,
      ["run", `${wordcount}:default`, "--workers", "2", "--store", "sqlite:state", "--epoch", "1000"],
      { SLUICE_TEST_INPUT: path.join(dir, "input.txt") }
    )
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).toContain("with 2 workers")
    expect(lastCounts(result.stdout)).toEqual(expected)
    const inspected = JSON.parse((await sluice(dir, ["store", "inspect", "sqlite:state", "--json"])).stdout)
    expect(inspected.workerCount).toBe(2)
    expect(inspected.progress.map((p: { workerIndex: number }) => p.workerIndex)).toEqual([0, 1])
  }, 240_000)

  it("takes every flag from its environment variable when the flag is absent", async () => {
    const dir = workspace()
    const expected = writeInput(path.join(dir, "input.txt"), 1_500)
    const result = await sluice(dir, ["run", wordcount], {
      SLUICE_TEST_INPUT: path.join(dir, "input.txt"),
      SLUICE_STORE: "sqlite:from-env",
      SLUICE_EPOCH: "500",
      SLUICE_WORKERS: "2",
      SLUICE_RESCALE: "false",
      SLUICE_RESTORE: "lazy"
    })
    expect(result.code, result.stderr).toBe(0)
    expect(lastCounts(result.stdout)).toEqual(expected)
    expect(result.stderr).toContain(`on sqlite ${path.join(dir, "from-env")} with 2 workers`)
    const inspected = JSON.parse((await sluice(dir, ["store", "inspect", "sqlite:from-env", "--json"])).stdout)
    expect(inspected.workerCount).toBe(2)
    // 1,500 lines in epochs of 500 items (input partition on worker 0), then the end of input
    expect(inspected.resumeEpoch).toBe(5)

    // a flag wins over its variable; SLUICE_RESCALE=true moves the store to one worker
    const rescaled = await sluice(dir, ["run", wordcount, "--workers", "1"], {
      SLUICE_TEST_INPUT: path.join(dir, "input.txt"),
      SLUICE_STORE: "sqlite:from-env",
      SLUICE_WORKERS: "2",
      SLUICE_RESCALE: "true"
    })
    expect(rescaled.code, rescaled.stderr).toBe(0)
    expect(rescaled.stderr).toContain("rescaling dataflow wordcount from 2 to 1 workers")
    const after = JSON.parse((await sluice(dir, ["store", "inspect", "sqlite:from-env", "--json"])).stdout)
    expect(after.workerCount).toBe(1)
  }, 240_000)

  it("runs a .js module, resolved against the current directory, taking its only exported Dataflow", async () => {
    const dir = workspace()
    fs.copyFileSync(path.join(fixtures, "other.js"), path.join(dir, "other.js"))
    // the module imports @sluice/core: let it resolve from the package, as an installed app would
    fs.symlinkSync(path.join(fixtures, "..", "..", "node_modules"), path.join(dir, "node_modules"))
    const result = await sluice(dir, ["run", "./other.js", "--epoch", "2"])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout.trim().split("\n")).toEqual(["1", "2", "3"])
    expect(result.stderr).toContain("running dataflow other on memory with 1 worker")
  })
})

describe("sluice store", () => {
  const committedStore = async () => {
    const dir = workspace()
    const expected = writeInput(path.join(dir, "input.txt"), 2_500)
    const result = await sluice(dir, ["run", wordcount, "--store", "sqlite:state", "--epoch", "1000"], {
      SLUICE_TEST_INPUT: "input.txt"
    })
    expect(result.code, result.stderr).toBe(0)
    return { dir, expected, lastEpoch: Math.max(...committedEpochs(result.stderr)) }
  }

  it("inspect reports what the run committed, as text and as JSON", async () => {
    const { dir, expected, lastEpoch } = await committedStore()
    const json = await sluice(dir, ["store", "inspect", "sqlite:state", "--json"])
    expect(json.code, json.stderr).toBe(0)
    const report = JSON.parse(json.stdout)
    expect(report).toMatchObject({
      store: `sqlite ${path.join(dir, "state")}`,
      empty: false,
      dataflowId: "wordcount",
      schemaVersion: 1,
      workerCount: 1,
      progress: [{ workerIndex: 0, epoch: lastEpoch }],
      resumeEpoch: lastEpoch + 1,
      outputs: []
    })
    const count = report.steps.find((step: { stepId: string }) => step.stepId === "count")
    expect(count.keys).toBe(expected.size)
    // each snapshot is the JSON text of the word's count
    const bytes = [...expected.values()].reduce((sum, n) => sum + String(n).length, 0)
    expect(count.bytes).toBe(bytes)
    expect(report.steps.map((step: { stepId: string }) => step.stepId)).toEqual(["count", "lines"])

    const text = await sluice(dir, ["store", "inspect", "sqlite:state"])
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toContain("dataflow       wordcount")
    expect(text.stdout).toContain(`worker 0     last completed epoch ${lastEpoch}`)
    expect(text.stdout).toContain(`resume epoch   ${lastEpoch + 1}`)
    expect(text.stdout).toMatch(
      new RegExp(`count\\s+${expected.size.toLocaleString("en")} keys\\s+${bytes.toLocaleString("en")} bytes`)
    )
  }, 240_000)

  it("inspect reads a store while a run holds it, without changing it", async () => {
    const { dir } = await committedStore()
    const files = () =>
      Object.fromEntries(
        fs.readdirSync(path.join(dir, "state")).filter((name) => !/-(wal|shm)$/.test(name)).map((
          name
        ) => [name, fs.readFileSync(path.join(dir, "state", name)).toString("base64")])
      )
    const before = files()
    expect((await sluice(dir, ["store", "inspect", "sqlite:state"])).code).toBe(0)
    expect(files()).toEqual(before)

    writeInput(path.join(dir, "more.txt"), 400_000)
    const running = start(dir, ["run", wordcount, "--store", "sqlite:state", "--epoch", "1000"], {
      SLUICE_TEST_INPUT: "more.txt"
    })
    try {
      await waitFor(() => committedEpochs(running.seen.stderr).length >= 2, "two committed epochs")
      const during = await sluice(dir, ["store", "inspect", "sqlite:state", "--json"])
      expect(during.code, during.stderr).toBe(0)
      expect(JSON.parse(during.stdout).progress[0].epoch).toBeGreaterThanOrEqual(
        Math.min(...committedEpochs(running.seen.stderr))
      )
    } finally {
      running.child.kill("SIGKILL")
      await running.finished
    }
  }, 240_000)

  it("inspect of an empty directory says the store is empty", async () => {
    const dir = workspace()
    fs.mkdirSync(path.join(dir, "state"))
    const result = await sluice(dir, ["store", "inspect", "sqlite:state", "--json"])
    expect(result.code, result.stderr).toBe(0)
    expect(JSON.parse(result.stdout)).toEqual({ store: `sqlite ${path.join(dir, "state")}`, empty: true })
  })

  it("dump prints a step's snapshots as JSON lines, raw or decoded with the module's schema", async () => {
    const { dir, expected } = await committedStore()
    const raw = await sluice(dir, ["store", "dump", "sqlite:state", "--step", "count"])
    expect(raw.code, raw.stderr).toBe(0)
    const rawLines = raw.stdout.trim().split("\n").map((line) => JSON.parse(line) as { key: string; value: number })
    expect(new Map(rawLines.map(({ key, value }) => [key, value]))).toEqual(expected)

    const [word, count] = [...expected][0]
    const decoded = await sluice(dir, [
      "store",
      "dump",
      "sqlite:state",
      "--step",
      "count",
      "--key",
      word,
      "--module",
      wordcount
    ])
    expect(decoded.code, decoded.stderr).toBe(0)
    expect(decoded.stdout).toBe(`${JSON.stringify({ key: word, state: count })}\n`)

    // the input's position is a snapshot too, keyed by its partition: the file it reads
    const position = await sluice(dir, ["store", "dump", "sqlite:state", "--step", "lines"])
    expect(position.code, position.stderr).toBe(0)
    expect(JSON.parse(position.stdout).key).toBe(path.join(dir, "input.txt"))
  }, 240_000)

  it("dump of a step the store does not hold names the steps it does", async () => {
    const { dir } = await committedStore()
    const result = await sluice(dir, ["store", "dump", "sqlite:state", "--step", "cuont"])
    expectOneLineError(result, "step cuont", "count, lines")
  }, 240_000)
})

describe("sluice graph", () => {
  const branching = `${path.join(fixtures, "branching.ts")}:branching`

  it("draws Mermaid with every step, stateful steps as cylinders, branch edges labelled", async () => {
    const result = await sluice(fixtures, ["graph", branching, "--format", "mermaid"])
    expect(result.code, result.stderr).toBe(0)
    const lines = result.stdout.trim().split("\n")
    expect(lines[0]).toBe("flowchart LR")
    for (const id of ["numbers", "even", "negate", "both", "parity", "sum", "out"]) {
      expect(result.stdout).toContain(`"${id}<br/>`)
    }
    expect(lines).toContain(`  s5[("sum<br/>fold")]:::stateful`)
    expect(lines).toContain(`  s2["negate<br/>transform"]`)
    expect(lines).toContain("  s1 -- true --> s3")
    expect(lines).toContain("  s1 -- false --> s2")
  })

  it("draws DOT", async () => {
    const result = await sluice(fixtures, ["graph", branching, "-f", "dot"])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/^digraph "branching" \{/)
    expect(result.stdout).toContain(`"sum" [label="sum\\nfold", shape=cylinder`)
    expect(result.stdout).toContain(`"even" -> "negate" [label="false"];`)
    expect(result.stdout).toContain(`"parity" -> "sum";`)
  })

  it("prints Dataflow.describe as JSON", async () => {
    const result = await sluice(fixtures, ["graph", "./wordcount.ts", "--format", "json"])
    expect(result.code, result.stderr).toBe(0)
    expect(JSON.parse(result.stdout)).toEqual({
      id: "wordcount",
      steps: [
        { id: "lines", kind: "input", stateful: true },
        { id: "split", kind: "transform", stateful: false },
        { id: "key", kind: "transform", stateful: false },
        { id: "count", kind: "statefulMap", stateful: true },
        { id: "out", kind: "output", stateful: false }
      ],
      edges: [
        { from: "lines", to: "split" },
        { from: "split", to: "key" },
        { from: "key", to: "count" },
        { from: "count", to: "out" }
      ]
    })
  })
})

describe("sluice on bad input", () => {
  it("a module that does not exist", async () => {
    const dir = workspace()
    expectOneLineError(await sluice(dir, ["run", "./nowhere.js"]), path.join(dir, "nowhere.js"), "no such file")
    expectOneLineError(await sluice(dir, ["graph", "./nowhere.js"]), "no such file")
  })

  it("an export that is not a dataflow", async () => {
    const notAFlow = path.join(fixtures, "notAFlow.js")
    expectOneLineError(await sluice(fixtures, ["graph", `${notAFlow}:wordcount`]), "wordcount", "not a Dataflow")
    expectOneLineError(await sluice(fixtures, ["run", notAFlow]), "default", "not a Dataflow")
    expectOneLineError(await sluice(fixtures, ["graph", `${notAFlow}:missing`]), "missing", "no such export")
  })

  it("a store string that does not parse names the accepted forms", async () => {
    const dir = workspace()
    for (const store of ["postgres://db", "sqlite:", "kafka:localhost/wc", "kafka:localhost:9092"]) {
      const result = await sluice(dir, ["run", wordcount, "--store", store])
      expectOneLineError(result, JSON.stringify(store), "sqlite:DIR, kafka:HOST:PORT")
      expect(result.code).toBe(2)
    }
    expectOneLineError(await sluice(dir, ["store", "inspect", "mem"]), "\"mem\" does not parse")
  })

  it("a store of another dataflow", async () => {
    const dir = workspace()
    writeInput(path.join(dir, "input.txt"), 10)
    const first = await sluice(dir, ["run", wordcount, "--store", "sqlite:state"], { SLUICE_TEST_INPUT: "input.txt" })
    expect(first.code, first.stderr).toBe(0)
    const result = await sluice(dir, ["run", `${path.join(fixtures, "other.js")}:other`, "--store", "sqlite:state"])
    expect(result.code).toBe(1)
    // the line that announces the run comes first; the error is the last line, alone
    const lines = result.stderr.trimEnd().split("\n")
    expect(lines.at(-1)).toBe(
      "recovery store was written with dataflowId wordcount, this run has other; point the run at this dataflow's " +
        "own store, or delete the store to start fresh"
    )
    expect(result.stderr).not.toMatch(/^\s+at /m)
    const dumped = await sluice(dir, [
      "store",
      "dump",
      "sqlite:state",
      "--step",
      "count",
      "--module",
      `${path.join(fixtures, "other.js")}:other`
    ])
    expectOneLineError(dumped, "dataflowId wordcount, this run has other")
  })

  it("a store directory that does not exist, and a memory store, cannot be inspected", async () => {
    const dir = workspace()
    expectOneLineError(await sluice(dir, ["store", "inspect", "sqlite:missing"]), "the directory does not exist")
    expect(fs.existsSync(path.join(dir, "missing"))).toBe(false)
    expectOneLineError(await sluice(dir, ["store", "inspect", "memory"]), "memory store lives only inside")
  })

  it("flags with values the command cannot use", async () => {
    const dir = workspace()
    expectOneLineError(await sluice(dir, ["run", wordcount, "--epoch", "soon"]), "--epoch \"soon\"")
    expectOneLineError(await sluice(dir, ["run", wordcount, "--workers", "0"]), "--workers \"0\"")
    const restore = await sluice(dir, ["run", wordcount, "--restore", "sometimes"])
    expect(restore.code).toBe(2)
    expect(restore.stderr).toContain("lazy")
    const missing = await sluice(dir, ["run"])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain("Missing argument <module>")
  })
})

describe("sluice --help and --version", () => {
  it("every command has help", async () => {
    const dir = workspace()
    for (
      const [args, mentions] of [
        [[], ["run", "store inspect", "store dump", "graph"]],
        [["run"], [
          "--workers",
          "SLUICE_WORKERS",
          "--store",
          "SLUICE_STORE",
          "--epoch",
          "SLUICE_EPOCH",
          "--rescale",
          "--restore",
          "SLUICE_RESTORE"
        ]],
        [["store"], ["inspect", "dump"]],
        [["store", "inspect"], ["--json"]],
        [["store", "dump"], ["--step", "--key", "--module"]],
        [["graph"], ["--format", "mermaid", "dot", "json"]]
      ] as const
    ) {
      const result = await sluice(dir, [...args, "--help"])
      expect(result.code, result.stderr).toBe(0)
      for (const mention of mentions) expect(result.stdout).toContain(mention)
    }
  }, 240_000)

  it("--version prints the package's version", async () => {
    const { version } = JSON.parse(fs.readFileSync(new URL("../package.json", import.meta.url), "utf8"))
    const result = await sluice(workspace(), ["--version"])
    expect(result.code).toBe(0)
    expect(result.stdout.trim()).toContain(version)
  })
})
