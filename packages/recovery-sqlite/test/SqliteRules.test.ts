import { recoverySuite } from "@sluice/store-testkit"
import { sqliteFixture } from "./fixtures/SqliteFixture.js"

recoverySuite(sqliteFixture)
