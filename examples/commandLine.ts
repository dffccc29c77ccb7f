/**
 * What the examples take from their command line. pnpm runs a script in the
 * directory of its package.json, not where the user stands, so a relative FILE
 * is resolved against INIT_CWD, the directory `pnpm example FILE` was run in.
 */
import * as path from "node:path"

/** The input file named on the command line, absolute, or `fallback()` when none is named. */
export const inputFile = (fallback: () => string): string => {
  const named = process.argv[2]
  return named === undefined ? fallback() : path.resolve(process.env.INIT_CWD ?? process.cwd(), named)
}
