/**
 * A bench child run as an installed app runs: the packages' `dist/` (the workspace's exports
 * map them under the `sluice-dist` condition) and the bench's module compiled by
 * `bench/tsconfig.flow.json`, with plain `node`. A time from process start then holds node and
 * the library's imports, not a TypeScript loader compiling at start; where the build fails the
 * child runs from its sources under tsx, and the caller labels it so.
 */
import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const benchDirectory = path.dirname(fileURLToPath(import.meta.url))
const repository = path.dirname(benchDirectory)

let built: { readonly ok: true } | { readonly error: string } | undefined

/** Builds the packages and the bench's compiled modules, once per bench process. */
export const build = (): { readonly ok: true } | { readonly error: string } => {
  if (built !== undefined) return built
  const failed = [["-b", "tsconfig.build.json"], ["-p", "bench/tsconfig.flow.json"]]
    .map((args) => spawnSync("pnpm", ["exec", "tsc", ...args], { cwd: repository, encoding: "utf8" }))
    .find((result) => result.status !== 0)
  built = failed === undefined
    ? { ok: true }
    : { error: `tsc failed: ${`${failed.stdout}${failed.stderr}`.trim().split("\n")[0]}` }
  return built
}

/**
 * The arguments of `node` that run `module` (a file of bench/, without extension) with `argument`:
 * compiled when the build succeeded, else its TypeScript source under tsx.
 */
export const nodeArguments = (module: string, argument: string): ReadonlyArray<string> =>
  "ok" in build()
    ? ["-C", "sluice-dist", path.join(benchDirectory, "dist", `${module}.js`), argument]
    : ["--import", "tsx", path.join(benchDirectory, `${module}.ts`), argument]
