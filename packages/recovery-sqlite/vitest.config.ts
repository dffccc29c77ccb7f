import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "recovery-sqlite",
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000
  }
})
