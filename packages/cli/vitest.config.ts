import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "cli",
    include: ["test/**/*.test.ts"],
    testTimeout: 180_000,
    // starts a Kafka broker unless one is listening (tools/kafka/README.md), for test/Kafka.test.ts
    globalSetup: ["../../tools/kafka/vitest-setup.mjs"],
    hookTimeout: 120_000
  }
})
