/**
 * Crash testing with real processes: a child runs the crash flow on a SQLite
 * store, the parent SIGKILLs it at a random moment (or arms it to kill itself
 * between two statements of an epoch commit), restarts it, and repeats until
 * the input is done. Then:
 *
 * - R4: the state a resume reads from the store equals the clean run's.
 * - R5: every run's output of an epoch is a prefix of the clean run's output
 *   of that epoch, complete when the epoch committed; every epoch's output
 *   appears; and a run only produces epochs at or after its resume epoch, so
 *   duplicates come only from epochs that had not completed.
 * - R1: after a kill inside a commit, the next run resumes at that very epoch.
 *
 * Runs outside vitest too (the soak script), so it asserts with node:assert.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Dataflow, Epoch, Output, RecoveryStore } from "@sluice/core"
// the test kit's modules one by one: its index brings vitest, and the soak script runs outside vitest
import { readState } from "@sluice/store-testkit/StoreFixture"
import { expectedCounts } from "@sluice/store-testkit/TestFlows"
import * as TestSeed from "@sluice/store-testkit/TestSeed"
import Database from "better-sqlite3"
import { Effect, Schema } from "effect"
import * as esbuild from "esbuild"
import assert from "node:assert/strict"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { SqliteRecovery } from "../../src/index.js"
import { crashFlow, crashLines, type CrashSource, DATAFLOW_ID } from "./flow.js"

export interface CrashTestOptions {
  /** Input lines (one to four words each). */
  readonly lines: number
  readonly epochItems: number
  /** Seeds the input. */
  readonly inputSeed: number
  /** Seeds the kill delays and the in-commit kills; printed on failure to replay a run. */
  readonly randomSeed: number
  /** Kills wait a random 0..maxDelayMs after the child is ready. */
  readonly maxDelayMs: number
  /** The runs armed with a kill; the run after them is left to finish. */
  readonly kills: number
  /** Of the armed runs, the share that kill themselves inside a commit instead. */
  readonly commitKillShare: number
  /**
   * Read the input from a file, and after every `replaceFileEvery`-th kill
   * replace that file by another one for one run, which must fail naming it
   * and read nothing; then put the original back.
   */
  readonly replaceFileEvery?: number
  readonly log?: (line: string) => void
}

export interface CrashTestReport {
  readonly runs: number
  /** Runs that died by SIGKILL, from the parent or from inside a commit. */
  readonly kills: number
  readonly commitKills: number
  /** Runs started on a replaced input file: each failed naming it, before any output. */
  readonly replacements: number
  readonly epochs: number
  readonly elapsedMs: number
}

interface Run {
  readonly resumeEpoch: number
  /** Output lines (`word<TAB>count`) per epoch, in order. */
  readonly emitted: Map<number, Array<string>>
}

const packageDirectory = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")

/**
 * The child, bundled once per process: a bundle starts in about 0.2 s
 * against 0.9 s through tsx, which is most of a kill cycle. It lives under
 * the package's node_modules so that it resolves better-sqlite3 from there;
 * each build lands by rename, so concurrent test processes never see half a file.
 */
let childScript: Promise<string> | undefined
const buildChild = () =>
  childScript ??= (async () => {
    const directory = path.join(packageDirectory, "node_modules", ".cache", "sluice-crash")
    const script = path.join(directory, "child.mjs")
    const outfile = path.join(directory, `child-${process.pid}.building.mjs`)
    await esbuild.build({
      entryPoints: [path.join(packageDirectory, "test", "crash", "child.ts")],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      outfile,
      external: ["better-sqlite3"],
      logLevel: "warning"
    })
    fs.renameSync(outfile, script)
    return script
  })()

const parseOutput = (text: string): Map<number, Array<string>> => {
  const byEpoch = new Map<number, Array<string>>()
  // a line cut by the kill has no newline yet
  const complete = text.slice(0, text.lastIndexOf("\n") + 1)
  for (const line of complete.split("\n")) {
    if (line === "") continue
    const tab = line.indexOf("\t")
    const epoch = Number(line.slice(0, tab))
    let items = byEpoch.get(epoch)
    if (items === undefined) byEpoch.set(epoch, items = [])
    items.push(line.slice(tab + 1))
  }
  return byEpoch
}

/** The resume epoch as the files say, read without the code under test. */
const resumeEpochOnDisk = (directory: string): number => {
  const file = path.join(directory, "worker-0.sqlite3")
  if (!fs.existsSync(file)) return 1
  const db = new Database(file, { readonly: true, fileMustExist: true })
  try {
    const hasProgress = db.prepare("SELECT 1 FROM sqlite_schema WHERE name = 'sluice_progress'").get()
    if (hasProgress === undefined) return 1
    const epoch = db.prepare("SELECT epoch FROM sluice_progress").pluck().get() as number | undefined
    return (epoch ?? 0) + 1
  } finally {
    db.close()
  }
}

/** The uninterrupted run, in process, on the memory store. */
const cleanRun = (source: CrashSource, epochItems: number) => {
  const emitted = new Map<number, Array<string>>()
  const output = Output.sink((items: Iterable<readonly [string, number]>, { epoch }) =>
    Effect.sync(() => {
      let list = emitted.get(epoch)
      if (list === undefined) emitted.set(epoch, list = [])
      for (const [word, count] of items) list.push(`${word}\t${count}`)
    })
  )
  return Effect.runPromise(
    Dataflow.run(crashFlow(source, output), { epoch: Epoch.everyItems(epochItems) }).pipe(
      Effect.provide(RecoveryStore.layerMemory()),
      Effect.provide(NodeContext.layer)
    )
  ).then((summary) => ({ emitted, lastEpoch: summary.lastEpoch }))
}

const runChild = (
  script: string,
  args: ReadonlyArray<string>,
  env: Record<string, string>,
  killAfterMs: number | undefined
) =>
  new Promise<
    { readonly signal: NodeJS.Signals | null; readonly code: number | null; readonly killedInCommit?: number }
  >(
    (resolve, reject) => {
      const child: ChildProcess = spawn(process.execPath, [script, ...args], {
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stdout = ""
      let stderr = ""
      let killedInCommit: number | undefined
      let timer: ReturnType<typeof setTimeout> | undefined
      child.stderr!.setEncoding("utf8").on("data", (text: string) => (stderr += text))
      child.stdout!.setEncoding("utf8").on("data", (text: string) => {
        stdout += text
        let newline: number
        while ((newline = stdout.indexOf("\n")) >= 0) {
          const line = stdout.slice(0, newline)
          stdout = stdout.slice(newline + 1)
          if (line === "ready" && killAfterMs !== undefined) {
            timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs)
          } else if (line.startsWith("killing ")) {
            killedInCommit = Number(line.split(" ")[1])
          }
        }
      })
      child.on("error", reject)
      child.on("exit", (code, signal) => {
        if (timer !== undefined) clearTimeout(timer)
        if (signal !== "SIGKILL" && code !== 0) {
          reject(new Error(`child failed (${code ?? signal}): ${stderr}`))
        } else {
          resolve({ code, signal, ...(killedInCommit === undefined ? {} : { killedInCommit }) })
        }
      })
    }
  )

/**
 * A run on another file under the input's name (the same lines but the first,
 * so a new inode and other bytes before the stored position) must fail
 * naming the file and write nothing, and leave the store as it was; the
 * original goes back after it, under its own inode.
 */
const runOnReplacedFile = async (
  script: string,
  args: ReadonlyArray<string>,
  inputFile: string,
  env: Record<string, string>
) => {
  const original = `${inputFile}.original`
  const directory = path.dirname(inputFile)
  const resumeBefore = resumeEpochOnDisk(directory)
  // before the first commit there is no stored position to check a file against
  if (resumeBefore === 1) return false
  fs.renameSync(inputFile, original)
  try {
    const text = fs.readFileSync(original, "utf8")
    fs.writeFileSync(inputFile, text.slice(text.indexOf("\n") + 1))
    const outputFile = path.join(directory, "out-replaced.tsv")
    const failure = await runChild(script, [args[0], outputFile, ...args.slice(2)], env, undefined).then(
      () => undefined,
      (error: Error) => error.message
    )
    assert.ok(failure !== undefined, `a run on a replaced ${inputFile} did not fail`)
    assert.match(failure, /InputFileChanged/)
    assert.ok(failure.includes(inputFile), `the failure does not name ${inputFile}: ${failure}`)
    assert.equal(fs.existsSync(outputFile) ? fs.readFileSync(outputFile, "utf8") : "", "", "it wrote output")
    assert.equal(resumeEpochOnDisk(directory), resumeBefore, "the failed run moved the store")
    fs.rmSync(outputFile, { force: true })
    return true
  } finally {
    fs.rmSync(inputFile, { force: true })
    fs.renameSync(original, inputFile)
  }
}

/** R5, as in the module comment. */
const checkOutput = (clean: Map<number, Array<string>>, runs: ReadonlyArray<Run>) => {
  const covered = new Set<number>()
  runs.forEach((run, i) => {
    const nextResume = runs[i + 1]?.resumeEpoch ?? Infinity
    for (const [epoch, items] of run.emitted) {
      assert.ok(epoch >= run.resumeEpoch, `run ${i} produced epoch ${epoch} before its resume epoch ${run.resumeEpoch}`)
      const expected = clean.get(epoch) ?? []
      assert.deepEqual(items, expected.slice(0, items.length), `run ${i} epoch ${epoch} differs from the clean run`)
      if (epoch < nextResume) {
        assert.equal(items.length, expected.length, `run ${i} completed epoch ${epoch} without all of its output`)
        covered.add(epoch)
      }
    }
  })
  for (const epoch of clean.keys()) assert.ok(covered.has(epoch), `the output of epoch ${epoch} was lost`)
}

export const runCrashTest = async (options: CrashTestOptions): Promise<CrashTestReport> => {
  const started = Date.now()
  const log = options.log ?? (() => {})
  const next = TestSeed.random(options.randomSeed)
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-crash-"))
  const describe = `input seed ${options.inputSeed}, random seed ${options.randomSeed}, ` +
    `${options.lines} lines, epochs of ${options.epochItems}, store ${directory}`
  try {
    const lines = crashLines(options.lines, options.inputSeed)
    const inputFile = path.join(directory, "input.txt")
    if (options.replaceFileEvery !== undefined) fs.writeFileSync(inputFile, lines.map((line) => `${line}\n`).join(""))
    const source: CrashSource = options.replaceFileEvery === undefined ? lines : { file: inputFile }
    const fileEnv: Record<string, string> = options.replaceFileEvery === undefined
      ? {}
      : { SLUICE_CRASH_INPUT_FILE: inputFile }
    const [script, clean] = await Promise.all([buildChild(), cleanRun(source, options.epochItems)])
    const runs: Array<Run> = []
    let kills = 0
    let commitKills = 0
    let replacements = 0
    let expectedResume: number | undefined
    for (let attempt = 0;; attempt++) {
      const resumeEpoch = resumeEpochOnDisk(directory)
      if (expectedResume !== undefined) {
        assert.equal(resumeEpoch, expectedResume, "a commit killed midway is visible after the restart")
        expectedResume = undefined
      }
      const armed = attempt < options.kills
      const inCommit = armed && next() < options.commitKillShare
      const env: Record<string, string> = inCommit
        ? { SLUICE_KILL_IN_COMMIT: `${1 + Math.floor(next() * 3)}:${Math.floor(next() * 4)}` }
        : {}
      const delay = armed ? Math.floor(next() * options.maxDelayMs) : undefined
      const outputFile = path.join(directory, `out-${attempt}.tsv`)
      const args = [directory, outputFile, String(options.lines), String(options.epochItems), String(options.inputSeed)]
      // an in-commit kill may not come (a commit with fewer statements); the timer backs it up
      const exit = await runChild(
        script,
        args,
        { ...fileEnv, ...env },
        delay === undefined ? undefined : delay + (inCommit ? 200 : 0)
      )
      const emitted = fs.existsSync(outputFile) ? parseOutput(fs.readFileSync(outputFile, "utf8")) : new Map()
      runs.push({ resumeEpoch, emitted })
      if (exit.killedInCommit !== undefined) {
        commitKills++
        expectedResume = exit.killedInCommit
      }
      if (exit.signal === "SIGKILL") {
        kills++
        log(
          `run ${attempt}: resumed at ${resumeEpoch}, killed ${
            exit.killedInCommit === undefined
              ? `after ${delay} ms`
              : `inside the commit of epoch ${exit.killedInCommit}`
          }`
        )
        if (options.replaceFileEvery !== undefined && kills % options.replaceFileEvery === 0) {
          if (await runOnReplacedFile(script, args, inputFile, fileEnv)) replacements++
        }
        continue
      }
      log(`run ${attempt}: resumed at ${resumeEpoch}, finished`)
      break
    }

    // R4: what a resume reads is the clean run's final state
    const state = await Effect.runPromise(
      readState(SqliteRecovery.layer({ directory }), DATAFLOW_ID, "count", Schema.Number)
    )
    const expected = expectedCounts(crashLines(options.lines, options.inputSeed))
    assert.deepEqual(state, expected, "the state after the crashes differs from a clean run's")
    // A kill after the last epoch committed, before the process ended (its closing fold, its exit), leaves the
    // input all read: the run after it resumes past the clean run's last epoch and commits one epoch that reads
    // nothing, as any run on a finished store does.
    const finalResume = runs[runs.length - 1].resumeEpoch
    assert.ok(finalResume <= clean.lastEpoch + 1, `the last run resumed at ${finalResume}, past the end of the input`)
    assert.equal(resumeEpochOnDisk(directory), Math.max(clean.lastEpoch, finalResume) + 1)
    checkOutput(clean.emitted, runs)
    fs.rmSync(directory, { recursive: true, force: true })
    return {
      runs: runs.length,
      kills,
      commitKills,
      replacements,
      epochs: clean.lastEpoch,
      elapsedMs: Date.now() - started
    }
  } catch (error) {
    // the store stays on disk for a look
    throw new Error(`crash test failed (${describe}): ${error instanceof Error ? error.message : String(error)}`, {
      cause: error
    })
  }
}
