/**
 * `pnpm mutate`: applies each recovery mutation of `mutations.ts` to its file,
 * one at a time, runs the vitest suites the mutation names, restores the file,
 * and prints which tests caught it. Exits non-zero when a mutation survives or
 * its anchor text is not found exactly once.
 *
 *   pnpm mutate [--only id,id] [--timeout-minutes 8] [--report docs/recovery.md] [--no-baseline]
 *
 * First every suite named runs once without a mutation: a suite that fails
 * already would "catch" every mutation, so the run stops there
 * (`--no-baseline` skips this when the suites are known to pass).
 *
 * The original text of a mutated file is journaled before the file is
 * touched, and put back after the run, on SIGINT/SIGTERM, and at the start of
 * the next run if this process was killed outright: no mutation stays behind.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { type Mutation, mutations, type Suite } from "./mutations.js"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")
const journal = path.join(root, ".cache/mutate/journal.json")

interface Journal {
  readonly file: string
  readonly original: string
}

const restore = (): void => {
  if (!fs.existsSync(journal)) return
  const { file, original } = JSON.parse(fs.readFileSync(journal, "utf8")) as Journal
  fs.writeFileSync(file, original)
  fs.rmSync(journal)
}

const option = (name: string): string | undefined => {
  const at = process.argv.indexOf(`--${name}`)
  return at === -1 ? undefined : process.argv[at + 1]
}

type Outcome =
  | { readonly _tag: "Caught"; readonly by: ReadonlyArray<string> }
  | { readonly _tag: "Survived" }
  | { readonly _tag: "AnchorNotFound"; readonly occurrences: number }
  | { readonly _tag: "TimedOut"; readonly by: ReadonlyArray<string> }

interface SuiteRun {
  readonly failed: ReadonlyArray<string>
  readonly loadErrors: number
  readonly timedOut: boolean
  readonly exitCode: number | null
}

let running: ReturnType<typeof spawn> | undefined

/** Runs one suite and lists its failed tests as `project > file > test`. */
const runSuite = (suite: Suite, timeoutMs: number): Promise<SuiteRun> =>
  new Promise((resolve) => {
    const output = path.join(os.tmpdir(), `sluice-mutate-${process.pid}-${Date.now()}.json`)
    const args = [
      "vitest",
      "run",
      "--project",
      suite.project,
      ...(suite.files ?? []),
      "--reporter=json",
      `--outputFile=${output}`
    ]
    // its own process group, so a timeout or Ctrl-C ends vitest's workers too
    const child = spawn("pnpm", args, { cwd: root, detached: true, stdio: ["ignore", "ignore", "pipe"] })
    running = child
    let stderr = ""
    child.stderr!.on("data", (chunk) => (stderr = (stderr + String(chunk)).slice(-4000)))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      process.kill(-child.pid!, "SIGKILL")
    }, timeoutMs)
    child.on("exit", (exitCode) => {
      clearTimeout(timer)
      running = undefined
      const failed: Array<string> = []
      let loadErrors = 0
      if (fs.existsSync(output)) {
        const report = JSON.parse(fs.readFileSync(output, "utf8")) as {
          testResults: ReadonlyArray<{
            name: string
            status: string
            assertionResults: ReadonlyArray<{ status: string; fullName: string }>
          }>
        }
        fs.rmSync(output)
        for (const file of report.testResults) {
          const relative = path.relative(path.join(root, "packages", suite.project), file.name)
          const failures = file.assertionResults.filter((t) => t.status === "failed")
          for (const t of failures) failed.push(`${suite.project} > ${relative} > ${t.fullName}`)
          if (file.status === "failed" && failures.length === 0) loadErrors++
        }
      } else if (!timedOut && exitCode !== 0) {
        console.error(stderr)
      }
      resolve({ failed, loadErrors, timedOut, exitCode })
    })
  })

const apply = async (mutation: Mutation, timeoutMs: number): Promise<Outcome> => {
  const file = path.join(root, mutation.file)
  const original = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : ""
  const occurrences = original.split(mutation.find).length - 1
  if (occurrences !== 1) return { _tag: "AnchorNotFound", occurrences }
  fs.mkdirSync(path.dirname(journal), { recursive: true })
  fs.writeFileSync(journal, JSON.stringify({ file, original } satisfies Journal))
  try {
    fs.writeFileSync(file, original.replace(mutation.find, () => mutation.replace))
    const by: Array<string> = []
    let timedOut = false
    for (const suite of mutation.suites) {
      const run = await runSuite(suite, timeoutMs)
      by.push(...run.failed)
      if (run.loadErrors > 0) by.push(`${suite.project}: ${run.loadErrors} file(s) failed to load`)
      if (run.exitCode !== 0 && run.failed.length === 0 && run.loadErrors === 0 && !run.timedOut) {
        by.push(`${suite.project}: vitest exited with ${run.exitCode}`)
      }
      timedOut ||= run.timedOut
    }
    if (timedOut) return { _tag: "TimedOut", by }
    return by.length > 0 ? { _tag: "Caught", by } : { _tag: "Survived" }
  } finally {
    restore()
  }
}

const describeOutcome = (outcome: Outcome): string => {
  switch (outcome._tag) {
    case "Caught":
      return `caught by ${outcome.by.length} test(s): ${outcome.by.join("; ")}`
    case "TimedOut":
      return `timed out${outcome.by.length > 0 ? ` after ${outcome.by.join("; ")}` : ""}`
    case "Survived":
      return "**survived**"
    case "AnchorNotFound":
      return `**anchor not found** (${outcome.occurrences} occurrences; update the entry in tools/mutate/mutations.ts)`
  }
}

const REPORT_BEGIN = "<!-- mutate:begin -->"
const REPORT_END = "<!-- mutate:end -->"

const writeReport = (file: string, table: string): void => {
  const text = fs.readFileSync(file, "utf8")
  const begin = text.indexOf(REPORT_BEGIN)
  const end = text.indexOf(REPORT_END)
  if (begin === -1 || end === -1) throw new Error(`${file} has no ${REPORT_BEGIN} … ${REPORT_END} section`)
  fs.writeFileSync(file, text.slice(0, begin + REPORT_BEGIN.length) + "\n" + table + text.slice(end))
}

const suiteName = (suite: Suite) => [suite.project, ...(suite.files ?? [])].join(" ")

/** Runs each distinct suite of `selected` unmutated; lists the ones that fail. */
const baseline = async (selected: ReadonlyArray<Mutation>, timeoutMs: number): Promise<Array<string>> => {
  const suites = new Map(selected.flatMap((m) => m.suites).map((suite) => [suiteName(suite), suite]))
  const failing: Array<string> = []
  for (const [name, suite] of suites) {
    console.log(`baseline: ${name} …`)
    const run = await runSuite(suite, timeoutMs)
    if (run.exitCode !== 0 || run.timedOut) failing.push(`${name}: ${run.failed.join("; ") || "exit " + run.exitCode}`)
  }
  return failing
}

const main = async (): Promise<number> => {
  restore()
  const only = option("only")?.split(",")
  const timeoutMs = Number(option("timeout-minutes") ?? "8") * 60_000
  const selected = only === undefined ? mutations : mutations.filter((m) => only.includes(m.id))
  if (only !== undefined && selected.length !== only.length) {
    throw new Error(`no mutation named ${only.filter((id) => !mutations.some((m) => m.id === id)).join(", ")}`)
  }
  const baselineStarted = Date.now()
  if (!process.argv.includes("--no-baseline")) {
    const failing = await baseline(selected, timeoutMs)
    if (failing.length > 0) {
      console.error(`suites fail without any mutation, so they cannot tell what catches one:\n${failing.join("\n")}`)
      return 2
    }
  }
  const baselineMinutes = ((Date.now() - baselineStarted) / 60_000).toFixed(1)
  const rows: Array<string> = []
  let failures = 0
  const started = Date.now()
  for (const mutation of selected) {
    const began = Date.now()
    console.log(`mutation ${mutation.id} (${mutation.file}) …`)
    const outcome = await apply(mutation, timeoutMs)
    const seconds = Math.round((Date.now() - began) / 1000)
    console.log(`  ${describeOutcome(outcome)} [${seconds} s]`)
    if (outcome._tag === "Survived" || outcome._tag === "AnchorNotFound") failures++
    rows.push(
      `| \`${mutation.id}\` | \`${path.relative("packages", mutation.file)}\` | ${
        describeOutcome(outcome).replaceAll("|", "\\|")
      } |`
    )
  }
  const minutes = ((Date.now() - started) / 60_000).toFixed(1)
  const table = [
    `${selected.length} mutations, ${selected.length - failures} caught, in ${minutes} min ` +
    `(after ${baselineMinutes} min of baseline runs):`,
    "",
    "| mutation | file | result |",
    "| --- | --- | --- |",
    ...rows,
    ""
  ].join("\n")
  console.log("\n" + table)
  const report = option("report")
  if (report !== undefined) writeReport(path.resolve(root, report), table)
  return failures === 0 ? 0 : 1
}

const interrupted = (signal: NodeJS.Signals) => {
  if (running?.pid !== undefined) {
    try {
      process.kill(-running.pid, "SIGKILL")
    } catch {
      // already gone
    }
  }
  restore()
  console.error(`\n${signal}: the mutated file is restored`)
  process.exit(130)
}
process.on("SIGINT", interrupted)
process.on("SIGTERM", interrupted)

main().then((code) => process.exit(code), (error) => {
  restore()
  console.error(error)
  process.exit(2)
})
