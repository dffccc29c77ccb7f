import { memoryFixture } from "@sluice/store-testkit"
import { recoverySuite } from "@sluice/store-testkit"

recoverySuite(memoryFixture)
