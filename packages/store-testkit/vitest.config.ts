import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "store-testkit",
    include: ["test/**/*.test.ts"],
    // the properties run 150 cases each; on a loaded 2-core machine that is well past vitest's 5 s
    testTimeout: 120_000
  }
})
