// Extracts every TypeScript example of the documentation so that `pnpm check` type-checks it with the code:
// the ```ts blocks of README.md and docs/*.md, and the @example blocks of every exported module
// (packages/*/src/*.ts). Each example becomes a module of its own under .cache/docs-examples/.
// A block whose info string says `ts signature` is a shape to read, not code to run, and is skipped.
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const repository = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")
const out = path.join(repository, ".cache", "docs-examples")
fs.rmSync(out, { recursive: true, force: true })
fs.mkdirSync(out, { recursive: true })

let count = 0
const write = (source, index, code) => {
  const name = `${source.replace(/[^A-Za-z0-9]+/g, "_")}_${index}.ts`
  fs.writeFileSync(path.join(out, name), `// from ${source}, example ${index + 1}\n${code}\n`)
  count++
}

const markdown = ["README.md", ...fs.readdirSync(path.join(repository, "docs")).map((f) => `docs/${f}`)]
  .filter((f) => f.endsWith(".md"))
for (const file of markdown) {
  const text = fs.readFileSync(path.join(repository, file), "utf8")
  let index = 0
  for (const match of text.matchAll(/^```ts\n([\s\S]*?)^```/gm)) write(file, index++, match[1])
}

for (const name of fs.readdirSync(path.join(repository, "packages"))) {
  const src = path.join(repository, "packages", name, "src")
  if (!fs.existsSync(src)) continue
  for (const file of fs.readdirSync(src).filter((f) => f.endsWith(".ts"))) {
    const text = fs.readFileSync(path.join(src, file), "utf8")
    let index = 0
    for (const match of text.matchAll(/@example\s*\n\s*\* ```ts\n([\s\S]*?)\n\s*\* ```/g)) {
      write(
        `packages/${name}/src/${file}`,
        index++,
        match[1].split("\n").map((l) => l.replace(/^\s*\* ?/, "")).join("\n")
      )
    }
  }
}
console.log(`docs-check: ${count} examples extracted to ${path.relative(repository, out)}`)
