/**
 * Profiles one benchmark configuration with `node --cpu-prof` and prints where
 * the time goes: self time by function, and by package or module.
 *
 *   pnpm exec tsx bench/profile.ts wordcount sluice sqlite 100000
 *   pnpm exec tsx bench/profile.ts stateless sluice memory 100000 [size]
 *   pnpm exec tsx bench/profile.ts resume resume sqlite 100000 [size]
 *   pnpm exec tsx bench/profile.ts --summarize file.cpuprofile
 *
 * The `.cpuprofile` stays in `.cache/bench-profiles/` for Chrome DevTools or
 * speedscope. The child runs the workload once for warm-up and once timed.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as nodeModule from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { CellKind, CellSpec, WorkloadName } from "./protocol.js"

interface ProfileNode {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
    readonly columnNumber: number
  }
  readonly children?: ReadonlyArray<number>
}

interface CpuProfile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const benchDirectory = path.dirname(fileURLToPath(import.meta.url))
const repository = path.dirname(benchDirectory)

const where = (url: string): string => {
  if (url === "") return "(native)"
  const file = url.replace(/^file:\/\//, "")
  const pnpm = /node_modules\/\.pnpm\/[^/]+\/node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(file)
  if (pnpm !== null) return `${pnpm[1]}/${pnpm[2]}`
  if (file.startsWith("node:")) return file
  return path.relative(repository, file)
}

type SourceMaps = Record<string, nodeModule.SourceMapPayload>

const sources = new Map<string, Array<string>>()

/** The text of a source line: from the map's own copy of the source, or else the file as it is now. */
const sourceLine = (payload: nodeModule.SourceMapPayload, url: string, line: number): string => {
  let lines = sources.get(url)
  if (lines === undefined) {
    const content = payload.sourcesContent?.[0] ??
      (fs.existsSync(fileURLToPath(url)) ? fs.readFileSync(fileURLToPath(url), "utf8") : "")
    lines = content.split("\n")
    sources.set(url, lines)
  }
  return (lines[line] ?? "").trim().slice(0, 70)
}

/** Names a frame by its source line, through the dumped source maps when it is TypeScript. */
const labeller = (maps: SourceMaps) => {
  const cache = new Map<string, nodeModule.SourceMap>()
  return (frame: ProfileNode["callFrame"]): { label: string; module: string } => {
    const name = frame.functionName || "(anonymous)"
    const payload = maps[frame.url]
    if (payload !== undefined) {
      let map = cache.get(frame.url)
      if (map === undefined) {
        map = new nodeModule.SourceMap(payload)
        cache.set(frame.url, map)
      }
      // The loader's output starts with a line of its own; V8 may count from either.
      let entry = map.findEntry(frame.lineNumber, frame.columnNumber) as Partial<nodeModule.SourceMapping>
      if (entry.originalLine === undefined) {
        entry = map.findEntry(frame.lineNumber + 1, frame.columnNumber) as Partial<nodeModule.SourceMapping>
      }
      if (entry.originalLine !== undefined) {
        const module = where(frame.url)
        const text = sourceLine(payload, frame.url, entry.originalLine)
        return { label: `${name}  ${module}:${entry.originalLine + 1}  ${text}`, module }
      }
    }
    const module = where(frame.url)
    return { label: `${name}  ${module}:${frame.lineNumber + 1}`, module }
  }
}

/** Self time by function and by module, and total (inclusive) time by function, in milliseconds. */
export const summarize = (profile: CpuProfile, maps: SourceMaps = {}, top = 40): string => {
  const label = labeller(maps)
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const labels = new Map(profile.nodes.map((node) => [node.id, label(node.callFrame)]))
  const byFunction = new Map<string, number>()
  const byModule = new Map<string, number>()
  const inclusive = new Map<string, number>()
  let total = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const ms = profile.timeDeltas[i] / 1000
    const id = profile.samples[i]
    const { label: name, module } = labels.get(id)!
    total += ms
    byFunction.set(name, (byFunction.get(name) ?? 0) + ms)
    const group = module.startsWith("effect/") ? "effect" : module.split(":")[0]
    byModule.set(group, (byModule.get(group) ?? 0) + ms)
    const seen = new Set<string>()
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frameLabel = labels.get(at)!.label
      if (byId.get(at)!.callFrame.functionName === "(root)" || seen.has(frameLabel)) continue
      seen.add(frameLabel)
      inclusive.set(frameLabel, (inclusive.get(frameLabel) ?? 0) + ms)
    }
  }
  const lines = (map: Map<string, number>, n: number, filter: (name: string) => boolean = () => true) =>
    [...map].filter(([name]) => filter(name)).sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, ms]) =>
      `${ms.toFixed(0).padStart(7)} ms ${(ms / total * 100).toFixed(1).padStart(5)}%  ${name}`
    )
  return [
    `total ${total.toFixed(0)} ms sampled`,
    "",
    "self time by function:",
    ...lines(byFunction, top),
    "",
    "self time by module:",
    ...lines(byModule, 25),
    "",
    "total time by function (packages/ and bench/ only):",
    ...lines(inclusive, top, (name) => /\s(packages|bench)\//.test(name))
  ].join("\n")
}

const main = () => {
  const args = process.argv.slice(2)
  if (args[0] === "--summarize") {
    const maps = path.join(path.dirname(args[1]), "source-maps.json")
    process.stdout.write(
      summarize(
        JSON.parse(fs.readFileSync(args[1], "utf8")) as CpuProfile,
        fs.existsSync(maps) ? JSON.parse(fs.readFileSync(maps, "utf8")) as SourceMaps : {},
        60
      ) + "\n"
    )
    return
  }
  const [workload, kind, store, epoch, size] = args as [WorkloadName, CellKind, "memory" | "sqlite", string, string?]
  const defaults: Record<WorkloadName, number> = {
    wordcount: 2_000_000,
    windowed: 1_000_000,
    resume: 1_000_000,
    "large-state": 20_000_000,
    stateless: 10_000_000,
    join: 2_000_000
  }
  const out = path.join(repository, ".cache", "bench-profiles")
  fs.mkdirSync(out, { recursive: true })
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-profile-"))
  const spec = (kind: CellKind, directory: string): CellSpec => ({
    workload,
    config: `${kind}-${store}-e${epoch}`,
    kind,
    store,
    epochItems: Number(epoch),
    size: size === undefined ? defaults[workload] : Number(size),
    warmup: 1,
    iterations: 1,
    directory
  })
  // One directory per profile: the loader's worker thread writes a profile of its own.
  const profiles = path.join(out, `${workload}-${kind}-${store}-e${epoch}-${Date.now()}`)
  fs.mkdirSync(profiles, { recursive: true })
  const child = (cell: CellSpec, profile: boolean) =>
    spawnSync(process.execPath, [
      ...(profile ? ["--cpu-prof", `--cpu-prof-dir=${profiles}`] : []),
      "--import",
      "tsx",
      path.join(benchDirectory, "child.ts"),
      JSON.stringify(cell)
    ], {
      cwd: repository,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
      env: profile ? { ...process.env, SLUICE_BENCH_SOURCE_MAPS: path.join(profiles, "source-maps.json") } : process.env
    })
  if (kind === "resume") {
    const built = path.join(scratch, "built")
    process.stderr.write(`${child(spec("resume-build", built), false).stdout}`)
  }
  const result = child(spec(kind, kind === "resume" ? path.join(scratch, "built") : path.join(scratch, "cell")), true)
  process.stderr.write(result.stdout)
  fs.rmSync(scratch, { recursive: true, force: true })
  // The main thread's profile is the one with the most samples.
  const file = fs.readdirSync(profiles).filter((f) => f.endsWith(".cpuprofile")).map((f) => path.join(profiles, f))
    .sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0]
  process.stdout.write(`${path.relative(process.cwd(), file)}\n\n`)
  const maps = JSON.parse(fs.readFileSync(path.join(profiles, "source-maps.json"), "utf8")) as SourceMaps
  process.stdout.write(summarize(JSON.parse(fs.readFileSync(file, "utf8")) as CpuProfile, maps) + "\n")
}

main()
