import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "core",
    include: ["test/**/*.test.ts"],
    // vitest's 5 s default fails file-reading tests when the machine's 2 cores are shared with
    // other jobs (seen at load 10+); a timeout is not what these tests assert
    testTimeout: 30_000
  }
})
