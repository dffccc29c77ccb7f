import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "recovery-kafka",
    include: ["test/**/*.test.ts"],
    // starts a Kafka broker unless one is listening (tools/kafka/README.md)
    globalSetup: ["../../tools/kafka/vitest-setup.mjs"],
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
