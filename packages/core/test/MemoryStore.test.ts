import { memoryFixture } from "./fixtures/StoreFixture.js"
import { recoverySuite } from "./rules/index.js"

recoverySuite(memoryFixture)
