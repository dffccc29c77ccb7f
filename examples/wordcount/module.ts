/**
 * The word count as a module for the `sluice` command (docs/operations.md):
 *
 *   pnpm sluice run examples/wordcount/module.ts --store sqlite:examples/state/module
 *   pnpm sluice graph examples/wordcount/module.ts
 *
 * It counts the file named by WORDCOUNT_INPUT, or examples/wordcount/input.txt,
 * and prints `word: count` lines when the input ends.
 */
import { Output } from "@sluice/core"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { wordcount } from "./flow.js"

const here = path.dirname(fileURLToPath(import.meta.url))

export default wordcount(
  process.env.WORDCOUNT_INPUT ?? path.join(here, "input.txt"),
  Output.console(([word, count]) => `${word}: ${count}`)
)
