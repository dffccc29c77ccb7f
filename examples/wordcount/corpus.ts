/**
 * A deterministic text to count when no file is given: Zipf-distributed words
 * from a fixed vocabulary, so every run of the example sees the same input.
 */
import * as fs from "node:fs"

export const ensureCorpus = (path: string, lines = 2_000_000): string => {
  if (fs.existsSync(path)) return path
  const syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "do", "fi"]
  const vocabulary = Array.from({ length: 5_000 }, (_, i) => {
    let word = ""
    for (let n = i + 1; n > 0; n = Math.floor(n / syllables.length)) word += syllables[n % syllables.length]
    return word
  })
  let seed = 42
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648
  const fd = fs.openSync(`${path}.tmp`, "w")
  for (let written = 0; written < lines; written += 100_000) {
    const block: Array<string> = []
    for (let i = written; i < Math.min(lines, written + 100_000); i++) {
      const words: Array<string> = []
      for (let j = 0; j < 8; j++) words.push(vocabulary[Math.floor(vocabulary.length * random() ** 3)])
      block.push(words.join(" "))
    }
    fs.writeSync(fd, block.join("\n") + "\n")
  }
  fs.closeSync(fd)
  fs.renameSync(`${path}.tmp`, path)
  return path
}
